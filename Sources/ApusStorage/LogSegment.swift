import ApusRecord

/// A run of the log starting at `baseOffset`: a `.log` file of record batches, memory-mapped
/// for appends, with its `.index` and `.timeindex` (Kafka's `LogSegment`).
///
/// The `.log` file is preallocated ahead of the data in growing chunks, so an append is a copy
/// into the mapping; bytes past ``size`` are zeros or leftovers and never read. When the
/// segment stops being active (roll or close) the file is trimmed to ``size``.
final class LogSegment {
    /// Where preallocation starts and how far a single extension may go.
    static let minimumPreallocation = 1 << 20
    static let maximumPreallocation = 16 << 20

    let baseOffset: Int64
    let logPath: String
    let file: SegmentFile
    private var mapping: FileMapping
    private(set) var offsetIndex: OffsetIndex
    private(set) var timeIndex: TimeIndex
    /// Bytes of valid batches.
    private(set) var size: Int = 0
    /// Bytes allocated on disk (the file's length while active).
    private var allocatedSize: Int
    /// The offset after the last batch (the base offset while empty).
    private(set) var nextOffset: Int64
    /// The highest record timestamp in the segment, -1 when unknown.
    private(set) var largestTimestamp: Int64 = -1
    private var offsetOfLargestTimestamp: Int64 = -1
    /// The max timestamp of the first batch: `segment.ms` counts from it.
    private(set) var firstBatchTimestamp: Int64?
    private var bytesSinceLastIndexEntry = 0
    private let indexIntervalBytes: Int
    private let configuredSegmentBytes: Int

    static func fileName(baseOffset: Int64, suffix: String) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    private init(directory: String, baseOffset: Int64, config: LogConfig, create: Bool) throws {
        self.baseOffset = baseOffset
        self.logPath = directory + "/" + Self.fileName(baseOffset: baseOffset, suffix: ".log")
        self.file = try SegmentFile(path: logPath, create: create)
        self.offsetIndex = try OffsetIndex(
            path: directory + "/" + Self.fileName(baseOffset: baseOffset, suffix: ".index"), baseOffset: baseOffset)
        self.timeIndex = try TimeIndex(
            path: directory + "/" + Self.fileName(baseOffset: baseOffset, suffix: ".timeindex"), baseOffset: baseOffset)
        self.indexIntervalBytes = config.indexIntervalBytes
        self.configuredSegmentBytes = config.segmentBytes
        self.allocatedSize = try file.size()
        self.mapping = try FileMapping(
            file: file, length: FileSystem.roundUpToPage(max(config.segmentBytes, allocatedSize, 1)))
        self.nextOffset = baseOffset
    }

    /// A new, empty segment.
    static func create(directory: String, baseOffset: Int64, config: LogConfig) throws -> LogSegment {
        let segment = try LogSegment(directory: directory, baseOffset: baseOffset, config: config, create: true)
        try segment.file.truncate(to: 0)
        segment.allocatedSize = 0
        try segment.offsetIndex.reset()
        try segment.timeIndex.reset()
        return segment
    }

    /// Opens an existing segment. With `recover`, every batch is validated and the file cut at
    /// the first invalid byte; otherwise the file's length is trusted and only the indexes are
    /// checked (and rebuilt if they fail).
    static func open(directory: String, baseOffset: Int64, config: LogConfig, recover: Bool) throws -> (LogSegment, RecoveryResult?) {
        let indexesExist = [".index", ".timeindex"].allSatisfy {
            FileSystem.exists(directory + "/" + fileName(baseOffset: baseOffset, suffix: $0))
        }
        let segment = try LogSegment(directory: directory, baseOffset: baseOffset, config: config, create: false)
        if recover { return (segment, try segment.recover()) }
        segment.size = segment.allocatedSize
        let indexesSane = try indexesExist && segment.loadIndexes()
        if !indexesSane { try segment.rebuildIndexes() }
        return (segment, nil)
    }

    /// What recovery found in a segment.
    struct RecoveryResult {
        var validBytes: Int
        var truncatedBytes: Int
        var batches: Int
    }

