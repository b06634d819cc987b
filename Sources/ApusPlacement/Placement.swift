// Partition placement; see Docs/placement.md.
