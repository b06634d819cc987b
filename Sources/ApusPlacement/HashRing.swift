/// A consistent-hash ring of brokers with virtual nodes.
///
/// Every broker owns `virtualNodesPerBroker × weight / mean weight` points (at least one) at
/// `StableHash.virtualNodePoint(brokerId:virtualNode:)`. A partition's key is a point too; its
/// replicas are found by walking clockwise from the key and taking brokers as they come. Without
/// a load bound this is the classic ring (the `ring128` baseline of `tools/placement-sim`);
/// `PartitionPlacer` walks the same ring but skips brokers that are full.
public struct HashRing: Sendable {
    /// The brokers on the ring, sorted by id; ring owners are indexes into this array.
    public let brokerIds: [Int32]
    /// Ring points in clockwise order (ties broken by owner index).
    let points: [UInt64]
    /// `owners[i]` is the index in `brokerIds` of the broker owning `points[i]`.
    let owners: [Int32]

    /// Builds the ring for `brokers`; a broker's weight scales its number of virtual nodes.
    public init(brokers: [PlacementBroker], virtualNodesPerBroker: Int) {
        let sorted = brokers.sorted { $0.id < $1.id }
        let meanWeight = sorted.isEmpty ? 1 : sorted.reduce(0) { $0 + $1.weight } / Double(sorted.count)
        self.init(
            brokerIds: sorted.map(\.id),
            virtualNodeCounts: sorted.map {
                max(1, floorOf(Double(virtualNodesPerBroker) * $0.weight / meanWeight + 0.5))
            })
    }

    /// Builds the ring for equally weighted brokers.
    public init(brokerIds: [Int32], virtualNodesPerBroker: Int) {
        let sorted = brokerIds.sorted()
        self.init(brokerIds: sorted, virtualNodeCounts: Array(repeating: max(1, virtualNodesPerBroker), count: sorted.count))
    }

    init(brokerIds sortedIds: [Int32], virtualNodeCounts: [Int]) {
        var entries: [(point: UInt64, owner: Int32)] = []
        entries.reserveCapacity(virtualNodeCounts.reduce(0, +))
        for (index, id) in sortedIds.enumerated() {
            for virtualNode in 0..<virtualNodeCounts[index] {
                entries.append((StableHash.virtualNodePoint(brokerId: id, virtualNode: virtualNode), Int32(index)))
            }
        }
        entries.sort { $0.point != $1.point ? $0.point < $1.point : $0.owner < $1.owner }
        self.brokerIds = sortedIds
        self.points = entries.map(\.point)
        self.owners = entries.map(\.owner)
    }

    /// The number of points on the ring.
    public var pointCount: Int { points.count }

    /// The position of the first point at or clockwise after `key`.
    func firstPosition(atOrAfter key: UInt64) -> Int {
        var low = 0
        var high = points.count
        while low < high {
            let middle = (low + high) / 2
            if points[middle] < key { low = middle + 1 } else { high = middle }
        }
        return low == points.count ? 0 : low
    }

    /// Walks clockwise from `key` and returns the index (into `brokerIds`) of the first broker
    /// `accept` takes, or nil when a whole turn finds none.
    @inline(__always)
    func firstBroker(from key: UInt64, where accept: (Int) -> Bool) -> Int? {
        let count = points.count
        guard count > 0 else { return nil }
        var position = firstPosition(atOrAfter: key)
        for _ in 0..<count {
            let owner = Int(owners[position])
            if accept(owner) { return owner }
            position += 1
            if position == count { position = 0 }
        }
        return nil
    }

    /// The first `count` distinct brokers clockwise from `key`, without any load bound: the
    /// classic consistent-hash replica list (first = preferred leader).
    public func replicas(forKey key: UInt64, count: Int) -> [Int32] {
        var chosen: [Int32] = []
        let wanted = min(count, brokerIds.count)
        guard wanted > 0 else { return chosen }
        var position = firstPosition(atOrAfter: key)
        for _ in 0..<points.count {
            let owner = owners[position]
            if !chosen.contains(brokerIds[Int(owner)]) {
                chosen.append(brokerIds[Int(owner)])
                if chosen.count == wanted { break }
            }
            position += 1
            if position == points.count { position = 0 }
        }
        return chosen
    }
}
