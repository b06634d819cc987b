/// Byte positions of Kafka's record batch v2 header (61 bytes, big-endian), the one place
/// the layout is written down; see Kafka's `DefaultRecordBatch`:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | baseOffset (assigned by the broker; outside the CRC) |
/// | 8 | 4 | batchLength: bytes after this field (total size − 12) |
/// | 12 | 4 | partitionLeaderEpoch (set by the broker; outside the CRC) |
/// | 16 | 1 | magic = 2 |
/// | 17 | 4 | crc: CRC-32C of bytes 21..end |
/// | 21 | 2 | attributes |
/// | 23 | 4 | lastOffsetDelta |
/// | 27 | 8 | baseTimestamp |
/// | 35 | 8 | maxTimestamp |
/// | 43 | 8 | producerId |
/// | 51 | 2 | producerEpoch |
/// | 53 | 4 | baseSequence |
/// | 57 | 4 | recordCount |
/// | 61 | … | records, or one compressed stream of them |
public enum RecordBatchLayout {
    public static let baseOffset = 0
    public static let batchLength = 8
    public static let partitionLeaderEpoch = 12
    public static let magic = 16
    public static let crc = 17
    public static let attributes = 21
    public static let lastOffsetDelta = 23
    public static let baseTimestamp = 27
    public static let maxTimestamp = 35
    public static let producerId = 43
    public static let producerEpoch = 51
    public static let baseSequence = 53
    public static let recordCount = 57
    /// Size of the header; the records region starts here.
    public static let headerSize = 61
    /// baseOffset and batchLength: the bytes not counted by batchLength (Kafka's LOG_OVERHEAD).
    public static let logOverhead = 12
    /// The only magic value stored.
    public static let currentMagic: Int8 = 2
}

/// The timestamp type of a batch (attribute bit 3).
public enum TimestampType: Sendable, Equatable {
    case createTime
    case logAppendTime
}

/// The attributes field of a record batch.
public struct RecordBatchAttributes: Sendable, Equatable {
    public var rawValue: Int16

    public init(rawValue: Int16) { self.rawValue = rawValue }

    public init(
        compression: CompressionCodec = .none, timestampType: TimestampType = .createTime,
        isTransactional: Bool = false, isControl: Bool = false
    ) {
        var raw = compression.rawValue
        if timestampType == .logAppendTime { raw |= 0x08 }
        if isTransactional { raw |= 0x10 }
        if isControl { raw |= 0x20 }
        self.rawValue = raw
    }

    /// The codec id in bits 0-2; nil for ids Kafka does not define (5-7).
    public var compression: CompressionCodec? { CompressionCodec(rawValue: rawValue & 0x07) }
    public var timestampType: TimestampType { rawValue & 0x08 != 0 ? .logAppendTime : .createTime }
    public var isTransactional: Bool { rawValue & 0x10 != 0 }
    public var isControl: Bool { rawValue & 0x20 != 0 }
    public var hasDeleteHorizon: Bool { rawValue & 0x40 != 0 }
}

/// The 61-byte header of a record batch, read from bytes whose length and CRC were checked.
public struct RecordBatchHeader: Sendable, Equatable {
    public var baseOffset: Int64
    public var batchLength: Int32
    public var partitionLeaderEpoch: Int32
    public var magic: Int8
    public var crc: UInt32
    public var attributes: RecordBatchAttributes
    public var lastOffsetDelta: Int32
    public var baseTimestamp: Int64
    public var maxTimestamp: Int64
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var recordCount: Int32

    /// Total bytes of the batch, header included.
    public var totalSize: Int { Int(batchLength) + RecordBatchLayout.logOverhead }
    /// The offset of the batch's last record.
    /// (Wrapping: a hostile header must not trap; ``RecordBatchDecoder`` rejects such batches.)
    public var lastOffset: Int64 { baseOffset &+ Int64(lastOffsetDelta) }
    /// The offset after the batch.
    public var nextOffset: Int64 { lastOffset &+ 1 }

