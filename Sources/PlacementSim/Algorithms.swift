import ApusPlacement

/// A placement algorithm under simulation. `brokers` is in bucket order (only jump hash cares:
/// the simulator removes a broker by moving the last bucket into its place, the usual way to
/// take a broker out of jump hash). `previous` is the assignment before the membership change;
/// only `apus` uses it.
protocol SimulatedAlgorithm {
    var name: String { get }
    func assign(brokers: [Int32], topics: [PlacementTopic], previous: ReplicaAssignment?) -> ReplicaAssignment
}

extension SimulatedAlgorithm {
    /// Builds an assignment from a per-partition function of the partition's ring key.
    func assignEach(topics: [PlacementTopic], _ replicas: (UInt64, Int) -> [Int32]) -> ReplicaAssignment {
        var result: [String: [[Int32]]] = [:]
        for topic in topics {
            result[topic.name] = (0..<topic.partitionCount).map {
                replicas(StableHash.partitionKey(topic: topic.name, partition: Int32($0)), topic.replicationFactor)
            }
        }
        return ReplicaAssignment(topics: result)
    }
}

/// Ours: `PartitionPlacer` with bounded loads; with `sticky`, it is given the previous assignment.
struct ApusAlgorithm: SimulatedAlgorithm {
    let name: String
    let sticky: Bool
    let placer = PartitionPlacer(policy: PlacementPolicy(allowUnderReplication: true))

    func assign(brokers: [Int32], topics: [PlacementTopic], previous: ReplicaAssignment?) -> ReplicaAssignment {
        do {
            return try placer.place(
                brokers: brokers.map { PlacementBroker(id: $0) }, topics: topics,
                current: sticky ? previous : nil
            ).assignment
        } catch {
            fatalError("placement-sim: \(error)")  // The simulator builds its own valid input.
        }
    }
}

/// Plain hash modulo the number of brokers, replicas on the following brokers.
struct ModuloAlgorithm: SimulatedAlgorithm {
    let name = "modulo"
    func assign(brokers: [Int32], topics: [PlacementTopic], previous: ReplicaAssignment?) -> ReplicaAssignment {
        let sorted = brokers.sorted()
        return assignEach(topics: topics) { key, factor in
            let first = Int(key % UInt64(sorted.count))
            return (0..<min(factor, sorted.count)).map { sorted[(first + $0) % sorted.count] }
        }
    }
}

/// The classic ring: 128 virtual nodes per broker, no load bound.
struct RingAlgorithm: SimulatedAlgorithm {
    let name = "ring128"
    func assign(brokers: [Int32], topics: [PlacementTopic], previous: ReplicaAssignment?) -> ReplicaAssignment {
        let ring = HashRing(brokerIds: brokers, virtualNodesPerBroker: 128)
        return assignEach(topics: topics) { key, factor in ring.replicas(forKey: key, count: factor) }
    }
}

/// Rendezvous (highest random weight) hashing: the brokers with the highest affinity scores.
struct RendezvousAlgorithm: SimulatedAlgorithm {
    let name = "rendezvous"
    func assign(brokers: [Int32], topics: [PlacementTopic], previous: ReplicaAssignment?) -> ReplicaAssignment {
        let keyed = brokers.map { (id: $0, key: StableHash.brokerKey(brokerId: $0)) }
        return assignEach(topics: topics) { key, factor in
            var top: [(score: UInt64, id: Int32)] = []
            for broker in keyed {
                let score = StableHash.affinity(key, broker.key)
                if top.count < factor || score > top[top.count - 1].score {
                    if top.count == factor { top.removeLast() }
                    let position = top.firstIndex { $0.score < score } ?? top.count
                    top.insert((score, broker.id), at: position)
                }
            }
            return top.map(\.id)
        }
    }
}

/// Jump consistent hash (Lamping and Veach): replica i is the bucket of the key rehashed with i,
/// skipping buckets already chosen.
struct JumpAlgorithm: SimulatedAlgorithm {
    let name = "jump"
    func assign(brokers: [Int32], topics: [PlacementTopic], previous: ReplicaAssignment?) -> ReplicaAssignment {
        assignEach(topics: topics) { key, factor in
            var chosen: [Int32] = []
            let wanted = min(factor, brokers.count)
            var attempt: UInt64 = 0
            while chosen.count < wanted {
                var bucket = Self.bucket(StableHash.mix(key &+ attempt &* 0x9e37_79b9_7f4a_7c15), brokers.count)
                if attempt >= 64 {  // Rare: walk on from the last bucket.
                    while chosen.contains(brokers[bucket]) { bucket = (bucket + 1) % brokers.count }
                }
                if !chosen.contains(brokers[bucket]) { chosen.append(brokers[bucket]) }
                attempt += 1
            }
            return chosen
        }
    }

    static func bucket(_ key: UInt64, _ buckets: Int) -> Int {
        var key = key
        var bucket: Int64 = -1
        var next: Int64 = 0
        while next < Int64(buckets) {
            bucket = next
            key = key &* 2_862_933_555_777_941_757 &+ 1
            next = Int64(Double(bucket + 1) * (Double(1 << 31) / Double((key >> 33) + 1)))
        }
        return Int(bucket)
    }
}
