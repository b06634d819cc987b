import ApusRecord

/// Identifies a partition: topic name and partition index.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// The log directory name, `<topic>-<partition>`, as Kafka names it.
    public var directoryName: String { "\(topic)-\(partition)" }

    /// Parses a log directory name; nil if it is not `<topic>-<partition>`.
    public init?(directoryName: String) {
        guard let dash = directoryName.lastIndex(of: "-"),
            let partition = Int32(directoryName[directoryName.index(after: dash)...]), partition >= 0,
            dash != directoryName.startIndex
        else { return nil }
        self.init(topic: String(directoryName[..<dash]), partition: partition)
    }

    public var description: String { directoryName }

    public static func < (a: Self, b: Self) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
}

/// What an append did: the offsets it assigned and the log's state after it.
public struct AppendInfo: Sendable, Equatable {
    public var firstOffset: Int64
    public var lastOffset: Int64
    /// The broker time stamped on the batches for LogAppendTime logs, -1 for CreateTime.
    public var logAppendTime: Int64
    public var logStartOffset: Int64
    public var batchCount: Int
    public var recordCount: Int
    /// Whether the flush policy requested a sync of this append (`flush.messages` reached).
    public var flushRequested: Bool
}

/// What a read found: whole batches from one segment, and the log's offsets at that moment.
public struct LogReadResult: Sendable {
    /// The batches, or nil when there is nothing at or after the offset yet.
    public var slice: LogSlice?
    public var highWatermark: Int64
    public var logStartOffset: Int64
    public var logEndOffset: Int64
}

/// One partition's log: a sorted run of segments, the last of which is active (Kafka's
/// `UnifiedLog`/`LocalLog` for a single replica).
///
/// A `PartitionLog` is not thread-safe by design: one owner (in the broker, one event loop)
/// calls it, so appends and reads take no locks. Disk syncs run on the shared
/// ``GroupCommitFlusher``; ``checkpoint`` tells how far they have got.
public final class PartitionLog {
    public let topicPartition: TopicPartition
    public let directory: String
    public private(set) var config: LogConfig
    private var segments: [LogSegment]
    private let flusher: GroupCommitFlusher
    /// The recovery point (how far the log is on disk) and log start offset, for checkpoints.
    public let checkpoint: LogCheckpoint
    /// Segments written since their last sync request (the active one included).
    private var dirtySegments: [LogSegment] = []
    private var unflushedMessages: Int64 = 0
    /// Bytes of the active segment whose writeback has been started (``LogConfig/writebackBytes``).
    private var writebackPosition = 0
    private var lastFlushRequestTime: Int64
    /// The first offset readable; advanced by retention and ``deleteRecords(before:)``.
    public private(set) var logStartOffset: Int64 {
        didSet { checkpoint.publishLogStartOffset(logStartOffset) }
    }
    /// The offset of the next record to be appended.
    public var logEndOffset: Int64 { segments[segments.count - 1].nextOffset }
    /// The offset up to which records are committed: with a single replica, every appended
    /// record is, so it moves with the log end offset on each append.
    public private(set) var highWatermark: Int64
    /// The idempotent producers' sequence state.
    private var producerState = ProducerStateManager()
    /// The headers of the batch run being appended, kept between appends for its capacity.
    private var batchHeaders: [RecordBatchHeader] = []
    /// What recovery found when the log was opened (for logs and tests).
    public private(set) var recoveredTruncatedBytes = 0
    private var closed = false

