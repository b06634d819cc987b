/// The working state of one `PartitionPlacer.place` call: brokers and partitions as dense
/// indexes, replica lists as a flat array, and per-broker loads. Internal; the phases that change
/// it live in `ReplicaBalancing.swift` and `LeaderBalancing.swift`.
struct PlacementState {
    let brokerCount: Int
    let brokerKeys: [UInt64]
    let weights: [Double]
    /// Rack index per broker, or -1 for all when racks are not used.
    let brokerRack: [Int32]
    let rackAware: Bool
    let ring: HashRing

    /// Ring key of every partition, topics in name order, partitions ascending.
    let partitionKeys: [UInt64]
    /// Replicas each partition should have (the replication factor, lowered to what the live
    /// brokers and racks allow under `allowUnderReplication`).
    let wanted: [Int32]
    let stride: Int
    /// `slots[p * stride ..< p * stride + counts[p]]` is partition p's replica list (broker indexes).
    var slots: [Int32]
    var counts: [Int32]
    /// The preferred leader from the current assignment, when it is still the first replica; -1 otherwise.
    var currentLeader: [Int32]
    var load: [Int]

    init(brokerKeys: [UInt64], weights: [Double], brokerRack: [Int32], rackAware: Bool, ring: HashRing,
         partitionKeys: [UInt64], wanted: [Int32]) {
        self.brokerCount = brokerKeys.count
        self.brokerKeys = brokerKeys
        self.weights = weights
        self.brokerRack = brokerRack
        self.rackAware = rackAware
        self.ring = ring
        self.partitionKeys = partitionKeys
        self.wanted = wanted
        self.stride = max(1, Int(wanted.max() ?? 1))
        self.slots = [Int32](repeating: -1, count: partitionKeys.count * stride)
        self.counts = [Int32](repeating: 0, count: partitionKeys.count)
        self.currentLeader = [Int32](repeating: -1, count: partitionKeys.count)
        self.load = [Int](repeating: 0, count: brokerKeys.count)
    }

    var partitionCount: Int { partitionKeys.count }

    @inline(__always)
    func broker(_ partition: Int, _ slot: Int) -> Int { Int(slots[partition * stride + slot]) }

    /// Whether broker `broker` may hold a replica of `partition`, if the replica in
    /// `replacingSlot` (or none, -1) gives up its place: not already a replica, and not on the
    /// rack of another replica.
    @inline(__always)
    func canHold(_ partition: Int, _ broker: Int, replacingSlot: Int = -1) -> Bool {
        let base = partition * stride
        let rack = brokerRack[broker]
        for slot in 0..<Int(counts[partition]) where slot != replacingSlot {
            let other = Int(slots[base + slot])
            if other == broker { return false }
            if rackAware && brokerRack[other] == rack { return false }
        }
        return true
    }

    mutating func append(_ partition: Int, _ broker: Int) {
        slots[partition * stride + Int(counts[partition])] = Int32(broker)
        counts[partition] += 1
        load[broker] += 1
    }

    /// Removes the replica in `slot`, keeping the order of the others.
    mutating func remove(_ partition: Int, slot: Int) {
        let base = partition * stride
        load[Int(slots[base + slot])] -= 1
        let last = Int(counts[partition]) - 1
        if slot < last {
            for index in slot..<last { slots[base + index] = slots[base + index + 1] }
        }
        slots[base + last] = -1
        counts[partition] -= 1
    }

    /// Moves the replica in `slot` to `broker`, keeping its position in the list.
    mutating func replace(_ partition: Int, slot: Int, with broker: Int) {
        let index = partition * stride + slot
        load[Int(slots[index])] -= 1
        slots[index] = Int32(broker)
        load[broker] += 1
    }

    /// The partitions each broker holds a replica of, in partition order.
    func partitionsByBroker() -> [[Int32]] {
        var lists = [[Int32]](repeating: [], count: brokerCount)
        for broker in 0..<brokerCount { lists[broker].reserveCapacity(load[broker]) }
        for partition in 0..<partitionCount {
            for slot in 0..<Int(counts[partition]) { lists[broker(partition, slot)].append(Int32(partition)) }
        }
        return lists
    }

    func slot(of broker: Int, in partition: Int) -> Int? {
        for slot in 0..<Int(counts[partition]) where self.broker(partition, slot) == broker { return slot }
        return nil
    }
}
