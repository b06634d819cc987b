/// A live broker that can hold replicas.
///
/// `rack` is Kafka's `broker.rack`: when every broker has one, the replicas of a partition go to
/// distinct racks. `weight` scales the broker's share of replicas and leaders (a broker of weight
/// 2 holds twice the replicas of one of weight 1); it must be finite and positive.
public struct PlacementBroker: Sendable, Hashable {
    /// The broker id (`node.id` / `broker.id`).
    public var id: Int32
    /// The rack the broker is in, or nil when racks are not used.
    public var rack: String?
    /// The broker's relative capacity; 1 by default.
    public var weight: Double

    /// A broker with an id, optionally a rack, and a weight (1 unless given).
    public init(id: Int32, rack: String? = nil, weight: Double = 1) {
        self.id = id
        self.rack = rack
        self.weight = weight
    }
}

/// A topic to place: its name, number of partitions and replication factor.
public struct PlacementTopic: Sendable, Hashable {
    /// The topic name.
    public var name: String
    /// Number of partitions, numbered `0..<partitionCount`.
    public var partitionCount: Int
    /// Replicas per partition, including the preferred leader.
    public var replicationFactor: Int

    /// A topic with `partitionCount` partitions of `replicationFactor` replicas each.
    public init(name: String, partitionCount: Int, replicationFactor: Int) {
        self.name = name
        self.partitionCount = partitionCount
        self.replicationFactor = replicationFactor
    }
}