    /// Opens the log in `directory`, creating it when absent. Segments from the one holding
    /// `recoveryPoint` onwards (and always the last one) are validated batch by batch and
    /// truncated at the first invalid byte; earlier ones are trusted but their indexes checked.
    public init(
        topicPartition: TopicPartition, directory: String, config: LogConfig, flusher: GroupCommitFlusher,
        recoveryPoint: Int64 = 0, logStartOffset checkpointedStart: Int64 = 0, cleanShutdown: Bool = false
    ) throws {
        self.topicPartition = topicPartition
        self.directory = directory
        self.config = config
        self.flusher = flusher
        try FileSystem.createDirectory(directory)
        let baseOffsets = try FileSystem.listDirectory(directory)
            .filter { $0.hasSuffix(".log") }
            .compactMap { Int64($0.dropLast(4)) }
            .sorted()
        // Remove temporary files of an interrupted write, and files of deleted segments.
        try FileSystem.removeTemporaryFiles(in: directory)
        for name in try FileSystem.listDirectory(directory) where name.hasSuffix(".deleted") {
            try FileSystem.remove(directory + "/" + name)
        }
        var segments: [LogSegment] = []
        var truncated = 0
        for (index, base) in baseOffsets.enumerated() {
            let isLast = index == baseOffsets.count - 1
            let nextBase = isLast ? Int64.max : baseOffsets[index + 1]
            let mustRecover = !cleanShutdown && (isLast || nextBase > recoveryPoint)
            let (segment, result) = try LogSegment.open(
                directory: directory, baseOffset: base, config: config, recover: mustRecover)
            truncated += result?.truncatedBytes ?? 0
            segments.append(segment)
        }
        // A segment emptied by recovery is kept only if it is the last; an empty file left
        // before others would only confuse the offset order.
        while segments.count > 1, let empty = segments.dropLast().firstIndex(where: { $0.size == 0 }) {
            try segments[empty].delete()
            segments.remove(at: empty)
        }
        if segments.isEmpty {
            segments = [try LogSegment.create(directory: directory, baseOffset: checkpointedStart, config: config)]
        }
        self.segments = segments
        self.recoveredTruncatedBytes = truncated
        let end = segments[segments.count - 1].nextOffset
        let start = min(max(checkpointedStart, segments[0].baseOffset), end)
        self.logStartOffset = start
        self.highWatermark = end
        self.checkpoint = LogCheckpoint(recoveryPoint: cleanShutdown ? end : min(recoveryPoint, end), logStartOffset: start)
        self.lastFlushRequestTime = currentTimeMillis()
        try loadProducerState()
    }

    // MARK: Producer state

    private static let snapshotSuffix = ".snapshot"

    private func snapshotOffsets() throws -> [Int64] {
        try FileSystem.listDirectory(directory).filter { $0.hasSuffix(Self.snapshotSuffix) }
            .compactMap { Int64($0.dropLast(Self.snapshotSuffix.count)) }.sorted()
    }

    /// Rebuilds the producer state: the newest valid snapshot at or below the log end, then
    /// every idempotent batch after it.
    private func loadProducerState() throws {
        var from = segments[0].baseOffset
        for offset in try snapshotOffsets().reversed() where offset <= logEndOffset {
            let path = directory + "/" + LogSegment.fileName(baseOffset: offset, suffix: Self.snapshotSuffix)
            if let bytes = try FileSystem.readFile(path), let state = ProducerStateManager.fromSnapshot(bytes) {
                producerState = state
                from = max(offset, from)
                break
            }
        }
        let now = currentTimeMillis()
        for segment in segments where segment.nextOffset > from {
            segment.forEachBatch(from: from) { header in
                if header.baseOffset >= from { producerState.record(header, firstOffset: header.baseOffset, now: now) }
            }
        }
    }

    /// Writes the producer state as of the log end offset, keeping only the newest two snapshots.
    private func writeProducerSnapshot() throws {
        producerState.removeExpired(now: currentTimeMillis())
        let existing = try snapshotOffsets()
        if producerState.producers.isEmpty && existing.isEmpty { return }
        let path = directory + "/" + LogSegment.fileName(baseOffset: logEndOffset, suffix: Self.snapshotSuffix)
        try FileSystem.writeAtomically(path, contents: producerState.snapshotBytes())
        for offset in existing.dropLast(1) where offset != logEndOffset {
            try FileSystem.remove(directory + "/" + LogSegment.fileName(baseOffset: offset, suffix: Self.snapshotSuffix))
        }
    }

