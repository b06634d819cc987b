// Kafka protocol messages, generated from Apache Kafka's JSON schemas (see tools/kafka-codegen).
