/// Writes record batches v2 as producers send them: offsets deltas 0..n-1 from `baseOffset`,
/// timestamps as deltas from the first record's, the records region compressed whole.
public struct RecordBatchEncoder: Sendable {
    public var baseOffset: Int64 = 0
    public var partitionLeaderEpoch: Int32 = -1
    public var compression: CompressionCodec = .none
    public var timestampType: TimestampType = .createTime
    public var isTransactional = false
    public var producerId: Int64 = -1
    public var producerEpoch: Int16 = -1
    public var baseSequence: Int32 = -1

    public init(
        baseOffset: Int64 = 0, compression: CompressionCodec = .none, producerId: Int64 = -1,
        producerEpoch: Int16 = -1, baseSequence: Int32 = -1
    ) {
        self.baseOffset = baseOffset
        self.compression = compression
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
    }

    /// Encodes `records` into one batch. Each record's offset is ignored: the i-th record gets
    /// offset delta i. An empty batch is valid and gets baseTimestamp -1, as Kafka writes it.
    public func encode(_ records: [Record]) throws -> [UInt8] {
        let baseTimestamp = records.first?.timestamp ?? -1
        let maxTimestamp = records.lazy.map(\.timestamp).max() ?? -1

        var body: [UInt8] = []
        body.reserveCapacity(records.reduce(0) { $0 + Self.encodedSize(of: $1, baseTimestamp: baseTimestamp, offsetDelta: 0) + 5 })
        for (index, record) in records.enumerated() {
            Self.append(record, offsetDelta: Int32(index), baseTimestamp: baseTimestamp, to: &body)
        }
        if compression != .none {
            body = try body.withUnsafeBytes { (raw) throws -> [UInt8] in
                try Compression.compress(raw, codec: compression)
            }
        }

        var batch: [UInt8] = []
        batch.reserveCapacity(RecordBatchLayout.headerSize + body.count)
        batch.appendBigEndian(baseOffset)
        batch.appendBigEndian(Int32(RecordBatchLayout.headerSize - RecordBatchLayout.logOverhead + body.count))
        batch.appendBigEndian(partitionLeaderEpoch)
        batch.append(UInt8(bitPattern: RecordBatchLayout.currentMagic))
        batch.appendBigEndian(UInt32(0))  // CRC, filled in below
        let attributes = RecordBatchAttributes(
            compression: compression, timestampType: timestampType, isTransactional: isTransactional)
        batch.appendBigEndian(attributes.rawValue)
        batch.appendBigEndian(Int32(max(records.count - 1, 0)))
        batch.appendBigEndian(baseTimestamp)
        batch.appendBigEndian(maxTimestamp)
        batch.appendBigEndian(producerId)
        batch.appendBigEndian(producerEpoch)
        batch.appendBigEndian(baseSequence)
        batch.appendBigEndian(Int32(records.count))
        batch.append(contentsOf: body)
        RecordBatchEncoder.updateChecksum(&batch)
        return batch
    }

    /// Recomputes the CRC of the batch at the start of `batch` (after changing fields it covers).
    public static func updateChecksum(_ batch: inout [UInt8]) {
        batch.withUnsafeMutableBytes { raw in
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[RecordBatchLayout.attributes...]))
            raw.storeBytes(of: crc.bigEndian, toByteOffset: RecordBatchLayout.crc, as: UInt32.self)
        }
    }

    static func bodySize(of record: Record, baseTimestamp: Int64, offsetDelta: Int32) -> Int {
        var size = 1  // attributes
        size += Varint.size(record.timestamp &- baseTimestamp)
        size += Varint.size(Int64(offsetDelta))
        size += Varint.size(Int64(record.key?.count ?? -1)) + (record.key?.count ?? 0)
        size += Varint.size(Int64(record.value?.count ?? -1)) + (record.value?.count ?? 0)
        size += Varint.size(Int64(record.headers.count))
        for header in record.headers {
            let keyCount = header.key.utf8.count
            size += Varint.size(Int64(keyCount)) + keyCount
            size += Varint.size(Int64(header.value?.count ?? -1)) + (header.value?.count ?? 0)
        }
        return size
    }

    /// Bytes the record takes in a batch, its length varint included.
    public static func encodedSize(of record: Record, baseTimestamp: Int64, offsetDelta: Int32) -> Int {
        let body = bodySize(of: record, baseTimestamp: baseTimestamp, offsetDelta: offsetDelta)
        return Varint.size(Int64(body)) + body
    }

    static func append(_ record: Record, offsetDelta: Int32, baseTimestamp: Int64, to out: inout [UInt8]) {
        out.appendVarint(Int64(bodySize(of: record, baseTimestamp: baseTimestamp, offsetDelta: offsetDelta)))
        out.append(0)  // record attributes, unused
        out.appendVarint(record.timestamp &- baseTimestamp)
        out.appendVarint(Int64(offsetDelta))
        appendNullableBytes(record.key, to: &out)
        appendNullableBytes(record.value, to: &out)
        out.appendVarint(Int64(record.headers.count))
        for header in record.headers {
            out.appendVarint(Int64(header.key.utf8.count))
            out.append(contentsOf: header.key.utf8)
            appendNullableBytes(header.value, to: &out)
        }
    }

    static func appendNullableBytes(_ bytes: [UInt8]?, to out: inout [UInt8]) {
        if let bytes {
            out.appendVarint(Int64(bytes.count))
            out.append(contentsOf: bytes)
        } else {
            out.appendVarint(-1)
        }
    }
}
