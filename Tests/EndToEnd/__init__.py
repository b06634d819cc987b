"""End-to-end compatibility tests: real Kafka clients, unchanged, against `apus broker`."""
