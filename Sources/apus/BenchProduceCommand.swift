import ApusClient
import ApusRecord
import ArgumentParser
import Foundation

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
    @Option(help: "Producer batch size in bytes.") var batchSize = 65_536
    @Flag(help: "Print the summary as one JSON object.") var json = false

    func validate() throws {
        guard CompressionCodec(name: compression) != nil, ["none", "gzip", "lz4"].contains(compression) else {
            throw ValidationError("compression must be none, gzip or lz4, not '\(compression)'")
        }
        guard ["all", "-1", "1"].contains(acks) else { throw ValidationError("acks must be all or 1, not '\(acks)'") }
        guard count > 0 else { throw ValidationError("count must be positive") }
        guard recordSize >= 0 else { throw ValidationError("record size must not be negative") }
        guard partitions > 0 else { throw ValidationError("partitions must be positive") }
    }

    func run() async throws {
        try await CommandFailure.report {
            let admin = try await broker.admin()
            if try await !admin.listTopics().contains(topic) {
                try await admin.createTopic(topic, partitions: partitions)
            }
            await admin.close()
            var configuration = ProducerConfiguration(bootstrapServers: broker.addresses)
            configuration.clientId = "apus-bench"
            configuration.compression = CompressionCodec(name: compression)!
            configuration.acks = acks == "1" ? .leader : .all
            configuration.linger = .milliseconds(lingerMs)
            configuration.batchSize = batchSize
            configuration.deliveryTimeout = .seconds(60)
            let producer = Producer(configuration: configuration)
            // Printable, not all alike: compression has something to do without it being trivial.
            let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)
            let values = (0..<16).map { _ in (0..<recordSize).map { _ in alphabet.randomElement()! } }
            let statistics = BenchStatistics()
            let (acknowledged, continuation) = AsyncStream.makeStream(of: (ContinuousClock.Instant, PendingDelivery).self)
            do {
                try await withLiveProgress(statistics, total: count) {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        // Acks arrive in about submission order: await them in order, timing each.
                        group.addTask {
                            var latencies: [Int] = []
                            var done = 0
                            for await (submitted, delivery) in acknowledged {
                                _ = try await delivery.metadata()
                                latencies.append(Int((ContinuousClock.now - submitted) / .microseconds(1)))
                                done += 1
                                if latencies.count == 1000 {
                                    statistics.add(records: done, bytes: done * recordSize, latencies: latencies)
                                    latencies.removeAll(keepingCapacity: true)
                                    done = 0
                                }
                            }
                            statistics.add(records: done, bytes: done * recordSize, latencies: latencies)
                        }
                        for i in 0..<count {
                            let record = ProducerRecord(topic: topic, value: values[i % values.count])
                            let submitted = ContinuousClock.now
                            continuation.yield((submitted, try await producer.submit(record)))
                        }
                        continuation.finish()
                        await producer.flush()
                        try await group.waitForAll()
                    }
                }
            } catch {
                continuation.finish()
                await producer.close()
                throw error
            }
            await producer.close()
            statistics.summary(kind: "produce", latencyName: "ack").printed(json: json)
        }
    }
}