    /// Reads the header fields of the batch at the start of `bytes` without any check but
    /// that 61 bytes are there. Use ``validated(_:)`` for bytes from outside.
    public init(unchecked bytes: UnsafeRawBufferPointer) {
        func load<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            T(bigEndian: bytes.loadUnaligned(fromByteOffset: at, as: T.self))
        }
        typealias L = RecordBatchLayout
        baseOffset = load(L.baseOffset, Int64.self)
        batchLength = load(L.batchLength, Int32.self)
        partitionLeaderEpoch = load(L.partitionLeaderEpoch, Int32.self)
        magic = Int8(bitPattern: bytes[L.magic])
        crc = load(L.crc, UInt32.self)
        attributes = RecordBatchAttributes(rawValue: load(L.attributes, Int16.self))
        lastOffsetDelta = load(L.lastOffsetDelta, Int32.self)
        baseTimestamp = load(L.baseTimestamp, Int64.self)
        maxTimestamp = load(L.maxTimestamp, Int64.self)
        producerId = load(L.producerId, Int64.self)
        producerEpoch = load(L.producerEpoch, Int16.self)
        baseSequence = load(L.baseSequence, Int32.self)
        recordCount = load(L.recordCount, Int32.self)
    }

    /// Checks the batch at the start of `bytes`: enough bytes for its declared length, a sane
    /// length, magic 2 and a matching CRC-32C. Bytes after the batch are ignored.
    public static func validated(_ bytes: UnsafeRawBufferPointer) throws -> RecordBatchHeader {
        let header = try peek(bytes)
        let computed = CRC32C.checksum(
            UnsafeRawBufferPointer(rebasing: bytes[RecordBatchLayout.attributes..<header.totalSize]))
        guard computed == header.crc else { throw RecordError.checksumMismatch(expected: header.crc, computed: computed) }
        return header
    }

    /// Checks the batch at the start of a byte array.
    public static func validated(_ bytes: [UInt8]) throws -> RecordBatchHeader {
        try bytes.withUnsafeBytes { try validated($0) }
    }

    /// Checks length and magic, but not the CRC: enough to step over a batch.
    public static func peek(_ bytes: UnsafeRawBufferPointer) throws -> RecordBatchHeader {
        try peek(bytes, available: bytes.count)
    }

    /// ``peek(_:)`` for a batch whose bytes are not all in one buffer: `headerBytes` starts
    /// with its header, and `available` bytes of it (and of what follows) are there in all.
    public static func peek(_ headerBytes: UnsafeRawBufferPointer, available: Int) throws -> RecordBatchHeader {
        typealias L = RecordBatchLayout
        guard headerBytes.count >= L.headerSize, available >= L.headerSize else {
            throw RecordError.truncated(needed: L.headerSize, available: min(headerBytes.count, available))
        }
        let header = RecordBatchHeader(unchecked: headerBytes)
        guard header.batchLength >= Int32(L.headerSize - L.logOverhead) else {
            throw RecordError.invalidLength("batchLength \(header.batchLength) is smaller than the header")
        }
        guard header.magic == L.currentMagic else { throw RecordError.unsupportedMagic(header.magic) }
        guard header.totalSize <= available else {
            throw RecordError.truncated(needed: header.totalSize, available: available)
        }
        return header
    }
}

/// One header of a record: a string key and bytes, or null.
public struct RecordHeader: Sendable, Equatable, Hashable {
    public var key: String
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}

/// One record as a reader sees it: absolute offset and timestamp, key, value and headers.
public struct Record: Sendable, Equatable, Hashable {
    public var offset: Int64
    public var timestamp: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [RecordHeader]

    public init(
        offset: Int64 = 0, timestamp: Int64, key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader] = []
    ) {
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// A decoded record batch: its header and its records.
public struct RecordBatch: Sendable, Equatable {
    public var header: RecordBatchHeader
    public var records: [Record]
}
