/// The replica phases of placement, run in this order after the current assignment is loaded:
///
/// 1. `fillHoles`: every missing replica (new partitions, replicas of lost brokers) is placed by
///    walking the ring clockwise from the partition's key to the first eligible broker: first
///    among brokers below their fair share, then among brokers below the bound, and only then
///    (racks of unequal size) the least loaded broker the rack rule allows.
/// 2. `pullToFairShare`: a broker more than ε below its fair share (a new broker) takes replicas,
///    up to its share, from the brokers furthest above theirs, choosing the partitions it has
///    the most affinity for.
/// 3. `pushOverloads`: a broker still above its bound hands the replicas it has the least
///    affinity for to the next broker clockwise on the ring that is below its bound.
///
/// Every replica that changes broker lands on a broker that needs one, which is what keeps
/// movement at the optimum.
extension PlacementState {
    /// Returns the number of replicas that had to be placed above a broker's bound.
    mutating func fillHoles(bounds: LoadShares) -> Int {
        let ring = self.ring
        var overBound = 0
        for partition in 0..<partitionCount where counts[partition] < wanted[partition] {
            let key = partitionKeys[partition]
            while counts[partition] < wanted[partition] {
                var chosen = ring.firstBroker(from: key) { broker in
                    load[broker] < bounds.lower[broker] && canHold(partition, broker)
                }
                if chosen == nil {
                    chosen = ring.firstBroker(from: key) { broker in
                        load[broker] < bounds.upper[broker] && canHold(partition, broker)
                    }
                }
                if chosen == nil {
                    chosen = leastLoaded(among: (0..<brokerCount).filter { canHold(partition, $0) }, shares: bounds.share)
                    if chosen != nil { overBound += 1 }
                }
                guard let broker = chosen else { break }
                append(partition, broker)
            }
        }
        return overBound
    }

    mutating func pullToFairShare(bounds: LoadShares) {
        guard (0..<brokerCount).contains(where: { load[$0] < bounds.pullBelow[$0] }) else { return }
        // Lists may keep partitions a broker has since given away; `slot(of:in:)` checks.
        var byBroker = partitionsByBroker()
        for receiver in 0..<brokerCount where load[receiver] < bounds.pullBelow[receiver] {
            let receiverKey = brokerKeys[receiver]
            // Per donor: its partitions by affinity for the receiver, best first, and how far we got.
            var candidates = [[Int32]?](repeating: nil, count: brokerCount)
            var cursor = [Int](repeating: 0, count: brokerCount)
            var exhausted = [Bool](repeating: false, count: brokerCount)
            exhausted[receiver] = true
            while load[receiver] < bounds.lower[receiver] {
                // The donor furthest above its share that can give without dropping below it.
                var donor = -1
                for candidate in 0..<brokerCount where !exhausted[candidate] && load[candidate] > bounds.lower[candidate] {
                    if donor < 0 || Double(load[candidate]) - bounds.share[candidate] > Double(load[donor]) - bounds.share[donor] {
                        donor = candidate
                    }
                }
                guard donor >= 0 else { break }
                if candidates[donor] == nil {
                    candidates[donor] = byBroker[donor]
                        .map { (partition: $0, affinity: StableHash.affinity(partitionKeys[Int($0)], receiverKey)) }
                        .sorted { $0.affinity != $1.affinity ? $0.affinity > $1.affinity : $0.partition < $1.partition }
                        .map(\.partition)
                }
                let list = candidates[donor]!
                var moved = false
                while cursor[donor] < list.count {
                    let partition = Int(list[cursor[donor]])
                    cursor[donor] += 1
                    guard let slot = slot(of: donor, in: partition),
                          canHold(partition, receiver, replacingSlot: slot) else { continue }
                    replace(partition, slot: slot, with: receiver)
                    byBroker[receiver].append(Int32(partition))
                    moved = true
                    break
                }
                if !moved { exhausted[donor] = true }
            }
        }
    }

    mutating func pushOverloads(bounds: LoadShares) {
        guard (0..<brokerCount).contains(where: { load[$0] > bounds.upper[$0] }) else { return }
        let ring = self.ring
        let byBroker = partitionsByBroker()
        for broker in 0..<brokerCount where load[broker] > bounds.upper[broker] {
            let brokerKey = brokerKeys[broker]
            let weakestFirst = byBroker[broker]
                .map { (partition: Int($0), affinity: StableHash.affinity(partitionKeys[Int($0)], brokerKey)) }
                .sorted { $0.affinity != $1.affinity ? $0.affinity < $1.affinity : $0.partition < $1.partition }
            for (partition, _) in weakestFirst where load[broker] > bounds.upper[broker] {
                guard let slot = slot(of: broker, in: partition) else { continue }
                let key = partitionKeys[partition]
                let target = ring.firstBroker(from: key) { other in
                    load[other] < bounds.lower[other] && canHold(partition, other, replacingSlot: slot)
                } ?? ring.firstBroker(from: key) { other in
                    load[other] < bounds.upper[other] && canHold(partition, other, replacingSlot: slot)
                }
                if let target { replace(partition, slot: slot, with: target) }
            }
        }
    }

    func leastLoaded(among brokers: [Int], shares: [Double]) -> Int? {
        var best: Int? = nil
        var bestRatio = Double.infinity
        for broker in brokers {
            let ratio = shares[broker] > 0 ? Double(load[broker] + 1) / shares[broker] : Double.infinity
            if best == nil || ratio < bestRatio {
                best = broker
                bestRatio = ratio
            }
        }
        return best
    }
}
