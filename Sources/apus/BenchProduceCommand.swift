import ApusClient
import ApusRecord
import ArgumentParser
import Foundation
import Synchronization

/// `apus bench produce`: sends `count` records of `record-size` bytes as fast as the producer
/// allows, and reports records/s, MiB/s and the latency from `submit` to the broker's ack.
struct BenchProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce", abstract: "Measure producer throughput and acknowledgement latency against a broker.")

    @OptionGroup var broker: BrokerOptions
    @Option(name: [.customShort("t"), .long], help: "The topic (created if missing).") var topic = "apus-bench"
    @Option(name: [.customShort("n"), .long], help: "Records to send.") var count = 1_000_000
    @Option(name: [.customShort("s"), .customLong("record-size")], help: "Bytes per record value.") var recordSize = 100
    @Option(name: [.customShort("z"), .long], help: "Compression: none, gzip or lz4 (default none).") var compression = "none"
    @Option(help: "Acknowledgements: all or 1 (default all).") var acks = "all"
    @Option(name: [.customShort("p"), .long], help: "Partitions of the topic when it is created.") var partitions: Int32 = 6
    @Option(help: "Producer linger in milliseconds.") var lingerMs = 5
    @Option(help: "Producer batch size in bytes (the producer's default batch.size).") var batchSize = 1_000_000
    @Flag(help: "Print the summary as one JSON object.") var json = false

    func validate() throws {
        try BenchProducerSetup.validate(compression: compression, acks: acks, partitions: partitions)
        guard count > 0 else { throw ValidationError("count must be positive") }
        guard recordSize >= 0 else { throw ValidationError("record size must not be negative") }
    }

    func run() async throws {
        try await CommandFailure.report {
            try await BenchProducerSetup.ensureTopic(topic, partitions: partitions, broker: broker)
            let producer = Producer(configuration: try BenchProducerSetup.configuration(
                broker: broker, clientId: "apus-bench", compression: compression, acks: acks, lingerMs: lingerMs, batchSize: batchSize))
            let values = BenchPayloads.jsonLike(size: recordSize)
            let statistics = BenchStatistics()
            statistics.reserve(records: count)
            // Acknowledgements are timed in delivery callbacks on the producer's I/O thread and
            // handed to the statistics in batches of 1,000, so timing costs no task switch per record.
            let acknowledgements = AckCollector(statistics: statistics, recordSize: recordSize)
            // Read once: each read of an @Option property goes through ArgumentParser's generic
            // property wrapper (a metadata lookup), which cost more than the clock reads per record.
            let (topic, count) = (self.topic, self.count)
            do {
                try await withLiveProgress(statistics, total: count) {
                    for i in 0..<count {
                        let record = ProducerRecord(topic: topic, value: values[i % values.count])
                        let submitted = ContinuousClock.now
                        try await producer.submit(record) { result in
                            acknowledgements.record(result, submitted: submitted)
                        }
                    }
                    await producer.flush()
                    try acknowledgements.finish(expected: count)
                }
            } catch {
                await producer.close()
                throw error
            }
            await producer.close()
            statistics.summary(kind: "produce", latencyName: "ack").printed(json: json)
        }
    }
}

/// Collects acknowledgement latencies from the producer's callbacks.
final class AckCollector: Sendable {
    private struct State {
        var latencies: [Int] = []
        var done = 0
        var acknowledged = 0
        var failure: String?
    }
    private let state = Mutex(State())
    private let statistics: BenchStatistics
    private let recordSize: Int

    init(statistics: BenchStatistics, recordSize: Int) {
        self.statistics = statistics
        self.recordSize = recordSize
    }

    func record(_ result: Result<RecordMetadata, Error>, submitted: ContinuousClock.Instant) {
        // Integer arithmetic: dividing two Durations goes through Int128 and Double.
        let elapsed = (ContinuousClock.now - submitted).components
        let microseconds = Int(elapsed.seconds) * 1_000_000 + Int(elapsed.attoseconds / 1_000_000_000_000)
        let ready: (Int, [Int])? = state.withLock { state in
            if case .failure(let error) = result, state.failure == nil { state.failure = "\(error)" }
            state.acknowledged += 1
            state.done += 1
            state.latencies.append(microseconds)
            guard state.latencies.count >= 1000 else { return nil }
            defer { state.latencies.removeAll(keepingCapacity: true); state.done = 0 }
            return (state.done, state.latencies)
        }
        if let (done, latencies) = ready { statistics.add(records: done, bytes: done * recordSize, latencies: latencies) }
    }

    /// After a flush: passes on what is left, and fails if a record was not acknowledged.
    func finish(expected: Int) throws {
        let (done, latencies, acknowledged, failure) = state.withLock { state in
            defer { state.latencies.removeAll(); state.done = 0 }
            return (state.done, state.latencies, state.acknowledged, state.failure)
        }
        statistics.add(records: done, bytes: done * recordSize, latencies: latencies)
        if let failure { throw ValidationError("a record was not delivered: \(failure)") }
        if acknowledged < expected { throw ValidationError("\(expected - acknowledged) records were not acknowledged") }
    }
}
