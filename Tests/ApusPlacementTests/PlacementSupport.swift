@testable import ApusPlacement

/// Helpers shared by the placement tests.
func brokers(_ count: Int, racks: Int = 0, firstId: Int32 = 1) -> [PlacementBroker] {
    (0..<count).map { index in
        PlacementBroker(id: firstId + Int32(index), rack: racks > 0 ? "rack-\(index % racks)" : nil)
    }
}

func topics(partitions: Int, replicationFactor: Int, perTopic: Int = 100) -> [PlacementTopic] {
    stride(from: 0, to: partitions, by: perTopic).enumerated().map { index, first in
        PlacementTopic(name: "topic-\(index)", partitionCount: min(perTopic, partitions - first), replicationFactor: replicationFactor)
    }
}

/// Every replica list of an assignment.
func allReplicaLists(_ assignment: ReplicaAssignment) -> [[Int32]] {
    assignment.topics.keys.sorted().flatMap { assignment.topics[$0]! }
}

/// `⌈(1 + ε) · share⌉` for each broker, shares in proportion to weight: the bounded-loads bound.
func boundedLoadLimit(total: Int, brokers: [PlacementBroker], slack: Double = 0.05) -> [Int32: Int] {
    let totalWeight = brokers.reduce(0) { $0 + $1.weight }
    return Dictionary(uniqueKeysWithValues: brokers.map { broker in
        (broker.id, Int((Double(total) * broker.weight / totalWeight * (1 + slack) - 1e-9).rounded(.up)))
    })
}
