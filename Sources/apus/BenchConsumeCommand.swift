import ApusClient
import ArgumentParser
import Foundation

/// `apus bench consume`: reads a topic from the beginning (all of it, or `count` records) and
/// reports records/s, MiB/s and the end-to-end latency (time of reading minus the record's
/// timestamp, meaningful while a producer runs at the same time).
struct BenchConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume", abstract: "Measure consumer throughput and end-to-end latency against a broker.")

    @OptionGroup var broker: BrokerOptions
    @Option(name: [.customShort("t"), .long], help: "The topic.") var topic = "apus-bench"
    @Option(name: [.customShort("n"), .long], help: "Stop after this many records (default: at the end of the log).") var count: Int?
    @Option(name: [.customShort("g"), .long], help: "Read as a member of this group (default: assign every partition).") var group: String?
    @Option(help: "Maximum bytes per partition per fetch.") var maxPartitionFetchBytes = 1 << 20
    @Flag(help: "Print the summary as one JSON object.") var json = false

    func validate() throws {
        if let count, count <= 0 { throw ValidationError("count must be positive") }
    }

    func run() async throws {
        try await CommandFailure.report {
            let admin = try await broker.admin()
            defer { Task { await admin.close() } }
            guard try await admin.listTopics().contains(topic) else { throw CommandFailure("unknown topic \(topic)") }
            var configuration = ConsumerConfiguration(bootstrapServers: broker.addresses, groupId: group)
            configuration.clientId = "apus-bench"
            configuration.security = try broker.security()
            configuration.autoOffsetReset = .earliest
            configuration.stopAtEndOfLog = count == nil
            configuration.maxPartitionFetchBytes = maxPartitionFetchBytes
            let consumer = Consumer(configuration: configuration)
            if group != nil {
                try await consumer.subscribe(topics: [topic])
            } else {
                try await consumer.assign(topic: topic, from: .beginning)
            }
            let statistics = BenchStatistics()
            do {
                try await withLiveProgress(statistics, total: count) {
                    while let batch = try await consumer.nextBatch() {
                        let now = Int64(Date().timeIntervalSince1970 * 1000)
                        var records = batch.records
                        if let count { records = Array(records.prefix(count - statistics.records)) }
                        let bytes = records.reduce(0) { $0 + ($1.value?.count ?? 0) + ($1.key?.count ?? 0) }
                        statistics.add(records: records.count, bytes: bytes, latencies: records.map { Int(max(0, now - $0.timestamp)) * 1000 })
                        if let count, statistics.records >= count { break }
                    }
                }
            } catch {
                await consumer.close()
                throw error
            }
            await consumer.close()
            statistics.summary(kind: "consume", latencyName: "end-to-end").printed(json: json)
        }
    }
}
