import ApusProtocol
import ApusRecord
import ApusStorage
import Logging
import NIOCore
import Synchronization

/// The internal topic `__consumer_offsets`: creating it, appending group records to the
/// partition that holds each group, reading every partition back at start, and compaction.
///
/// **Compaction.** After an append, a partition whose log has reached `offsets.topic.segment.bytes`
/// and is at least twice the size its live records had after the last compaction is compacted,
/// inside one task on the partition's loop (so no append interleaves): every record is read, the
/// latest value of each key is kept (tombstones drop their key), those records are appended again
/// after a roll, the log rolls once more, and `deleteRecords(before:)` moves the log start offset
/// to where the re-append began, deleting the old segments. Log order per key is kept, so a
/// reader (and the next start) sees the same latest values.
final class OffsetsTopic: Sendable {
    static let name = "__consumer_offsets"
    /// Records per batch when several are written at once (a batch stays far below `message.max.bytes`).
    static let recordsPerBatch = 200

    let topics: TopicManager
    let config: GroupCoordinatorConfig
    let logger: Logger
    /// Per partition: the bytes of live records the last compaction kept.
    private let liveBytes = Mutex<[Int32: Int]>([:])

    init(topics: TopicManager, config: GroupCoordinatorConfig, logger: Logger) {
        self.topics = topics
        self.config = config
        self.logger = logger
    }

    /// The topic's settings: Kafka's `offsets.topic.segment.bytes`, kept forever (we compact).
    var topicOverrides: [String: String] {
        ["segment.bytes": "\(config.offsetsTopicSegmentBytes)", "retention.ms": "-1"]
    }

    /// Creates the topic unless it exists.
    func createIfMissing() -> EventLoopFuture<Void> {
        let loop = topics.eventLoops[0]
        if topics.topic(Self.name) != nil { return loop.makeSucceededVoidFuture() }
        return topics.createTopic(name: Self.name, partitions: config.offsetsTopicPartitions, overrides: topicOverrides).map { _ in () }
    }

    var partitionCount: Int32 { Int32(topics.topic(Self.name)?.partitions.count ?? Int(config.offsetsTopicPartitions)) }

    func partition(for groupId: String) -> Int32 { GroupRecord.partition(for: groupId, partitionCount: partitionCount) }

    /// Encodes records (key, value) as batches v2 with the given timestamp, Kafka's layout.
    static func encode(_ records: [(key: [UInt8], value: [UInt8]?, timestamp: Int64)]) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var start = 0
        while start < records.count {
            let chunk = records[start..<min(start + recordsPerBatch, records.count)]
            bytes += try RecordBatchEncoder().encode(chunk.map { Record(timestamp: $0.timestamp, key: $0.key, value: $0.value) })
            start += recordsPerBatch
        }
        return bytes
    }

    /// Appends the records of one group (all to that group's partition) and compacts if due.
    /// The future completes once the records are in the log.
    func append(_ records: [GroupRecord], groupId: String, now: Int64, on loop: EventLoop) -> EventLoopFuture<Void> {
        let index = partition(for: groupId)
        guard let partition = topics.partition(Self.name, index) else {
            return loop.makeFailedFuture(TopicError(code: .coordinatorNotAvailable, message: "\(Self.name) is missing"))
        }
        let bytes: [UInt8]
        do {
            bytes = try Self.encode(records.map { let (key, value) = $0.encoded; return (key, value, now) })
        } catch {
            return loop.makeFailedFuture(error)
        }
        return partition.append(.whole(ByteBuffer(bytes: bytes)), waitForFlush: true).map { _ in
            self.compactIfDue(partition, index: index)
        }.hop(to: loop)
    }

    private func compactIfDue(_ partition: Partition, index: Int32) {
        let threshold = config.offsetsTopicSegmentBytes
        _ = partition.execute { log in
            let size = log.sizeInBytes
            let live = self.liveBytes.withLock { $0[index] ?? 0 }
            guard size >= threshold, size >= 2 * live else { return }
            let kept = try Self.compact(log)
            self.liveBytes.withLock { $0[index] = kept }
        }.recover { error in
            self.logger.warning("compacting \(Self.name) failed", metadata: ["partition": "\(index)", "error": "\(error)"])
        }
    }

    /// Compacts a log of group records in place (see the type's documentation). Returns the
    /// bytes of the live records kept. Must run on the log's owner.
    @discardableResult
    static func compact(_ log: PartitionLog) throws -> Int {
        let records = try log.readRecords(from: log.logStartOffset)
        var latest: [[UInt8]: Int] = [:]
        for (index, record) in records.enumerated() { if let key = record.key { latest[key] = index } }
        let live = latest.values.sorted().map { records[$0] }.filter { $0.value != nil }
        try log.roll()
        let start = log.logEndOffset
        var kept = 0
        if !live.isEmpty {
            let bytes = try encode(live.map { ($0.key ?? [], $0.value, $0.timestamp) })
            kept = bytes.count
            try log.append(bytes)
            try log.roll()
        }
        try log.deleteRecords(before: start)
        return kept
    }

    /// Reads every partition back (each on its own loop) and decodes the records, in log order
    /// per partition. Undecodable records are logged and skipped.
    func readAll(on loop: EventLoop) -> EventLoopFuture<[GroupRecord]> {
        let partitions = topics.topic(Self.name)?.partitions ?? []
        let logger = self.logger
        let reads = partitions.map { partition in
            partition.execute { log -> [GroupRecord] in
                var decoded: [GroupRecord] = []
                for record in try log.readRecords(from: log.logStartOffset) {
                    guard let key = record.key else { continue }
                    do {
                        if let value = try GroupRecord.decode(key: key, value: record.value) { decoded.append(value) }
                    } catch {
                        logger.warning("skipping an undecodable record", metadata: [
                            "partition": "\(partition.topicPartition)", "offset": "\(record.offset)", "error": "\(error)"])
                    }
                }
                return decoded
            }
        }
        return EventLoopFuture.whenAllSucceed(reads, on: loop).map { $0.flatMap { $0 } }
    }
}
