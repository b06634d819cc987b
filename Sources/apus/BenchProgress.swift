import Foundation
import Synchronization

/// Counters and latencies of a client benchmark (`apus bench produce|consume`), shared by the
/// task that does the work and the one that prints progress. Latencies are kept as a plain
/// sample in microseconds and sorted for percentiles: exact, and cheap at benchmark sizes.
final class BenchStatistics: Sendable {
    private struct State {
        var records = 0
        var bytes = 0
        var latencies: [Int] = []
        var intervalRecords = 0
        var intervalBytes = 0
        var intervalLatencies: [Int] = []
    }

    private let state = Mutex(State())
    /// When the measurement starts: rates are over the time since.
    let started: ContinuousClock.Instant

    init(startingAt started: ContinuousClock.Instant = .now) {
        self.started = started
    }
    /// Whether a live line reads the interval figures (only when stderr is a terminal): without
    /// one, keeping them would hold a second copy of every latency.
    private let live = isatty(STDERR_FILENO) == 1

    /// Reserves room for `records` latencies up front, so a long run does not copy a growing
    /// array (tens of megabytes) under the lock while records arrive, which shows up as a
    /// latency spike in the measurement itself.
    func reserve(records: Int) {
        state.withLock { $0.latencies.reserveCapacity(records) }
    }

    /// Counts `records` records of `bytes` bytes, with their latencies (µs), if measured.
    func add(records: Int, bytes: Int, latencies: [Int] = []) {
        state.withLock {
            $0.records += records
            $0.bytes += bytes
            $0.latencies += latencies
            $0.intervalRecords += records
            $0.intervalBytes += bytes
            if live { $0.intervalLatencies += latencies }
        }
    }

    /// Records so far.
    var records: Int { state.withLock { $0.records } }

    /// What happened since the last call (for the live line).
    func takeInterval() -> (records: Int, bytes: Int, latencies: [Int]) {
        state.withLock { state in
            defer {
                state.intervalRecords = 0
                state.intervalBytes = 0
                state.intervalLatencies.removeAll(keepingCapacity: true)
            }
            return (state.intervalRecords, state.intervalBytes, state.intervalLatencies)
        }
    }

    /// Totals and percentiles of the whole run.
    func summary(kind: String, latencyName: String) -> BenchSummary {
        let seconds = max((ContinuousClock.now - started) / .seconds(1), 1e-9)
        return state.withLock {
            BenchSummary(
                kind: kind, records: $0.records, bytes: $0.bytes, seconds: seconds,
                latencyName: latencyName, percentiles: BenchSummary.percentiles(of: $0.latencies))
        }
    }
}

/// The result of a client benchmark, printed as a table or as one JSON object.
struct BenchSummary: Codable {
    var kind: String
    var records: Int
    var bytes: Int
    var seconds: Double
    var latencyName: String
    /// Milliseconds at p50, p95, p99, p99.9 and max (absent without latencies).
    var percentiles: [String: Double]
    /// Publish latency (send to acknowledgement) of a sample of the records, in the same form,
    /// when the benchmark measured it.
    var publishPercentiles: [String: Double] = [:]

    var recordsPerSecond: Double { Double(records) / seconds }
    var megabytesPerSecond: Double { Double(bytes) / seconds / 1_048_576 }

    static let levels: [(String, Double)] = [("p50", 0.50), ("p95", 0.95), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0)]

    /// Percentiles in milliseconds of latencies in microseconds (nearest rank).
    static func percentiles(of latencies: [Int]) -> [String: Double] {
        guard !latencies.isEmpty else { return [:] }
        let sorted = latencies.sorted()
        var result: [String: Double] = [:]
        for (name, level) in levels {
            let rank = min(sorted.count - 1, max(0, Int((level * Double(sorted.count)).rounded(.up)) - 1))
            result[name] = Double(sorted[rank]) / 1000
        }
        return result
    }

    static func latencyText(_ percentiles: [String: Double]) -> String {
        guard !percentiles.isEmpty else { return "" }
        return levels.map { name, _ in "\(name) \(String(format: "%.2f", percentiles[name] ?? 0))" }.joined(separator: " ") + " ms"
    }

    func printed(json: Bool) {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var object: [String: JSONValue] = [
                "kind": .string(kind), "records": .number(Double(records)), "bytes": .number(Double(bytes)),
                "seconds": .number(seconds), "records_per_second": .number(recordsPerSecond),
                "mb_per_second": .number(megabytesPerSecond), "latency": .string(latencyName),
            ]
            for (name, value) in percentiles { object["latency_\(name)_ms"] = .number(value) }
            for (name, value) in publishPercentiles { object["publish_latency_\(name)_ms"] = .number(value) }
            print(String(decoding: try! encoder.encode(object), as: UTF8.self))
        } else {
            print("\(kind): \(records) records, \(String(format: "%.1f", Double(bytes) / 1_048_576)) MiB in \(String(format: "%.2f", seconds)) s")
            print("  \(String(format: "%.0f", recordsPerSecond)) records/s, \(String(format: "%.2f", megabytesPerSecond)) MiB/s")
            if !percentiles.isEmpty { print("  \(latencyName) latency: \(Self.latencyText(percentiles))") }
            if !publishPercentiles.isEmpty { print("  publish latency (send to acknowledgement, sampled): \(Self.latencyText(publishPercentiles))") }
        }
    }
}

/// A JSON scalar, so the summary's keys can be built from the percentile names.
enum JSONValue: Encodable {
    case string(String)
    case number(Double)

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        }
    }
}

/// Prints one progress line a second on standard error while `body` runs, when standard error
/// is a terminal (so logs and pipes stay clean).
func withLiveProgress<T>(_ statistics: BenchStatistics, total: Int?, _ body: () async throws -> T) async rethrows -> T {
    guard isatty(STDERR_FILENO) == 1 else { return try await body() }
    let ticker = Task {
        var last = ContinuousClock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let now = ContinuousClock.now
            let seconds = max((now - last) / .seconds(1), 1e-9)
            last = now
            let interval = statistics.takeInterval()
            let done = statistics.records
            let progress = total.map { " \(done)/\($0)" } ?? " \(done)"
            let latency = BenchSummary.latencyText(BenchSummary.percentiles(of: interval.latencies))
            let rates = String(format: "%.0f records/s  %.2f MiB/s", Double(interval.records) / seconds, Double(interval.bytes) / seconds / 1_048_576)
            let line = "\(progress) records  \(rates)  \(latency)\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
    }
    defer { ticker.cancel() }
    return try await body()
}
