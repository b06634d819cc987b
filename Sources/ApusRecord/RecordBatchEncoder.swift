/// Writes record batches v2 as producers send them: offsets deltas 0..n-1 from `baseOffset`,
/// timestamps as deltas from the first record's, the records region compressed whole.
///
/// The records region is built by a ``RecordBatchBuilder``; the encoder adds the header and
/// the compression, so a producer can encode each record once, when it is added, and decide the
/// producer id, epoch and sequence only when the batch is sent (as Kafka's `MemoryRecordsBuilder`).
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
        var builder = RecordBatchBuilder()
        for record in records { builder.append(record) }
        return try encode(builder)
    }

    /// Encodes the records `builder` holds into one batch: header, then the records region,
    /// compressed by ``compression``, written straight after the header.
    public func encode(_ builder: RecordBatchBuilder) throws -> [UInt8] {
        if let bound = maximumEncodedSize(of: builder) {
            return try [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
                count = try encode(builder, into: UnsafeMutableRawBufferPointer(buffer))
            }
        }
        var batch = [UInt8](repeating: 0, count: RecordBatchLayout.headerSize)
        batch.append(contentsOf: try builder.records.withUnsafeBytes { try Compression.compress($0, codec: compression) })
        batch.withUnsafeMutableBytes { writeHeader(of: builder, into: $0) }
        return batch
    }

    /// The most bytes ``encode(_:into:)`` writes for `builder`; nil for a codec it does not
    /// write in place (gzip: use ``encode(_:)``).
    public func maximumEncodedSize(of builder: RecordBatchBuilder) -> Int? {
        switch compression {
        case .lz4: RecordBatchLayout.headerSize + Compression.lz4CompressBound(builder.records.count)
        case .none: RecordBatchLayout.headerSize + builder.records.count
        default: nil
        }
    }

    /// Encodes the batch into `output`, at least ``maximumEncodedSize(of:)`` bytes, so a caller
    /// can compress straight into its send buffer; returns the bytes written. Without
    /// `checksum` the CRC is left unset, for a caller that stamps the batch later
    /// (``stampProducerState(_:)`` computes it then).
    public func encode(
        _ builder: RecordBatchBuilder, into output: UnsafeMutableRawBufferPointer, checksum: Bool = true
    ) throws -> Int {
        let headerSize = RecordBatchLayout.headerSize
        guard let bound = maximumEncodedSize(of: builder), output.count >= bound else {
            throw RecordError.compressionFailed("no room to encode a \(compression) batch in place")
        }
        let body = UnsafeMutableRawBufferPointer(rebasing: output[headerSize...])
        let bodySize = try builder.records.withUnsafeBytes { region in
            switch compression {
            case .lz4: return try Compression.lz4Compress(region, into: body)
            default:
                body.copyMemory(from: region)
                return region.count
            }
        }
        let batch = UnsafeMutableRawBufferPointer(rebasing: output[..<(headerSize + bodySize)])
        writeHeader(of: builder, into: batch, checksum: checksum)
        return batch.count
    }

    /// Writes the header of the batch in `raw` (header and records region) and its CRC.
    private func writeHeader(of builder: RecordBatchBuilder, into raw: UnsafeMutableRawBufferPointer, checksum: Bool = true) {
        func store<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            raw.storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self)
        }
        store(baseOffset, at: RecordBatchLayout.baseOffset)
        store(Int32(raw.count - RecordBatchLayout.logOverhead), at: RecordBatchLayout.batchLength)
        store(partitionLeaderEpoch, at: RecordBatchLayout.partitionLeaderEpoch)
        store(RecordBatchLayout.currentMagic, at: RecordBatchLayout.magic)
        let attributes = RecordBatchAttributes(
            compression: compression, timestampType: timestampType, isTransactional: isTransactional)
        store(attributes.rawValue, at: RecordBatchLayout.attributes)
        store(Int32(max(builder.recordCount - 1, 0)), at: RecordBatchLayout.lastOffsetDelta)
        store(builder.baseTimestamp, at: RecordBatchLayout.baseTimestamp)
        store(builder.maxTimestamp, at: RecordBatchLayout.maxTimestamp)
        store(producerId, at: RecordBatchLayout.producerId)
        store(producerEpoch, at: RecordBatchLayout.producerEpoch)
        store(baseSequence, at: RecordBatchLayout.baseSequence)
        store(Int32(builder.recordCount), at: RecordBatchLayout.recordCount)
        if checksum { Self.updateChecksum(raw) } else { store(UInt32(0), at: RecordBatchLayout.crc) }
    }

    /// Sets the producer id, epoch and base sequence of the encoded batch at the start of
    /// `batch` and recomputes its CRC: a batch can be compressed before its sequence is known.
    public func stampProducerState(_ batch: inout [UInt8]) {
        batch.withUnsafeMutableBytes { stampProducerState($0) }
    }

    /// The same, on bytes in place (a batch already in its send buffer).
    public func stampProducerState(_ batch: UnsafeMutableRawBufferPointer) {
        batch.storeBytes(of: producerId.bigEndian, toByteOffset: RecordBatchLayout.producerId, as: Int64.self)
        batch.storeBytes(of: producerEpoch.bigEndian, toByteOffset: RecordBatchLayout.producerEpoch, as: Int16.self)
        batch.storeBytes(of: baseSequence.bigEndian, toByteOffset: RecordBatchLayout.baseSequence, as: Int32.self)
        Self.updateChecksum(batch)
    }

    /// Recomputes the CRC of the batch at the start of `batch` (after changing fields it covers).
    public static func updateChecksum(_ batch: inout [UInt8]) {
        batch.withUnsafeMutableBytes { updateChecksum($0) }
    }

    /// The same, on bytes in place.
    public static func updateChecksum(_ batch: UnsafeMutableRawBufferPointer) {
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: batch[RecordBatchLayout.attributes...]))
        batch.storeBytes(of: crc.bigEndian, toByteOffset: RecordBatchLayout.crc, as: UInt32.self)
    }

    /// Bytes the record takes in a batch, its length varint included.
    public static func encodedSize(of record: Record, baseTimestamp: Int64, offsetDelta: Int32) -> Int {
        let body = RecordBatchBuilder.bodySize(
            timestampDelta: record.timestamp &- baseTimestamp, offsetDelta: offsetDelta,
            key: record.key, value: record.value, headers: record.headers)
        return Varint.size(Int64(body)) + body
    }
}

