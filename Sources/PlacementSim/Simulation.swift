#if canImport(Glibc)
@_exported import Glibc
#elseif canImport(Darwin)
@_exported import Darwin
#endif
import ApusPlacement

struct SimulationOptions {
    var brokerCounts = [3, 5, 10, 30, 100]
    var partitionCounts = [1_000, 10_000]
    var replicationFactors = [1, 3]
    var algorithms = ["apus", "apus-stateless", "modulo", "ring128", "rendezvous", "jump"]
    var benchmarkRuns = 5
}

/// The balance bound and the movement bound the issue sets for every row.
let balanceTarget = 1.05
let movementTarget = 1.05

/// Topics of 100 partitions each ("topic-0000", …), so keys vary in topic and partition.
func makeTopics(partitions: Int, replicationFactor: Int) -> [PlacementTopic] {
    stride(from: 0, to: partitions, by: 100).enumerated().map { index, first in
        let digits = String(index)
        return PlacementTopic(
            name: "topic-" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits,
            partitionCount: min(100, partitions - first), replicationFactor: replicationFactor)
    }
}

/// Largest over brokers of (count / mean count), brokers holding nothing included.
func maxOverMean(_ counts: [Int32: Int], brokers: [Int32]) -> Double {
    let values = brokers.map { counts[$0] ?? 0 }
    let total = values.reduce(0, +)
    guard total > 0 else { return 1 }
    return Double(values.max()!) / (Double(total) / Double(brokers.count))
}