    private var activeSegment: LogSegment { segments[segments.count - 1] }

    /// Number of segments, the active one included.
    public var segmentCount: Int { segments.count }
    /// Base offsets of the segments, oldest first.
    public var segmentBaseOffsets: [Int64] { segments.map(\.baseOffset) }
    /// Bytes of valid batches in all segments.
    public var sizeInBytes: Int { segments.reduce(0) { $0 + $1.size } }

    // MARK: Appending

    /// Validates and appends one or more concatenated record batches, assigning offsets from
    /// the log end offset. All batches are checked (length, magic, CRC, record count, size
    /// limit) before any byte is written; a failure leaves the log unchanged.
    ///
    /// Compression is not inspected: batches of any codec are stored as they are.
    ///
    /// When the append reaches `flush.messages`, a sync is requested and `onFlush` (if given)
    /// runs when it completes; ``AppendInfo/flushRequested`` tells whether that happened.
    @discardableResult
    public func append(
        _ records: UnsafeRawBufferPointer, leaderEpoch: Int32 = 0, now: Int64 = currentTimeMillis(),
        onFlush: (@Sendable (Result<Int64, StorageError>) -> Void)? = nil
    ) throws -> AppendInfo {
        try RecordPieces.withPieces(of: records) { try append($0, leaderEpoch: leaderEpoch, now: now, onFlush: onFlush) }
    }

    /// ``append(_:leaderEpoch:now:onFlush:)`` of batches held in several pieces of memory (as
    /// they came off the socket): they are checked and written where they are.
    @discardableResult
    public func append(
        _ records: RecordPieces, leaderEpoch: Int32 = 0, now: Int64 = currentTimeMillis(),
        onFlush: (@Sendable (Result<Int64, StorageError>) -> Void)? = nil
    ) throws -> AppendInfo {
        guard !closed else { throw StorageError.closed }
        // The headers go into an array kept between appends, so that an append allocates nothing.
        var batches = batchHeaders
        batchHeaders = []
        defer {
            batches.removeAll(keepingCapacity: true)
            batchHeaders = batches
        }
        try Self.validateBatches(records, maxMessageBytes: config.maxMessageBytes, into: &batches)
        let firstOffset = logEndOffset
        // Idempotent producers: a retried batch is answered with its original offsets. Several
        // batches in one append are checked against the state as the earlier ones leave it
        // (`pendingProducers`, needed only then).
        var pendingProducers: [Int64: ProducerStateManager.Entry] = [:]
        var nextBatchOffset = firstOffset
        for header in batches {
            switch try producerState.check(header, pending: pendingProducers) {
            case .duplicate(let original, let last):
                guard batches.count == 1 else { throw StorageError.duplicateSequence(producerId: header.producerId) }
                return AppendInfo(
                    firstOffset: original, lastOffset: last, logAppendTime: -1, logStartOffset: logStartOffset,
                    batchCount: 0, recordCount: 0, flushRequested: false)
            case .append:
                if header.producerId >= 0 && batches.count > 1 {
                    pendingProducers[header.producerId] = ProducerStateManager.updated(
                        pendingProducers[header.producerId] ?? producerState.producers[header.producerId],
                        with: header, firstOffset: nextBatchOffset, now: now)
                }
            }
            nextBatchOffset += Int64(header.lastOffsetDelta) + 1
        }
        var lastOffset = firstOffset - 1
        var recordCount = 0
        for header in batches {
            lastOffset += Int64(header.lastOffsetDelta) + 1
            recordCount += Int(header.recordCount)
        }
        // segment.ms counts from the active segment's first batch to the incoming one, by
        // record timestamps where producers set them (Kafka's rollingBasedTimestamp).
        var incomingTimestamp: Int64 = -1
        for header in batches { incomingTimestamp = max(incomingTimestamp, header.maxTimestamp) }
        let waited = (incomingTimestamp >= 0 ? incomingTimestamp : now) - (activeSegment.firstBatchTimestamp ?? now)
        if activeSegment.isFull(adding: records.count, lastOffset: lastOffset)
            || activeSegment.size > 0 && waited > config.segmentMs
        {
            try roll()
        }
        let segment = activeSegment
        try segment.reserve(records.count)
        let appendTime: Int64? = config.logAppendTime ? now : nil
        try segment.append(records, batches: batches, firstOffset: firstOffset, leaderEpoch: leaderEpoch, logAppendTime: appendTime)
        // The producers' state moves on batch by batch, in place, as the checks above assumed.
        var batchOffset = firstOffset
        for header in batches {
            producerState.record(header, firstOffset: batchOffset, now: now)
            batchOffset += Int64(header.lastOffsetDelta) + 1
        }
        highWatermark = logEndOffset
        if dirtySegments.last !== segment { dirtySegments.append(segment) }
        unflushedMessages += Int64(recordCount)
        let flushRequested = unflushedMessages >= config.flushMessages
        if flushRequested { requestFlush(completion: onFlush) }
        startWritebackIfDue(segment)
        return AppendInfo(
            firstOffset: firstOffset, lastOffset: lastOffset, logAppendTime: appendTime ?? -1,
            logStartOffset: logStartOffset, batchCount: batches.count, recordCount: recordCount,
            flushRequested: flushRequested)
    }