/// The uncompressed records region of one batch, encoded as records are added: each record is
/// copied once, into one growing buffer, and the batch needs no list of records to encode.
public struct RecordBatchBuilder: Sendable {
    /// Records added so far; the next one gets this offset delta.
    public private(set) var recordCount = 0
    /// The first record's timestamp (-1 while empty); the others are written as deltas from it.
    public private(set) var baseTimestamp: Int64 = -1
    /// The largest timestamp added (-1 while empty).
    public private(set) var maxTimestamp: Int64 = -1
    /// The encoded records, uncompressed.
    public private(set) var records: [UInt8] = []

    /// An empty region with room for `capacity` bytes before it grows.
    public init(capacity: Int = 0) {
        records.reserveCapacity(capacity)
    }

    /// An empty region that writes into the allocation of `storage` (its bytes are dropped; it
    /// is left nil), with room for at least `capacity` bytes: a producer reuses the buffer of a
    /// batch it sent, whose pages are already mapped, instead of faulting in a fresh one. If the
    /// buffer is still shared, dropping its bytes allocates anew, as ``init(capacity:)`` does.
    /// (A done batch's buffer is its ``records``.)
    public init(reusing storage: inout [UInt8]?, capacity: Int) {
        if var buffer = storage.take() {
            buffer.removeAll(keepingCapacity: true)
            records = consume buffer
        }
        records.reserveCapacity(capacity)
    }

    /// The size of the batch if sent uncompressed: header and records.
    public var uncompressedBatchSize: Int { RecordBatchLayout.headerSize + records.count }

    /// At most the bytes a record with these fields adds, whatever its timestamp and position
    /// (each varint at its widest), so a caller can check room before encoding.
    public static func maximumEncodedSize(keyCount: Int?, valueCount: Int?, headers: [RecordHeader]) -> Int {
        // length (5) + attributes (1) + timestamp delta (10) + offset delta (5) + key and value lengths (5 + 5)
        // + header count (5)
        var size = 36 + (keyCount ?? 0) + (valueCount ?? 0)
        for header in headers { size += 10 + header.key.utf8.count + (header.value?.count ?? 0) }
        return size
    }

    /// Appends a record; returns its offset delta in the batch.
    @discardableResult
    public mutating func append(timestamp: Int64, key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader] = []) -> Int {
        if recordCount == 0 {
            baseTimestamp = timestamp
            maxTimestamp = timestamp
        }
        maxTimestamp = Swift.max(maxTimestamp, timestamp)
        let offsetDelta = recordCount
        let timestampDelta = timestamp &- baseTimestamp
        let body = Self.bodySize(
            timestampDelta: timestampDelta, offsetDelta: Int32(truncatingIfNeeded: offsetDelta), key: key, value: value, headers: headers)
        records.appendVarint(Int64(body))
        records.append(0)  // record attributes, unused
        records.appendVarint(timestampDelta)
        records.appendVarint(Int64(offsetDelta))
        Self.appendNullableBytes(key, to: &records)
        Self.appendNullableBytes(value, to: &records)
        records.appendVarint(Int64(headers.count))
        for header in headers {
            records.appendVarint(Int64(header.key.utf8.count))
            records.append(contentsOf: header.key.utf8)
            Self.appendNullableBytes(header.value, to: &records)
        }
        recordCount += 1
        return offsetDelta
    }

    /// Appends a record (its offset is ignored); returns its offset delta in the batch.
    @discardableResult
    public mutating func append(_ record: Record) -> Int {
        append(timestamp: record.timestamp, key: record.key, value: record.value, headers: record.headers)
    }

    static func bodySize(
        timestampDelta: Int64, offsetDelta: Int32, key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader]
    ) -> Int {
        var size = 1  // attributes
        size += Varint.size(timestampDelta)
        size += Varint.size(Int64(offsetDelta))
        size += Varint.size(Int64(key?.count ?? -1)) + (key?.count ?? 0)
        size += Varint.size(Int64(value?.count ?? -1)) + (value?.count ?? 0)
        size += Varint.size(Int64(headers.count))
        for header in headers {
            let keyCount = header.key.utf8.count
            size += Varint.size(Int64(keyCount)) + keyCount
            size += Varint.size(Int64(header.value?.count ?? -1)) + (header.value?.count ?? 0)
        }
        return size
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
