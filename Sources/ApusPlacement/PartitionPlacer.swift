/// Places the replicas of partitions on brokers by consistent hashing with bounded loads.
///
/// A pure function of its input: no clock, no randomness, no I/O, and the order in which brokers
/// and topics are given does not matter. Every broker computing the placement for the same
/// membership and topics gets the same assignment. See Docs/placement.md for the algorithm and
/// its measurements.
///
/// ```swift
/// let placer = PartitionPlacer()
/// let result = try placer.place(
///     brokers: [PlacementBroker(id: 1, rack: "a"), PlacementBroker(id: 2, rack: "b"), PlacementBroker(id: 3, rack: "c")],
///     topics: [PlacementTopic(name: "orders", partitionCount: 12, replicationFactor: 3)])
/// result.assignment.replicas(topic: "orders", partition: 0)  // e.g. [2, 3, 1]; 2 is the preferred leader
/// ```
///
/// Pass the assignment in force as `current` when membership changes: replicas stay where they
/// are unless their broker is gone or above its bound, so only the replicas that must move do.
public struct PartitionPlacer: Sendable {
    /// The balance and failure policy.
    public var policy: PlacementPolicy

    /// A placer with `policy` (the defaults unless given).
    public init(policy: PlacementPolicy = PlacementPolicy()) {
        self.policy = policy
    }

    /// Computes the replica list of every partition of `topics` over the live `brokers`.
    ///
    /// - Parameters:
    ///   - brokers: the live brokers; ids must be unique, and either all or none have a rack.
    ///   - topics: the topics; names must be unique.
    ///   - current: the assignment in force, if any. Replicas on live brokers are kept where the
    ///     bounds allow; entries for unknown topics or partitions are ignored.
    /// - Returns: replicas on distinct brokers (and distinct racks when racks are given), no
    ///   broker above its replica or leader bound unless racks of unequal size force it
    ///   (`replicasOverBound`).
    /// - Throws: `PlacementError` for input that cannot be placed.
    public func place(
        brokers: [PlacementBroker], topics: [PlacementTopic], current: ReplicaAssignment? = nil
    ) throws(PlacementError) -> PlacementResult {
        let brokers = brokers.sorted { $0.id < $1.id }
        let topics = topics.sorted { $0.name < $1.name }
        let rackCount = try validate(brokers: brokers, topics: topics)
        let rackAware = rackCount > 0
        let rackNames = Array(Set(brokers.compactMap(\.rack))).sorted()
        let rackIndex = Dictionary(uniqueKeysWithValues: rackNames.enumerated().map { ($1, Int32($0)) })

        // Partitions, topics in name order, partitions ascending.
        let totalPartitions = topics.reduce(0) { $0 + $1.partitionCount }
        var partitionKeys: [UInt64] = []
        var wanted: [Int32] = []
        partitionKeys.reserveCapacity(totalPartitions)
        wanted.reserveCapacity(totalPartitions)
        for topic in topics {
            let topicState = StableHash.fnv1a(topic.name.utf8)
            var factor = min(topic.replicationFactor, brokers.count)
            if rackAware { factor = min(factor, rackCount) }
            for partition in 0..<topic.partitionCount {
                partitionKeys.append(StableHash.partitionKey(topicState: topicState, partition: Int32(partition)))
                wanted.append(Int32(factor))
            }
        }

        var state = PlacementState(
            brokerKeys: brokers.map { StableHash.brokerKey(brokerId: $0.id) },
            weights: brokers.map(\.weight),
            brokerRack: brokers.map { $0.rack.flatMap { rackIndex[$0] } ?? -1 },
            rackAware: rackAware,
            ring: HashRing(brokers: brokers, virtualNodesPerBroker: policy.virtualNodesPerBroker),
            partitionKeys: partitionKeys,
            wanted: wanted)

        if let current {
            load(current, into: &state, brokers: brokers, topics: topics)
        }

        let replicaBounds = LoadShares(
            total: wanted.reduce(0) { $0 + Int($1) },
            weights: state.weights,
            upperLimits: Array(repeating: totalPartitions, count: brokers.count),
            loadSlack: policy.loadSlack)
        let overBound = state.fillHoles(bounds: replicaBounds)
        state.pullToFairShare(bounds: replicaBounds)
        state.pushOverloads(bounds: replicaBounds)
        let leaderSlots = state.balanceLeaders(loadSlack: policy.loadSlack)

        // The result: leader first, the other replicas in their order.
        var assignment: [String: [[Int32]]] = [:]
        var underReplicated: [String: [Int32]] = [:]
        var partitionIndex = 0
        for topic in topics {
            var lists: [[Int32]] = []
            lists.reserveCapacity(topic.partitionCount)
            for partition in 0..<topic.partitionCount {
                let count = Int(state.counts[partitionIndex])
                var replicas: [Int32] = []
                replicas.reserveCapacity(count)
                let leader = Int(leaderSlots[partitionIndex])
                if leader >= 0 { replicas.append(brokers[state.broker(partitionIndex, leader)].id) }
                for slot in 0..<count where slot != leader {
                    replicas.append(brokers[state.broker(partitionIndex, slot)].id)
                }
                if count < topic.replicationFactor { underReplicated[topic.name, default: []].append(Int32(partition)) }
                lists.append(replicas)
                partitionIndex += 1
            }
            assignment[topic.name] = lists
        }
        return PlacementResult(
            assignment: ReplicaAssignment(topics: assignment), underReplicated: underReplicated,
            replicasOverBound: overBound)
    }

