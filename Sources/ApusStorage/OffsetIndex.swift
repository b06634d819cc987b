import ApusRecord

/// A segment's sparse offset index (`.index`), in Kafka's format: 8-byte entries of
/// (offset − base offset as int32, byte position in the `.log` as int32), big-endian, in
/// increasing order. An entry names the last offset of a batch and the batch's start
/// position, so a lookup lands on or before the batch that holds the target offset.
///
/// Entries are kept in memory for lookups and appended to the file as they are made; the
/// file is rebuilt from the log whenever it is missing or fails the sanity check. The file is
/// kept open only while its segment is active (see ``IndexFile``), so a broker with many
/// partitions holds one descriptor per closed segment (its `.log`), not three.
struct OffsetIndex {
    static let entrySize = 8
    let baseOffset: Int64
    private(set) var file: IndexFile
    private(set) var relativeOffsets: [UInt32] = []
    private(set) var positions: [UInt32] = []

    /// The index at `path`, created empty if missing.
    init(path: String, baseOffset: Int64) throws {
        self.baseOffset = baseOffset
        self.file = try IndexFile(path: path)
    }

    var count: Int { relativeOffsets.count }
    var lastOffset: Int64? { relativeOffsets.last.map { baseOffset + Int64($0) } }

    /// Loads the entries from disk; false when the file is not a sane index for a log of
    /// `logSize` bytes (the caller then rebuilds it).
    mutating func load(logSize: Int) throws -> Bool {
        let size = try file.size()
        guard size % Self.entrySize == 0 else { return false }
        let bytes = try file.read(at: 0, count: size)
        var offsets: [UInt32] = []
        var positions: [UInt32] = []
        offsets.reserveCapacity(size / Self.entrySize)
        positions.reserveCapacity(size / Self.entrySize)
        let sane = bytes.withUnsafeBytes { raw -> Bool in
            for index in 0..<(size / Self.entrySize) {
                let relative = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: index * 8, as: UInt32.self))
                let position = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: index * 8 + 4, as: UInt32.self))
                if let last = offsets.last, relative <= last || position <= positions.last! { return false }
                if Int(position) >= logSize || relative > UInt32(Int32.max) { return false }
                offsets.append(relative)
                positions.append(position)
            }
            return true
        }
        guard sane else { return false }
        self.relativeOffsets = offsets
        self.positions = positions
        return true
    }

    /// Appends an entry for a batch ending at `offset` that starts at `position`.
    mutating func append(offset: Int64, position: Int) throws {
        let relative = UInt32(offset - baseOffset)
        if let last = relativeOffsets.last, relative <= last { return }
        // The entry is written from the stack: an index entry costs no allocation.
        var entry = (relative.bigEndian, UInt32(position).bigEndian)
        try withUnsafeBytes(of: &entry) { try file.write($0, at: relativeOffsets.count * Self.entrySize) }
        relativeOffsets.append(relative)
        positions.append(UInt32(position))
    }

    /// The position of the last indexed batch that ends at or before `offset`, or 0: a place to
    /// start scanning forward for the batch holding `offset`.
    func lookup(_ offset: Int64) -> Int {
        guard offset >= baseOffset else { return 0 }
        let target = UInt32(clamping: offset - baseOffset)
        var low = 0
        var high = relativeOffsets.count
        while low < high {
            let mid = (low + high) / 2
            if relativeOffsets[mid] <= target { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? 0 : Int(positions[low - 1])
    }

    /// Closes the descriptor kept open for appends (the segment is sealed).
    mutating func closeFile() { file.close() }

    /// Drops every entry and empties the file.
    mutating func reset() throws {
        try file.truncate(to: 0)
        relativeOffsets.removeAll()
        positions.removeAll()
    }
}

/// A segment's time index (`.timeindex`), in Kafka's format: 12-byte entries of (timestamp as
/// int64, offset − base offset as int32), big-endian. Timestamps increase strictly: an entry
/// says every record up to that offset has a timestamp at most that high.
struct TimeIndex {
    static let entrySize = 12
    let baseOffset: Int64
    private(set) var file: IndexFile
    private(set) var timestamps: [Int64] = []
    private(set) var relativeOffsets: [UInt32] = []

    init(path: String, baseOffset: Int64) throws {
        self.baseOffset = baseOffset
        self.file = try IndexFile(path: path)
    }

    var lastTimestamp: Int64? { timestamps.last }

    mutating func load(lastOffset: Int64) throws -> Bool {
        let size = try file.size()
        guard size % Self.entrySize == 0 else { return false }
        let bytes = try file.read(at: 0, count: size)
        var times: [Int64] = []
        var offsets: [UInt32] = []
        let sane = bytes.withUnsafeBytes { raw -> Bool in
            for index in 0..<(size / Self.entrySize) {
                let time = Int64(bigEndian: raw.loadUnaligned(fromByteOffset: index * 12, as: Int64.self))
                let relative = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: index * 12 + 8, as: UInt32.self))
                if let last = times.last, time <= last || relative < offsets.last! { return false }
                if baseOffset + Int64(relative) > lastOffset { return false }
                times.append(time)
                offsets.append(relative)
            }
            return true
        }
        guard sane else { return false }
        timestamps = times
        relativeOffsets = offsets
        return true
    }

    /// Appends (timestamp, offset) if the timestamp is higher than the last entry's.
    mutating func maybeAppend(timestamp: Int64, offset: Int64) throws {
        if let last = timestamps.last, timestamp <= last { return }
        let relative = UInt32(offset - baseOffset)
        var entry = (timestamp.bigEndian, relative.bigEndian)  // 12 bytes, no padding between
        try withUnsafeBytes(of: &entry) { try file.write($0, at: timestamps.count * Self.entrySize) }
        timestamps.append(timestamp)
        relativeOffsets.append(relative)
    }

    /// The offset of the last entry whose timestamp is below `timestamp`: every record up to it
    /// is older than `timestamp`, so a search can start after it. Nil if there is none.
    func lastOffset(before timestamp: Int64) -> Int64? {
        var low = 0
        var high = timestamps.count
        while low < high {
            let mid = (low + high) / 2
            if timestamps[mid] < timestamp { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? nil : baseOffset + Int64(relativeOffsets[low - 1])
    }

    /// Closes the descriptor kept open for appends (the segment is sealed).
    mutating func closeFile() { file.close() }

    mutating func reset() throws {
        try file.truncate(to: 0)
        timestamps.removeAll()
        relativeOffsets.removeAll()
    }
}

/// An index file. Appends (only the active segment's index gets them) open it once and keep
/// it open until ``close()``, called when the segment is sealed, so an index entry costs one
/// `pwrite` (an open and close per entry was a path lookup and two system calls more per
/// produced batch); other operations open it for their duration.
struct IndexFile {
    let path: String
    private var writer: SegmentFile?

    init(path: String) throws {
        self.path = path
        if !FileSystem.exists(path) { _ = try SegmentFile(path: path, create: true) }
    }

    private func handle() throws -> SegmentFile { try writer ?? SegmentFile(path: path, create: true) }

    func size() throws -> Int { try handle().size() }
    func read(at position: Int, count: Int) throws -> [UInt8] { try handle().read(at: position, count: count) }
    mutating func write(_ bytes: UnsafeRawBufferPointer, at position: Int) throws {
        if writer == nil { writer = try SegmentFile(path: path, create: true) }
        try writer!.write(bytes, at: position)
    }
    func truncate(to length: Int) throws { try handle().truncate(to: length) }
    /// Closes the descriptor kept for appends, if any.
    mutating func close() { writer = nil }
}
