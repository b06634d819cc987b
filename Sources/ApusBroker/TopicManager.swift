import ApusProperties
import ApusProtocol
import ApusStorage
import Foundation
import Logging
import NIOCore
import Synchronization

/// A topic on this broker: its id, its configuration overrides and its partitions.
public struct Topic: Sendable {
    public var name: String
    public var topicId: KafkaUUID
    /// Topic-level properties set at creation (Kafka names), over the broker defaults.
    public var overrides: [String: String]
    public var config: LogConfig
    public var partitions: [Partition]
}

/// Why a topic operation failed, with the Kafka error code to answer.
public struct TopicError: Error, Sendable {
    public var code: KafkaErrorCode
    public var message: String
}

/// The topics and partitions of this broker (the single node's view of Kafka's controller
/// metadata). Creating, deleting and growing topics is serialised by a lock; the partitions
/// themselves are owned by their event loops.
///
/// Topic ids and configuration overrides are kept in `<data dir>/__apus_topics/<topic>.properties`.
public final class TopicManager: Sendable {
    let logManager: LogManager
    let eventLoops: [EventLoop]
    let defaults: LogConfig
    let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var topics: [String: Topic] = [:]
        /// Names being created or deleted right now: Metadata answers LEADER_NOT_AVAILABLE.
        var busy: Set<String> = []
    }

    var metadataDirectory: String { logManager.dataDirectory + "/__apus_topics" }

    init(logManager: LogManager, eventLoops: [EventLoop], defaults: LogConfig, logger: Logger) {
        self.logManager = logManager
        self.eventLoops = eventLoops
        self.defaults = defaults
        self.logger = logger
    }

    // MARK: Lookups

    public func topic(_ name: String) -> Topic? { state.withLock { $0.topics[name] } }

    public func isBusy(_ name: String) -> Bool { state.withLock { $0.busy.contains(name) } }

    public var allTopics: [Topic] { state.withLock { Array($0.topics.values) }.sorted { $0.name < $1.name } }

    public func partition(_ topic: String, _ index: Int32) -> Partition? {
        state.withLock { state in
            guard let partitions = state.topics[topic]?.partitions, index >= 0, Int(index) < partitions.count else { return nil }
            return partitions[Int(index)]
        }
    }

    /// The loop that owns a partition: a stable spread of partitions over the loops.
    func eventLoop(for partition: TopicPartition) -> EventLoop {
        var hash: UInt64 = 1_469_598_103_934_665_603
        for byte in partition.topic.utf8 { hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211 }
        return eventLoops[Int((hash &+ UInt64(partition.partition)) % UInt64(eventLoops.count))]
    }

    // MARK: Start-up

    /// Opens every partition found in the data directory, each on its own loop (in parallel).
    func loadExisting() -> EventLoopFuture<Void> {
        let byTopic = Dictionary(grouping: logManager.discoveredPartitions, by: \.topic)
        let loop = eventLoops[0]
        var futures: [EventLoopFuture<Void>] = []
        for (name, found) in byTopic {
            let count = Int32((found.map(\.partition).max() ?? 0) + 1)
            do {
                let (topicId, overrides) = try readTopicFile(name) ?? (Self.randomTopicId(), [:])
                let config = try LogConfig(properties: overrides, base: defaults)
                try writeTopicFile(name, topicId: topicId, overrides: overrides)
                futures.append(openPartitions(name, range: 0..<count, config: config).map { partitions in
                    self.state.withLock {
                        $0.topics[name] = Topic(name: name, topicId: topicId, overrides: overrides, config: config, partitions: partitions)
                    }
                })
            } catch {
                futures.append(loop.makeFailedFuture(error))
            }
        }
        return EventLoopFuture.andAllSucceed(futures, on: loop)
    }

    private func openPartitions(_ name: String, range: Range<Int32>, config: LogConfig) -> EventLoopFuture<[Partition]> {
        let futures = range.map { index -> EventLoopFuture<Partition> in
            let topicPartition = TopicPartition(topic: name, partition: index)
            return Partition.open(topicPartition, config: config, logManager: logManager, on: eventLoop(for: topicPartition))
        }
        return EventLoopFuture.whenAllSucceed(futures, on: eventLoops[0])
    }

    // MARK: Admin

    /// Kafka's rule for topic names: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
    public static func validateName(_ name: String) throws(TopicError) {
        guard !name.isEmpty, name.utf8.count <= 249, name != ".", name != "..",
            name.utf8.allSatisfy({ $0 == 46 || $0 == 95 || $0 == 45 || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) })
        else {
            throw TopicError(code: .invalidTopicException, message: "topic name '\(name)' is illegal: use 1-249 of [a-zA-Z0-9._-], not '.' or '..'")
        }
    }

    /// Checks a creation without doing it: the name, the count, the configs.
    public func validateCreation(name: String, partitions: Int32, overrides: [String: String]) throws(TopicError) -> LogConfig {
        try Self.validateName(name)
        if topic(name) != nil || isBusy(name) {
            throw TopicError(code: .topicAlreadyExists, message: "topic '\(name)' already exists")
        }
        guard partitions >= 1, partitions <= 100_000 else {
            throw TopicError(code: .invalidPartitions, message: "number of partitions must be between 1 and 100000, got \(partitions)")
        }
        for (key, value) in overrides where !LogConfig.propertyNames.contains(key) {
            guard let allowed = Self.fixedConfigs[key] else {
                throw TopicError(code: .invalidConfig, message: "unknown topic config \(key)")
            }
            guard allowed.accepted.contains(value) else {
                throw TopicError(code: .invalidConfig, message: "\(key)=\(value) is not supported: \(allowed.why)")
            }
        }
        do { return try LogConfig(properties: overrides, base: defaults) } catch {
            throw TopicError(code: .invalidConfig, message: "\(error)")
        }
    }

    /// Topic configs Kafka users commonly set whose only value here is Kafka's default (or
    /// what a single node implies); anything else is refused rather than silently ignored.
    static let fixedConfigs: [String: (default: String, accepted: Set<String>, why: String)] = [
        "cleanup.policy": ("delete", ["delete"], "log compaction is not offered for user topics"),
        "compression.type": ("producer", ["producer"], "batches are stored as producers compress them"),
        "min.insync.replicas": ("1", ["1"], "this is a single-node broker"),
        "unclean.leader.election.enable": ("false", ["false", "true"], "ignored with one replica"),
    ]

    /// Creates a topic with `partitions` partitions.
    public func createTopic(name: String, partitions: Int32, overrides: [String: String]) -> EventLoopFuture<Topic> {
        let loop = eventLoops[0]
        let config: LogConfig
        do {
            config = try validateCreation(name: name, partitions: partitions, overrides: overrides)
            try state.withLock { (state) throws(TopicError) in
                guard state.topics[name] == nil, !state.busy.contains(name) else {
                    throw TopicError(code: .topicAlreadyExists, message: "topic '\(name)' already exists")
                }
                state.busy.insert(name)
            }
        } catch {
            return loop.makeFailedFuture(error)
        }
        let topicId = Self.randomTopicId()
        do {
            try writeTopicFile(name, topicId: topicId, overrides: overrides)
        } catch {
            _ = state.withLock { $0.busy.remove(name) }
            return loop.makeFailedFuture(error)
        }
        return openPartitions(name, range: 0..<partitions, config: config).map { opened in
            let topic = Topic(name: name, topicId: topicId, overrides: overrides, config: config, partitions: opened)
            self.state.withLock {
                $0.topics[name] = topic
                $0.busy.remove(name)
            }
            self.logger.info("created topic", metadata: ["topic": "\(name)", "partitions": "\(partitions)"])
            return topic
        }.flatMapErrorThrowing { error in
            _ = self.state.withLock { $0.busy.remove(name) }
            throw error
        }
    }

    /// Adds partitions up to `total`.
    public func createPartitions(name: String, total: Int32, validateOnly: Bool) -> EventLoopFuture<Void> {
        let loop = eventLoops[0]
        let topic: Topic
        do {
            topic = try state.withLock { (state) throws(TopicError) -> Topic in
                guard let topic = state.topics[name], !state.busy.contains(name) else {
                    throw TopicError(code: .unknownTopicOrPartition, message: "topic '\(name)' does not exist")
                }
                guard total > Int32(topic.partitions.count) else {
                    throw TopicError(code: .invalidPartitions, message: "topic '\(name)' has \(topic.partitions.count) partitions; the new count must be larger, got \(total)")
                }
                guard total <= 100_000 else { throw TopicError(code: .invalidPartitions, message: "at most 100000 partitions") }
                if !validateOnly { state.busy.insert(name) }
                return topic
            }
        } catch {
            return loop.makeFailedFuture(error)
        }
        if validateOnly { return loop.makeSucceededVoidFuture() }
        return openPartitions(name, range: Int32(topic.partitions.count)..<total, config: topic.config).map { added in
            self.state.withLock {
                $0.topics[name]?.partitions += added
                $0.busy.remove(name)
            }
        }.flatMapErrorThrowing { error in
            _ = self.state.withLock { $0.busy.remove(name) }
            throw error
        }
    }

    /// Deletes a topic and its logs.
    public func deleteTopic(name: String) -> EventLoopFuture<Void> {
        let loop = eventLoops[0]
        let topic: Topic
        do {
            guard name != OffsetsTopic.name else {
                throw TopicError(code: .invalidRequest, message: "\(name) is internal: it holds the consumer groups' committed offsets")
            }
            topic = try state.withLock { (state) throws(TopicError) -> Topic in
                guard let topic = state.topics.removeValue(forKey: name) else {
                    throw TopicError(code: .unknownTopicOrPartition, message: "topic '\(name)' does not exist")
                }
                state.busy.insert(name)
                return topic
            }
        } catch {
            return loop.makeFailedFuture(error)
        }
        let deletions = topic.partitions.map { partition in
            partition.execute { log in try self.logManager.deleteLog(log) }
                .always { _ in partition.releaseWaiters() }
        }
        return EventLoopFuture.andAllComplete(deletions, on: loop).flatMapThrowing {
            try? FileManager.default.removeItem(atPath: self.topicFilePath(name))
            _ = self.state.withLock { $0.busy.remove(name) }
            self.logger.info("deleted topic", metadata: ["topic": "\(name)"])
        }
    }

    /// Closes every log on its loop, for a clean shutdown.
    func closeAll() -> EventLoopFuture<Void> {
        let partitions = state.withLock { $0.topics.values.flatMap(\.partitions) }
        let closes = partitions.map { partition in
            partition.execute { log in try log.close() }.always { _ in partition.releaseWaiters() }
        }
        return EventLoopFuture.andAllSucceed(closes, on: eventLoops[0])
    }

    /// Runs retention and the `flush.ms` policy on every partition.
    func runMaintenance(retention: Bool) {
        let partitions = state.withLock { $0.topics.values.flatMap(\.partitions) }
        for partition in partitions {
            _ = partition.execute { log in
                log.flushIfDue()
                if retention { try log.applyRetention() }
            }.recover { error in
                self.logger.warning("maintenance failed", metadata: ["partition": "\(partition.topicPartition)", "error": "\(error)"])
            }
        }
    }

    // MARK: Topic files

    static func randomTopicId() -> KafkaUUID {
        var generator = SystemRandomNumberGenerator()
        return KafkaUUID(
            mostSignificantBits: Int64(bitPattern: generator.next()), leastSignificantBits: Int64(bitPattern: generator.next()))
    }

    func topicFilePath(_ name: String) -> String { metadataDirectory + "/" + name + ".properties" }

    func writeTopicFile(_ name: String, topicId: KafkaUUID, overrides: [String: String]) throws {
        try FileManager.default.createDirectory(atPath: metadataDirectory, withIntermediateDirectories: true)
        var text = "# Apus topic metadata; written by the broker.\ntopic.id=\(topicId.mostSignificantBits):\(topicId.leastSignificantBits)\n"
        for (key, value) in overrides.sorted(by: { $0.key < $1.key }) { text += JavaProperties.line(key: "config." + key, value: value) + "\n" }
        let path = topicFilePath(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    func readTopicFile(_ name: String) throws -> (KafkaUUID, [String: String])? {
        guard let text = try? String(contentsOfFile: topicFilePath(name), encoding: .utf8) else { return nil }
        var topicId: KafkaUUID?
        var overrides: [String: String] = [:]
        for (key, value) in BrokerConfig.parseProperties(text) {
            if key == "topic.id" {
                let parts = value.split(separator: ":")
                if parts.count == 2, let high = Int64(parts[0]), let low = Int64(parts[1]) {
                    topicId = KafkaUUID(mostSignificantBits: high, leastSignificantBits: low)
                }
            } else if key.hasPrefix("config.") {
                overrides[String(key.dropFirst(7))] = value
            }
        }
        return (topicId ?? Self.randomTopicId(), overrides)
    }
}