    /// Checks the input and returns the number of racks (0 when racks are not used).
    private func validate(brokers: [PlacementBroker], topics: [PlacementTopic]) throws(PlacementError) -> Int {
        for index in brokers.indices.dropFirst() where brokers[index].id == brokers[index - 1].id {
            throw .duplicateBrokerId(brokers[index].id)
        }
        for broker in brokers where !(broker.weight.isFinite && broker.weight > 0) {
            throw .invalidWeight(brokerId: broker.id, weight: broker.weight)
        }
        let withoutRack = brokers.filter { $0.rack == nil }.map(\.id)
        if !withoutRack.isEmpty && withoutRack.count < brokers.count {
            throw .mixedRackInformation(brokersWithoutRack: withoutRack)
        }
        let rackCount = Set(brokers.compactMap(\.rack)).count
        for index in topics.indices.dropFirst() where topics[index].name == topics[index - 1].name {
            throw .duplicateTopic(topics[index].name)
        }
        for topic in topics {
            if topic.partitionCount < 1 {
                throw .invalidPartitionCount(topic: topic.name, partitionCount: topic.partitionCount)
            }
            if topic.replicationFactor < 1 {
                throw .invalidReplicationFactor(topic: topic.name, replicationFactor: topic.replicationFactor)
            }
            if brokers.isEmpty { throw .noBrokers }
            if topic.replicationFactor > brokers.count && !policy.allowUnderReplication {
                throw .replicationFactorExceedsBrokers(
                    topic: topic.name, replicationFactor: topic.replicationFactor, brokers: brokers.count)
            }
            if rackCount > 0 && topic.replicationFactor > rackCount && !policy.allowUnderReplication {
                throw .replicationFactorExceedsRacks(
                    topic: topic.name, replicationFactor: topic.replicationFactor, racks: rackCount)
            }
        }
        return rackCount
    }

    /// Loads the replicas of `current` that are still valid: on a live broker, not a duplicate,
    /// not on the rack of an earlier replica, and within the replication factor.
    private func load(_ current: ReplicaAssignment, into state: inout PlacementState,
                      brokers: [PlacementBroker], topics: [PlacementTopic]) {
        let brokerIndex = Dictionary(uniqueKeysWithValues: brokers.enumerated().map { ($1.id, $0) })
        var partitionIndex = 0
        for topic in topics {
            let lists = current.topics[topic.name] ?? []
            for partition in 0..<topic.partitionCount {
                defer { partitionIndex += 1 }
                guard partition < lists.count else { continue }
                for (position, id) in lists[partition].enumerated() {
                    guard state.counts[partitionIndex] < state.wanted[partitionIndex],
                          let broker = brokerIndex[id], state.canHold(partitionIndex, broker) else { continue }
                    if position == 0 { state.currentLeader[partitionIndex] = Int32(broker) }
                    state.append(partitionIndex, broker)
                }
            }
        }
    }
}