    /// Appends from a byte array.
    @discardableResult
    public func append(_ records: [UInt8], leaderEpoch: Int32 = 0, now: Int64 = currentTimeMillis()) throws -> AppendInfo {
        try records.withUnsafeBytes { try append($0, leaderEpoch: leaderEpoch, now: now) }
    }

    /// Checks a run of batches as a producer sent them; appends their headers to `headers`.
    static func validateBatches(
        _ records: RecordPieces, maxMessageBytes: Int, into headers: inout [RecordBatchHeader]
    ) throws {
        typealias L = RecordBatchLayout
        var position = 0
        guard records.count > 0 else { throw StorageError.invalidRecords(.invalidRecord("no record batch")) }
        while position < records.count {
            let header: RecordBatchHeader
            do {
                header = try records.withBytes(at: position, length: L.headerSize) {
                    try RecordBatchHeader.peek($0, available: records.count - position)
                }
                let computed = records.checksum(from: position + L.attributes, to: position + header.totalSize)
                guard computed == header.crc else {
                    throw RecordError.checksumMismatch(expected: header.crc, computed: computed)
                }
            } catch let error as RecordError {
                throw StorageError.invalidRecords(error)
            }
            guard header.totalSize <= maxMessageBytes else {
                throw StorageError.messageTooLarge(size: header.totalSize, limit: maxMessageBytes)
            }
            guard header.attributes.compression != nil else {
                throw StorageError.invalidRecords(.unsupportedCompression(header.attributes.rawValue & 0x07))
            }
            guard header.recordCount > 0, header.lastOffsetDelta == header.recordCount - 1 else {
                throw StorageError.invalidRecords(.invalidRecord(
                    "lastOffsetDelta \(header.lastOffsetDelta) does not match record count \(header.recordCount)"))
            }
            headers.append(header)
            position += header.totalSize
        }
    }

    /// Whether an append can request a sync (`flush.messages` is set): only then need its
    /// caller be ready to wait for one.
    public var mayRequestFlushOnAppend: Bool { config.flushMessages != .max }

    /// Starts the writeback of what the active segment got since the last one, once that is
    /// ``LogConfig/writebackBytes`` or more.
    private func startWritebackIfDue(_ segment: LogSegment) {
        guard config.writebackBytes > 0 else { return }
        let start = min(writebackPosition, segment.size)
        guard segment.size - start >= config.writebackBytes else { return }
        flusher.startWriteback(segment.file, at: start, count: segment.size - start)
        writebackPosition = segment.size
        writebackRequests += 1
    }

