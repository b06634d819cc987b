/// Chooses each partition's preferred leader among its replicas so that no broker leads more
/// than its bound, `max(⌈share⌉, ⌊(1 + ε) · share⌋)` of the partitions, where the share is split
/// by weight and never exceeds the replicas the broker holds.
///
/// 1. A partition keeps its current preferred leader while that broker is below its bound
///    (no needless leader elections after a membership change; placing again changes nothing).
/// 2. Every other partition takes the replica with the fewest leaders for its share (ties: the
///    earlier replica, so ring order).
/// 3. A broker still above its bound hands leadership along a chain found breadth-first
///    (it leads p, which another replica b could lead; b leads q, …) to a broker below its
///    bound: each chain lowers the excess by one and leaves every other count unchanged.
/// 4. A broker more than ε below its share (one that just joined) takes leadership of
///    partitions it replicates from the brokers furthest above theirs, up to its share.
///
/// Leadership changes move no data, so they are not counted as moves.
extension PlacementState {
    /// The slot of each partition's preferred leader (-1 for a partition without replicas).
    func balanceLeaders(loadSlack: Double) -> [Int32] {
        var leaderSlot = [Int32](repeating: -1, count: partitionCount)
        let partitionsWithReplicas = counts.reduce(0) { $0 + ($1 > 0 ? 1 : 0) }
        let bounds = LoadShares(total: partitionsWithReplicas, weights: weights, upperLimits: load, loadSlack: loadSlack)
        var leaders = [Int](repeating: 0, count: brokerCount)

        // A pseudo-random order, neither partition order nor ring order: the fill walks
        // partitions in order, so the last partitions' replicas sit on the brokers that filled
        // last, and neighbours on the ring share replicas. A greedy pass in either order piles
        // leadership up (measured, 100,000 × 3 over 100 brokers, share 1,000: partition order
        // 878-1,118 leaders, ring order 957-1,022, this order 999-1,001).
        let shuffled = partitionKeys.map { StableHash.mix($0 ^ 0x5bd1_e995_5bd1_e995) }
        let order = (0..<partitionCount).sorted { shuffled[$0] != shuffled[$1] ? shuffled[$0] < shuffled[$1] : $0 < $1 }

        for partition in order where counts[partition] > 0 && currentLeader[partition] >= 0 {
            let first = broker(partition, 0)
            if first == Int(currentLeader[partition]) && leaders[first] < bounds.upper[first] {
                leaderSlot[partition] = 0
                leaders[first] += 1
            }
        }
        for partition in order where counts[partition] > 0 && leaderSlot[partition] < 0 {
            var bestSlot = 0
            var bestRatio = Double.infinity
            for slot in 0..<Int(counts[partition]) {
                let candidate = broker(partition, slot)
                let ratio = bounds.share[candidate] > 0 ? Double(leaders[candidate] + 1) / bounds.share[candidate] : .infinity
                if ratio < bestRatio {
                    bestRatio = ratio
                    bestSlot = slot
                }
            }
            leaderSlot[partition] = Int32(bestSlot)
            leaders[broker(partition, bestSlot)] += 1
        }

        if (0..<brokerCount).contains(where: { leaders[$0] > bounds.upper[$0] }) {
            handOverExcessLeadership(&leaderSlot, leaders: &leaders, bounds: bounds)
        }
        if (0..<brokerCount).contains(where: { leaders[$0] < bounds.pullBelow[$0] }) {
            takeLeadershipToFairShare(&leaderSlot, leaders: &leaders, bounds: bounds)
        }
        return leaderSlot
    }

    private func handOverExcessLeadership(_ leaderSlot: inout [Int32], leaders: inout [Int], bounds: LoadShares) {
        var ledBy = [[Int32]](repeating: [], count: brokerCount)
        for partition in 0..<partitionCount where leaderSlot[partition] >= 0 {
            ledBy[broker(partition, Int(leaderSlot[partition]))].append(Int32(partition))
        }
        for overloaded in 0..<brokerCount {
            while leaders[overloaded] > bounds.upper[overloaded] {
                // Breadth-first search for a chain of leadership hand-overs.
                var parent = [(broker: Int32, partition: Int32)](repeating: (-1, -1), count: brokerCount)
                var visited = [Bool](repeating: false, count: brokerCount)
                visited[overloaded] = true
                var queue = [overloaded]
                var head = 0
                var goal = -1
                search: while head < queue.count {
                    let current = queue[head]
                    head += 1
                    for partition in ledBy[current] {
                        for slot in 0..<Int(counts[Int(partition)]) {
                            let next = broker(Int(partition), slot)
                            guard !visited[next] else { continue }
                            visited[next] = true
                            parent[next] = (Int32(current), partition)
                            if leaders[next] < bounds.upper[next] {
                                goal = next
                                break search
                            }
                            queue.append(next)
                        }
                    }
                }
                guard goal >= 0 else { break }  // No broker can take leadership: the bound cannot hold.
                var receiver = goal
                while receiver != overloaded {
                    let (giver, partition) = (Int(parent[receiver].broker), parent[receiver].partition)
                    leaderSlot[Int(partition)] = Int32(slot(of: receiver, in: Int(partition))!)
                    ledBy[giver].remove(at: ledBy[giver].firstIndex(of: partition)!)
                    ledBy[receiver].append(partition)
                    leaders[receiver] += 1
                    leaders[giver] -= 1
                    receiver = giver
                }
            }
        }
    }

    /// A broker far below its share of leadership (one that just joined) becomes the leader of
    /// partitions it holds a replica of, taken from the leaders furthest above their share.
    private func takeLeadershipToFairShare(_ leaderSlot: inout [Int32], leaders: inout [Int], bounds: LoadShares) {
        let byBroker = partitionsByBroker()
        for receiver in 0..<brokerCount where leaders[receiver] < bounds.pullBelow[receiver] {
            while leaders[receiver] < bounds.lower[receiver] {
                var best: (partition: Int, giver: Int)? = nil
                for partition in byBroker[receiver] {
                    let partition = Int(partition)
                    let giver = broker(partition, Int(leaderSlot[partition]))
                    guard giver != receiver, leaders[giver] > bounds.lower[giver] else { continue }
                    if best == nil || Double(leaders[giver]) - bounds.share[giver] > Double(leaders[best!.giver]) - bounds.share[best!.giver] {
                        best = (partition, giver)
                    }
                }
                guard let (partition, giver) = best else { break }
                leaderSlot[partition] = Int32(slot(of: receiver, in: partition)!)
                leaders[giver] -= 1
                leaders[receiver] += 1
            }
        }
    }
}
