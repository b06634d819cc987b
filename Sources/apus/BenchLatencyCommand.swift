import ApusClient
import ApusRecord
import ArgumentParser
import Foundation
import Synchronization

/// `apus bench latency`: end-to-end latency at a fixed rate. A producer sends `rate` records per
/// second for `duration` seconds, each value starting with its send time (a monotonic clock in
/// nanoseconds); a consumer in the same process, assigned to the topic's partitions from their
/// end, computes receive time minus send time for every record. Both ends share one clock, so
/// the figure includes the producer's linger, the broker's append and long poll, and the
/// consumer's fetch — what OpenMessaging Benchmark calls end-to-end latency. As OpenMessaging
/// Benchmark does, it first sends at the same rate for a warm-up (`--warmup`) whose records
/// are received but not measured: the first seconds of a process measure page faults on fresh
/// memory, connection set-up and the broker's first segment, not the steady path. One record
/// in 64 also measures its publish latency (send to acknowledgement), which tells the
/// producer's and broker's share of the end-to-end figure from the consumer's.
struct BenchLatencyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency", abstract: "Measure end-to-end latency (send to receive) at a fixed rate.")

    @OptionGroup var broker: BrokerOptions
    @Option(name: [.customShort("t"), .long], help: "The topic (created with --partitions if missing).") var topic = "apus-latency"
    @Option(name: [.customShort("r"), .long], help: "Records per second to send.") var rate = 10_000
    @Option(name: [.customShort("d"), .long], help: "Seconds to send for (after the warm-up).") var duration = 10
    @Option(help: "Seconds to send at the same rate before measuring.") var warmup = 2
    @Option(name: [.customShort("s"), .customLong("record-size")], help: "Bytes per record value (at least 8).") var recordSize = 1024
    @Option(name: [.customShort("z"), .long], help: "Compression: none, gzip or lz4 (default lz4).") var compression = "lz4"
    @Option(help: "Acknowledgements: all or 1 (default 1).") var acks = "1"
    @Option(name: [.customShort("p"), .long], help: "Partitions of the topic when it is created.") var partitions: Int32 = 1
    @Option(help: "Producer linger in milliseconds.") var lingerMs = 1
    @Option(help: "Producer batch size in bytes (librdkafka's default batch.size).") var batchSize = 1_000_000
    @Flag(help: "Print the summary as one JSON object.") var json = false

    /// The sender sends every record that is due, then sleeps at least this long. Each record
    /// carries its own send time, so the tick changes when records leave, not what is measured.
    static let tick = Duration.microseconds(500)

    /// Set in the send time of a warm-up record (a monotonic clock in nanoseconds never gets
    /// near bit 63), so the receiver knows not to measure it.
    static let warmupFlag: UInt64 = 1 << 63

    /// One record in this many also measures its publish latency (send to acknowledgement),
    /// through a delivery callback.
    static let publishSampling = 64

    func validate() throws {
        try BenchProducerSetup.validate(compression: compression, acks: acks, partitions: partitions)
        guard rate > 0, duration > 0 else { throw ValidationError("rate and duration must be positive") }
        guard warmup >= 0 else { throw ValidationError("warmup must not be negative") }
        guard recordSize >= 8 else { throw ValidationError("record size must be at least 8 (the send time)") }
    }

    func run() async throws {
        try await CommandFailure.report {
            try await BenchProducerSetup.ensureTopic(topic, partitions: partitions, broker: broker)
            let security = try broker.security()

            var consumerConfiguration = ConsumerConfiguration(bootstrapServers: broker.addresses, groupId: nil)
            consumerConfiguration.clientId = "apus-bench-latency"
            consumerConfiguration.security = security
            consumerConfiguration.fetchMinBytes = 1
            consumerConfiguration.fetchMaxWait = .milliseconds(100)
            let consumer = Consumer(configuration: consumerConfiguration)
            try await consumer.assign(topic: topic, from: .end)

            let producerConfiguration = try BenchProducerSetup.configuration(
                broker: broker, clientId: "apus-bench-latency", compression: compression, acks: acks, lingerMs: lingerMs,
                batchSize: batchSize)
            let producer = Producer(configuration: producerConfiguration)

            let start = ContinuousClock.now
            let measured = start + .seconds(warmup)
            let statistics = BenchStatistics(startingAt: measured)
            statistics.reserve(records: rate * duration)
            let publishLatencies = Mutex<[Int]>([])
            let warmupRecords = rate * warmup
            let received = Atomic<Int>(0)
            let expected = Atomic<Int>(Int.max)
            let consuming = Task {
                while received.load(ordering: .relaxed) < expected.load(ordering: .relaxed), let batch = try await consumer.nextBatch() {
                    let now = MonotonicNanoseconds.now
                    var latencies: [Int] = []
                    latencies.reserveCapacity(batch.records.count)
                    var (bytes, count) = (0, 0)
                    for record in batch.records {
                        guard let value = record.value, value.count >= 8 else { continue }
                        count += 1
                        let stamp = value.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)) }
                        guard stamp & Self.warmupFlag == 0 else { continue }
                        latencies.append(Int(now &- stamp) / 1000)
                        bytes += value.count
                    }
                    statistics.add(records: latencies.count, bytes: bytes, latencies: latencies)
                    received.add(count, ordering: .relaxed)
                }
            }

            // JSON-like filler after the 8-byte send time, so LZ4 has realistic work.
            let fillers = BenchPayloads.jsonLike(size: recordSize - 8)
            let interval = Duration.seconds(1) / rate
            var sent = 0
            do {
                try await withLiveProgress(statistics, total: rate * duration) {
                    let total = rate * (warmup + duration)
                    while sent < total {
                        // Send every record that is due, then sleep until the next one is.
                        let due = min(total, Int((ContinuousClock.now - start) / interval) + 1)
                        while sent < due {
                            let sendTime = MonotonicNanoseconds.now
                            let filler = fillers[sent % fillers.count]
                            var value: [UInt8] = []
                            value.reserveCapacity(8 + filler.count)
                            let stamp = sent < warmupRecords ? sendTime | Self.warmupFlag : sendTime
                            withUnsafeBytes(of: stamp.bigEndian) { value.append(contentsOf: $0) }
                            value.append(contentsOf: filler)
                            let record = ProducerRecord(topic: topic, value: value)
                            if sent >= warmupRecords, sent % Self.publishSampling == 0 {
                                try await producer.submit(record) { result in
                                    guard case .success = result else { return }
                                    let latency = Int(MonotonicNanoseconds.now &- sendTime) / 1000
                                    publishLatencies.withLock { $0.append(latency) }
                                }
                            } else {
                                _ = try await producer.submit(record)
                            }
                            sent += 1
                        }
                        // Sleep until the next record is due, but at least a tick: a timer per
                        // record (5 µs apart at 200,000/s) cost more CPU than the records.
                        if sent < total {
                            try await Task.sleep(until: max(start + interval * sent, ContinuousClock.now + Self.tick), clock: .continuous)
                        }
                    }
                    await producer.flush()
                    expected.store(sent, ordering: .relaxed)
                    let deadline = ContinuousClock.now + .seconds(10)
                    while received.load(ordering: .relaxed) < sent && ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(10))
                    }
                }
            } catch {
                consuming.cancel()
                await producer.close()
                await consumer.close()
                throw error
            }
            consuming.cancel()
            await producer.close()
            await consumer.close()
            let got = received.load(ordering: .relaxed)
            guard got >= sent else { throw CommandFailure("only \(got) of \(sent) records arrived within 10 s of the last send") }
            var summary = statistics.summary(kind: "latency", latencyName: "end-to-end")
            summary.publishPercentiles = BenchSummary.percentiles(of: publishLatencies.withLock { $0 })
            summary.printed(json: json)
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the same clock for sender and receiver in one process.
enum MonotonicNanoseconds {
    static var now: UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