    /// Writebacks started (for tests).
    private(set) var writebackRequests = 0
    /// The active segment's `.log` (for tests).
    var activeSegmentFile: SegmentFile { activeSegment.file }

    /// Starts a new active segment at the log end offset.
    public func roll() throws {
        let old = activeSegment
        guard old.size > 0 else { return }
        try old.seal()
        let segment = try LogSegment.create(directory: directory, baseOffset: logEndOffset, config: config)
        segments.append(segment)
        writebackPosition = 0
        try writeProducerSnapshot()
        try FileSystem.syncDirectory(directory)
        // Kafka flushes a rolled segment in the background; so do we.
        requestFlush()
    }

    // MARK: Durability

    /// Asks the flusher to sync everything appended so far; `completion` runs on the flusher's
    /// thread once it is on disk (with the offset it is durable up to) or failed. Concurrent
    /// requests share one sync per file (group commit).
    public func requestFlush(completion: (@Sendable (Result<Int64, StorageError>) -> Void)? = nil) {
        let target = logEndOffset
        var files = dirtySegments.map(\.file)
        if files.isEmpty, checkpoint.recoveryPoint < target { files = [activeSegment.file] }
        dirtySegments.removeAll()
        unflushedMessages = 0
        lastFlushRequestTime = currentTimeMillis()
        flusher.submit(.init(files: files, checkpoint: checkpoint, offset: target, completion: completion))
    }

    /// Syncs everything appended so far before returning.
    public func flush() throws {
        for segment in dirtySegments { try segment.file.sync() }
        if dirtySegments.isEmpty && checkpoint.recoveryPoint < logEndOffset { try activeSegment.file.sync() }
        dirtySegments.removeAll()
        unflushedMessages = 0
        checkpoint.advanceRecoveryPoint(to: logEndOffset)
    }

    /// Requests a flush when `flush.ms` has passed since the last one and data is unsynced.
    /// The owner calls it periodically (Kafka's `log.flush.scheduler.interval.ms`).
    public func flushIfDue(now: Int64 = currentTimeMillis()) {
        if !dirtySegments.isEmpty, now - lastFlushRequestTime >= config.flushMs { requestFlush() }
    }

    // MARK: Reading

    /// Whole batches from the one holding `offset`, up to `maxBytes` (at least one batch),
    /// from a single segment so the bytes are contiguous in one file.
    public func read(from offset: Int64, maxBytes: Int, upTo maxOffset: Int64? = nil) throws -> LogReadResult {
        let end = logEndOffset
        guard offset >= logStartOffset, offset <= end else {
            throw StorageError.offsetOutOfRange(requested: offset, logStartOffset: logStartOffset, logEndOffset: end)
        }
        var result = LogReadResult(slice: nil, highWatermark: highWatermark, logStartOffset: logStartOffset, logEndOffset: end)
        let limit = maxOffset ?? end
        guard offset < limit else { return result }
        var index = segmentIndex(for: offset)
        while index < segments.count {
            if let slice = segments[index].read(from: offset, maxBytes: maxBytes), slice.firstOffset < limit {
                result.slice = slice
                return result
            }
            index += 1
        }
        return result
    }

    /// Copies the bytes of a slice read from this log (from the mapping, not the file).
    public func bytes(of slice: LogSlice) -> [UInt8] {
        guard let segment = segments.first(where: { $0.file === slice.file }) else {
            return (try? slice.readBytes()) ?? []
        }
        return segment.copyBytes(position: slice.position, length: slice.length)
    }

    /// Decodes every record from `offset` onwards (at most `maxBytes` per segment read): a
    /// convenience for tools and tests, not the fetch path.
    public func readRecords(from offset: Int64, maxBytes: Int = 1 << 20) throws -> [Record] {
        var records: [Record] = []
        var next = offset
        while next < logEndOffset {
            let result = try read(from: next, maxBytes: maxBytes)
            guard let slice = result.slice else { break }
            for batch in try RecordBatchDecoder.decodeAll(bytes(of: slice)) {
                records.append(contentsOf: batch.records.filter { $0.offset >= next })
            }
            next = slice.lastOffset + 1
        }
        return records
    }