    // MARK: Reading batch headers in the mapping

    private var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: mapping.base, count: size) }

    private func header(at position: Int) -> RecordBatchHeader {
        RecordBatchHeader(unchecked: UnsafeRawBufferPointer(start: mapping.base + position, count: RecordBatchLayout.headerSize))
    }

    /// Scans batches from the start, validating each, and truncates after the last valid one.
    func recover() throws -> RecoveryResult {
        let fileSize = allocatedSize
        let region = UnsafeRawBufferPointer(start: mapping.base, count: fileSize)
        var position = 0
        var batches = 0
        var expectedOffset = baseOffset
        while fileSize - position >= RecordBatchLayout.headerSize {
            let rest = UnsafeRawBufferPointer(rebasing: region[position...])
            guard let header = try? RecordBatchHeader.validated(rest),
                header.baseOffset >= expectedOffset, header.lastOffsetDelta >= 0,
                header.baseOffset <= Int64.max - Int64(header.lastOffsetDelta) - 1,
                header.lastOffset - baseOffset <= Int64(Int32.max)
            else { break }
            expectedOffset = header.nextOffset
            position += header.totalSize
            batches += 1
        }
        size = position
        if fileSize != position { try file.truncate(to: position) }
        allocatedSize = position
        try rebuildIndexes()
        return RecoveryResult(validBytes: position, truncatedBytes: fileSize - position, batches: batches)
    }

    /// Loads the index files; false if either fails its sanity checks.
    private func loadIndexes() throws -> Bool {
        guard try offsetIndex.load(logSize: size) else { return false }
        // The segment's end and largest timestamp come from the last batches after the last index entry.
        var position = offsetIndex.lookup(.max)
        var last: RecordBatchHeader?
        while size - position >= RecordBatchLayout.headerSize {
            let header = header(at: position)
            guard header.batchLength >= 49, position + header.totalSize <= size else { return false }
            note(header)
            last = header
            position += header.totalSize
        }
        guard position == size else { return false }
        nextOffset = last?.nextOffset ?? offsetIndex.lastOffset.map { $0 + 1 } ?? baseOffset
        if size > 0 && last == nil { return false }
        guard try timeIndex.load(lastOffset: nextOffset - 1) else { return false }
        if let lastTime = timeIndex.lastTimestamp, lastTime > largestTimestamp {
            largestTimestamp = lastTime
        }
        if size > 0 {
            firstBatchTimestamp = header(at: 0).maxTimestamp
            if largestTimestamp < 0 { largestTimestamp = FileSystem.modificationTimeMs(logPath) }
        }
        return true
    }

    /// Rebuilds both indexes by walking the batches.
    private func rebuildIndexes() throws {
        try offsetIndex.reset()
        try timeIndex.reset()
        largestTimestamp = -1
        offsetOfLargestTimestamp = -1
        bytesSinceLastIndexEntry = 0
        firstBatchTimestamp = nil
        nextOffset = baseOffset
        var position = 0
        while size - position >= RecordBatchLayout.headerSize {
            let header = header(at: position)
            guard header.batchLength >= 49, position + header.totalSize <= size else { break }
            try indexBatch(header, at: position)
            position += header.totalSize
        }
        if size > 0, largestTimestamp < 0 { largestTimestamp = FileSystem.modificationTimeMs(logPath) }
    }

    private func note(_ header: RecordBatchHeader) {
        if header.maxTimestamp > largestTimestamp {
            largestTimestamp = header.maxTimestamp
            offsetOfLargestTimestamp = header.lastOffset
        }
    }

    /// Updates the in-memory state and the indexes for a batch written at `position`.
    private func indexBatch(_ header: RecordBatchHeader, at position: Int) throws {
        if firstBatchTimestamp == nil { firstBatchTimestamp = header.maxTimestamp }
        note(header)
        nextOffset = header.nextOffset
        bytesSinceLastIndexEntry += header.totalSize
        if bytesSinceLastIndexEntry > indexIntervalBytes {
            try offsetIndex.append(offset: header.lastOffset, position: position)
            if largestTimestamp >= 0 {
                try timeIndex.maybeAppend(timestamp: largestTimestamp, offset: offsetOfLargestTimestamp)
            }
            bytesSinceLastIndexEntry = 0
        }
    }

    // MARK: Appending

    /// Whether appending `count` more bytes would overflow the segment or its relative offsets.
    func isFull(adding count: Int, lastOffset: Int64) -> Bool {
        guard size > 0 else { return false }
        return size + count > configuredSegmentBytes || lastOffset - baseOffset > Int64(Int32.max)
    }

    /// Grows the preallocated region (and the mapping, for an oversized first batch) so that
    /// `count` more bytes fit. Throws ``StorageError/diskFull(path:)`` before anything is written.
    func reserve(_ count: Int) throws {
        let needed = size + count
        if needed > allocatedSize {
            let growth = min(max(allocatedSize, Self.minimumPreallocation), Self.maximumPreallocation)
            var target = max(needed, allocatedSize + growth)
            target = min(target, max(needed, configuredSegmentBytes))
            do {
                try file.allocate(upTo: target, from: allocatedSize)
            } catch StorageError.diskFull(let path) where target > needed {
                // Not enough room for the whole chunk: take exactly what this append needs.
                try file.allocate(upTo: needed, from: allocatedSize)
                _ = path
                target = needed
            }
            if needed > mapping.length {
                mapping = try FileMapping(file: file, length: FileSystem.roundUpToPage(target))
            }
            allocatedSize = target
        }
    }

    /// Copies validated batches into the segment, rewriting each batch's base offset and leader
    /// epoch in place (both outside the CRC). With `logAppendTime`, also stamps the batch's max
    /// timestamp and timestamp-type bit and recomputes the CRC. Call ``reserve(_:)`` first.
    func append(
        _ records: RecordPieces, batches: [RecordBatchHeader], firstOffset: Int64,
        leaderEpoch: Int32, logAppendTime: Int64?
    ) throws {
        precondition(size + records.count <= allocatedSize, "reserve() must precede append()")
        // The bytes enter the file's page cache, which the shared mapping sees at once, by
        // pwrite rather than memcpy: a first write through the mapping faults each page in by
        // reading it (zero-filling the preallocated extent) before overwriting it, which
        // measured 3-4x slower here (Docs/performance.md). The in-place rewrites below go
        // through the mapping, on pages that are now cached.
        try file.write(records, at: size)
        let start = mapping.base + size
        var position = size
        var offset = firstOffset
        for var header in batches {
            let batch = start + (position - size)
            header.baseOffset = offset
            header.partitionLeaderEpoch = leaderEpoch
            batch.storeBytes(of: offset.bigEndian, toByteOffset: RecordBatchLayout.baseOffset, as: Int64.self)
            batch.storeBytes(of: leaderEpoch.bigEndian, toByteOffset: RecordBatchLayout.partitionLeaderEpoch, as: Int32.self)
            if let now = logAppendTime {
                header.maxTimestamp = now
                header.attributes.rawValue |= 0x08
                batch.storeBytes(of: now.bigEndian, toByteOffset: RecordBatchLayout.maxTimestamp, as: Int64.self)
                batch.storeBytes(of: header.attributes.rawValue.bigEndian, toByteOffset: RecordBatchLayout.attributes, as: Int16.self)
                let crc = CRC32C.checksum(UnsafeRawBufferPointer(
                    start: batch + RecordBatchLayout.attributes, count: header.totalSize - RecordBatchLayout.attributes))
                batch.storeBytes(of: crc.bigEndian, toByteOffset: RecordBatchLayout.crc, as: UInt32.self)
            }
            try indexBatch(header, at: position)
            position += header.totalSize
            offset = header.nextOffset
        }
        size = position
    }

    // MARK: Reading

    /// The position and header of the first batch whose last offset is at least `offset`.
    func translate(_ offset: Int64) -> (position: Int, header: RecordBatchHeader)? {
        var position = offsetIndex.lookup(offset)
        while size - position >= RecordBatchLayout.headerSize {
            let header = header(at: position)
            if header.lastOffset >= offset { return (position, header) }
            position += header.totalSize
        }
        return nil
    }

    /// Calls `body` with the header of every batch whose last offset is at least `offset`.
    func forEachBatch(from offset: Int64, _ body: (RecordBatchHeader) -> Void) {
        guard var (position, _) = translate(offset) else { return }
        while size - position >= RecordBatchLayout.headerSize {
            let header = header(at: position)
            body(header)
            position += header.totalSize
        }
    }

    /// Whole batches starting with the one that holds `offset`, up to `maxBytes` (the first
    /// batch is returned whole even if larger, as Kafka does since KIP-74).
    func read(from offset: Int64, maxBytes: Int) -> LogSlice? {
        guard let (start, first) = translate(offset) else { return nil }
        var end = start + first.totalSize
        var last = first
        while size - end >= RecordBatchLayout.headerSize {
            let next = header(at: end)
            guard end + next.totalSize - start <= maxBytes else { break }
            end += next.totalSize
            last = next
        }
        return LogSlice(
            file: file, segmentBaseOffset: baseOffset, position: start, length: end - start,
            firstOffset: first.baseOffset, lastOffset: last.lastOffset)
    }

    /// Copies bytes of the segment out of the mapping.
    func copyBytes(position: Int, length: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: mapping.base + position, count: max(0, min(length, size - position))))
    }

    /// The first record with a timestamp at or after `timestamp`, decoding the candidate batches.
    func findOffset(forTimestamp timestamp: Int64, from startOffset: Int64) throws -> (offset: Int64, timestamp: Int64)? {
        guard largestTimestamp >= timestamp else { return nil }
        let hint = timeIndex.lastOffset(before: timestamp).map { $0 + 1 } ?? baseOffset
        guard var (position, _) = translate(max(hint, startOffset)) else { return nil }
        while size - position >= RecordBatchLayout.headerSize {
            let header = header(at: position)
            if header.maxTimestamp >= timestamp {
                let batch = try RecordBatchDecoder.decode(
                    UnsafeRawBufferPointer(start: mapping.base + position, count: header.totalSize))
                if let record = batch.records.first(where: { $0.timestamp >= timestamp && $0.offset >= startOffset }) {
                    return (record.offset, record.timestamp)
                }
            }
            position += header.totalSize
        }
        return nil
    }

    // MARK: Lifecycle

    /// Finishes the segment as an inactive one: a last time-index entry, and the file cut to its data.
    func seal() throws {
        if largestTimestamp >= 0, offsetOfLargestTimestamp >= 0 {
            try timeIndex.maybeAppend(timestamp: largestTimestamp, offset: offsetOfLargestTimestamp)
        }
        if allocatedSize != size {
            try file.truncate(to: size)
            allocatedSize = size
        }
        offsetIndex.closeFile()
        timeIndex.closeFile()
    }

    /// Removes the segment's files. Readers holding its ``SegmentFile`` can still read.
    func delete() throws {
        try FileSystem.remove(logPath)
        try FileSystem.remove(offsetIndex.file.path)
        try FileSystem.remove(timeIndex.file.path)
    }
}

/// A contiguous byte range of one segment file holding whole batches: what a fetch sends,
/// with `sendfile` from ``file`` or by copying.
public struct LogSlice: Sendable {
    /// The segment's `.log` file, kept open as long as the slice lives.
    public let file: SegmentFile
    public let segmentBaseOffset: Int64
    /// Byte position of the first batch in the file.
    public let position: Int
    /// Byte count of the whole batches.
    public let length: Int
    /// The base offset of the first batch (may be below the requested offset).
    public let firstOffset: Int64
    /// The last offset of the last batch.
    public let lastOffset: Int64

    /// The slice's bytes, read from the file.
    public func readBytes() throws -> [UInt8] { try file.read(at: position, count: length) }
}
