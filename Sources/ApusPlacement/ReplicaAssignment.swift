/// The replicas of every partition: for each topic, for each partition number, the ordered list
/// of broker ids holding a replica. The first broker of a list is the preferred leader, as in
/// Kafka's `replicas` field of `LeaderAndIsr` and `kafka-reassign-partitions` files.
public struct ReplicaAssignment: Sendable, Hashable {
    /// `topics[topic][partition]` is the replica list of that partition.
    public var topics: [String: [[Int32]]]

    /// An assignment from explicit replica lists.
    public init(topics: [String: [[Int32]]] = [:]) {
        self.topics = topics
    }

    /// The replica list of a partition, or nil when the assignment does not know it.
    public func replicas(topic: String, partition: Int32) -> [Int32]? {
        guard let partitions = topics[topic], partition >= 0, Int(partition) < partitions.count else { return nil }
        return partitions[Int(partition)]
    }

    /// The preferred leader of a partition: the first broker of its replica list.
    public func preferredLeader(topic: String, partition: Int32) -> Int32? {
        replicas(topic: topic, partition: partition)?.first
    }

    /// Number of partitions over all topics.
    public var partitionCount: Int {
        topics.values.reduce(0) { $0 + $1.count }
    }

    /// Replicas held by each broker.
    public func replicaCounts() -> [Int32: Int] {
        var counts: [Int32: Int] = [:]
        for partitions in topics.values {
            for replicas in partitions { for broker in replicas { counts[broker, default: 0] += 1 } }
        }
        return counts
    }

    /// Partitions led (preferred leader) by each broker.
    public func leaderCounts() -> [Int32: Int] {
        var counts: [Int32: Int] = [:]
        for partitions in topics.values {
            for replicas in partitions { if let leader = replicas.first { counts[leader, default: 0] += 1 } }
        }
        return counts
    }

    /// Replicas that must be copied to go from `previous` to this assignment: for every partition,
    /// the brokers in this list that were not in the previous one. Reordering a list (a preferred
    /// leader change) moves nothing.
    public func movedReplicas(from previous: ReplicaAssignment) -> Int {
        var moved = 0
        for (topic, partitions) in topics {
            let before = previous.topics[topic] ?? []
            for (partition, replicas) in partitions.enumerated() {
                let old = partition < before.count ? before[partition] : []
                moved += replicas.reduce(0) { $0 + (old.contains($1) ? 0 : 1) }
            }
        }
        return moved
    }
}