    /// The first offset whose record timestamp is at or after `timestamp`, with that timestamp;
    /// nil when every record is older (ListOffsets then answers the log end offset).
    public func offset(forTimestamp timestamp: Int64) throws -> (offset: Int64, timestamp: Int64)? {
        for segment in segments where segment.nextOffset > logStartOffset {
            if let found = try segment.findOffset(forTimestamp: timestamp, from: logStartOffset) { return found }
        }
        return nil
    }

    /// The offset and timestamp of the record with the highest timestamp (ListOffsets -3).
    public func maxTimestampAndOffset() throws -> (offset: Int64, timestamp: Int64)? {
        guard let segment = segments.filter({ $0.size > 0 }).max(by: { $0.largestTimestamp < $1.largestTimestamp }),
            segment.largestTimestamp >= 0
        else { return nil }
        return try segment.findOffset(forTimestamp: segment.largestTimestamp, from: logStartOffset)
    }

    private func segmentIndex(for offset: Int64) -> Int {
        var low = 0
        var high = segments.count
        while low < high {
            let mid = (low + high) / 2
            if segments[mid].baseOffset <= offset { low = mid + 1 } else { high = mid }
        }
        return max(0, low - 1)
    }

    // MARK: Retention

    /// Moves the log start offset up to `offset` (DeleteRecords) and deletes the segments
    /// wholly below it. Returns the new log start offset.
    @discardableResult
    public func deleteRecords(before offset: Int64) throws -> Int64 {
        guard offset >= 0, offset <= highWatermark else {
            throw StorageError.offsetOutOfRange(requested: offset, logStartOffset: logStartOffset, logEndOffset: logEndOffset)
        }
        if offset > logStartOffset { logStartOffset = offset }
        if logStartOffset == logEndOffset && activeSegment.size > 0 { try roll() }
        _ = try deleteSegments { [logStartOffset] segment, next in next.baseOffset <= logStartOffset }
        return logStartOffset
    }

    /// Applies `retention.ms` and `retention.bytes`: deletes whole old segments, never the
    /// active one. Returns the number of segments deleted.
    @discardableResult
    public func applyRetention(now: Int64 = currentTimeMillis()) throws -> Int {
        var deleted = 0
        if config.retentionMs >= 0 {
            let horizon = now - config.retentionMs
            deleted += try deleteSegments { segment, _ in segment.largestTimestamp < horizon }
        }
        if config.retentionBytes >= 0 {
            var excess = Int64(sizeInBytes) - config.retentionBytes
            deleted += try deleteSegments { segment, _ in
                guard excess >= Int64(segment.size) else { return false }
                excess -= Int64(segment.size)
                return true
            }
        }
        return deleted
    }

    /// Deletes leading non-active segments while `shouldDelete(segment, nextSegment)` holds.
    private func deleteSegments(while shouldDelete: (LogSegment, LogSegment) -> Bool) throws -> Int {
        var deleted = 0
        while segments.count > 1, shouldDelete(segments[0], segments[1]) {
            let segment = segments.removeFirst()
            dirtySegments.removeAll { $0 === segment }
            try segment.delete()
            deleted += 1
        }
        if deleted > 0 {
            logStartOffset = max(logStartOffset, segments[0].baseOffset)
            try FileSystem.syncDirectory(directory)
        }
        return deleted
    }

    // MARK: Lifecycle

    /// Syncs and seals the active segment; the log takes no more appends.
    public func close() throws {
        guard !closed else { return }
        try writeProducerSnapshot()
        try activeSegment.seal()
        try flush()
        try activeSegment.file.sync()
        closed = true
    }

    /// Closes the log and removes its directory.
    public func delete() throws {
        closed = true
        for segment in segments { try segment.delete() }
        try FileSystem.removeTree(directory)
    }
}