/// The best max/mean any placement can reach: ⌈total / brokers⌉ over the mean.
func roundingLimit(total: Int, brokers: Int) -> Double {
    guard total > 0 else { return 1 }
    let mean = Double(total) / Double(brokers)
    return Double((total + brokers - 1) / brokers) / mean
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

func timed<T>(_ body: () -> T) -> (T, Double) {
    let clock = ContinuousClock()
    var result: T?
    let elapsed = clock.measure { result = body() }
    return (result!, milliseconds(elapsed))
}

struct Row {
    var fields: [(String, String)] = []
    mutating func add(_ key: String, _ value: Int) { fields.append((key, String(value))) }
    mutating func add(_ key: String, _ value: String) { fields.append((key, "\"\(value)\"")) }
    mutating func add(_ key: String, _ value: Double, digits: Int = 3) { fields.append((key, format(value, digits: digits))) }
    mutating func add(_ key: String, _ values: [Double]) {
        fields.append((key, "[" + values.map { format($0, digits: 3) }.joined(separator: ",") + "]"))
    }
    var json: String { "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}" }
}

func format(_ value: Double, digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (value * scale).rounded()
    let whole = Int(scaled / scale)
    var fraction = String(Int(abs(scaled) - abs(Double(whole)) * scale))
    fraction = String(repeating: "0", count: max(0, digits - fraction.count)) + fraction
    return (scaled < 0 && whole == 0 ? "-" : "") + "\(whole).\(fraction)"
}

/// One row: place on `brokers` brokers, then add one broker, then (from the original) remove one.
func simulate(_ algorithm: any SimulatedAlgorithm, brokers brokerCount: Int, partitions: Int, replicationFactor: Int) -> Row {
    let topics = makeTopics(partitions: partitions, replicationFactor: replicationFactor)
    let brokers = (1...brokerCount).map { Int32($0) }
    let added = brokers + [Int32(brokerCount + 1)]
    let removedIndex = brokerCount / 2
    let removedBroker = brokers[removedIndex]
    var remaining = brokers
    remaining[removedIndex] = remaining[brokerCount - 1]
    remaining.removeLast()

    var rebuildTimes: [Double] = []
    var initial = ReplicaAssignment()
    for _ in 0..<3 {
        let (assignment, elapsed) = timed { algorithm.assign(brokers: brokers, topics: topics, previous: nil) }
        initial = assignment
        rebuildTimes.append(elapsed)
    }
    let (afterAdd, addTime) = timed { algorithm.assign(brokers: added, topics: topics, previous: initial) }
    let (afterRemove, removeTime) = timed { algorithm.assign(brokers: remaining, topics: topics, previous: initial) }

    let replicasBefore = initial.replicaCounts()
    let totalReplicas = partitions * replicationFactor
    let optimalOnAdd = Int((Double(totalReplicas) / Double(brokerCount + 1)).rounded())
    let optimalOnRemove = replicasBefore[removedBroker] ?? 0
    let movedOnAdd = afterAdd.movedReplicas(from: initial)
    let movedOnRemove = afterRemove.movedReplicas(from: initial)
    let underReplicated = afterRemove.topics.values.reduce(0) { sum, lists in
        sum + lists.reduce(0) { $0 + ($1.count < replicationFactor ? 1 : 0) }
    }

    let replicaBalance = [
        maxOverMean(replicasBefore, brokers: brokers), maxOverMean(afterAdd.replicaCounts(), brokers: added),
        maxOverMean(afterRemove.replicaCounts(), brokers: remaining),
    ]
    let leaderBalance = [
        maxOverMean(initial.leaderCounts(), brokers: brokers), maxOverMean(afterAdd.leaderCounts(), brokers: added),
        maxOverMean(afterRemove.leaderCounts(), brokers: remaining),
    ]
    let replicasAfterRemove = afterRemove.replicaCounts().values.reduce(0, +)
    let replicaLimit = max(
        roundingLimit(total: totalReplicas, brokers: brokerCount), roundingLimit(total: totalReplicas, brokers: brokerCount + 1),
        roundingLimit(total: replicasAfterRemove, brokers: brokerCount - 1))
    let leaderLimit = max(
        roundingLimit(total: partitions, brokers: brokerCount), roundingLimit(total: partitions, brokers: brokerCount + 1),
        roundingLimit(total: partitions, brokers: brokerCount - 1))

    let balanced = replicaBalance.max()! <= balanceTarget && leaderBalance.max()! <= balanceTarget
    let minimal = Double(movedOnAdd) <= movementTarget * Double(optimalOnAdd)
        && Double(movedOnRemove) <= movementTarget * Double(optimalOnRemove)
    let kept = balanced && minimal ? "both" : balanced ? "balance" : minimal ? "minimal" : "neither"

    var row = Row()
    row.add("algorithm", algorithm.name)
    row.add("brokers", brokerCount)
    row.add("partitions", partitions)
    row.add("rf", replicationFactor)
    row.add("max_mean_replicas", replicaBalance.max()!)
    row.add("max_mean_leaders", leaderBalance.max()!)
    row.add("moved_on_add", movedOnAdd)
    row.add("optimal_on_add", optimalOnAdd)
    row.add("moved_on_remove", movedOnRemove)
    row.add("optimal_on_remove", optimalOnRemove)
    row.add("rebuild_ms", median(rebuildTimes), digits: 2)
    row.add("kept", kept)
    row.add("max_mean_replicas_initial_add_remove", replicaBalance)
    row.add("max_mean_leaders_initial_add_remove", leaderBalance)
    row.add("rounding_limit_replicas", replicaLimit)
    row.add("rounding_limit_leaders", leaderLimit)
    row.add("under_replicated_on_remove", underReplicated)
    row.add("add_ms", addTime, digits: 2)
    row.add("remove_ms", removeTime, digits: 2)
    return row
}

/// Times `apus` placing from scratch, and recomputing after adding and after removing a broker.
func benchmarkRebuild(brokers brokerCount: Int, partitions: Int, replicationFactor: Int, runs: Int) -> String {
    let algorithm = ApusAlgorithm(name: "apus", sticky: true)
    let topics = makeTopics(partitions: partitions, replicationFactor: replicationFactor)
    let brokers = (1...brokerCount).map { Int32($0) }
    var rebuild: [Double] = []
    var add: [Double] = []
    var remove: [Double] = []
    var moved: (add: Int, remove: Int) = (0, 0)
    for _ in 0..<runs {
        let (initial, rebuildTime) = timed { algorithm.assign(brokers: brokers, topics: topics, previous: nil) }
        let (afterAdd, addTime) = timed {
            algorithm.assign(brokers: brokers + [Int32(brokerCount + 1)], topics: topics, previous: initial)
        }
        let (afterRemove, removeTime) = timed {
            algorithm.assign(brokers: Array(brokers.dropLast()), topics: topics, previous: initial)
        }
        rebuild.append(rebuildTime)
        add.append(addTime)
        remove.append(removeTime)
        moved = (afterAdd.movedReplicas(from: initial), afterRemove.movedReplicas(from: initial))
    }
    var row = Row()
    row.add("benchmark", "rebuild")
    row.add("algorithm", "apus")
    row.add("brokers", brokerCount)
    row.add("partitions", partitions)
    row.add("rf", replicationFactor)
    row.add("runs", runs)
    row.add("rebuild_ms", median(rebuild), digits: 1)
    row.add("rebuild_ms_max", rebuild.max()!, digits: 1)
    row.add("add_ms", median(add), digits: 1)
    row.add("remove_ms", median(remove), digits: 1)
    row.add("moved_on_add", moved.add)
    row.add("moved_on_remove", moved.remove)
    return row.json
}
