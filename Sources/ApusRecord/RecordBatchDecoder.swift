/// Reads record batches v2: checks the header and CRC, decompresses, and parses every record,
/// rejecting records that contradict their declared lengths or the batch's record count.
public enum RecordBatchDecoder {
    /// Decodes the batch at the start of `bytes`.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, maxDecompressedBytes: Int = Compression.defaultMaxDecompressedBytes
    ) throws -> RecordBatch {
        let header = try RecordBatchHeader.validated(bytes)
        let region = UnsafeRawBufferPointer(rebasing: bytes[RecordBatchLayout.headerSize..<header.totalSize])
        guard let codec = header.attributes.compression else {
            throw RecordError.unsupportedCompression(header.attributes.rawValue & 0x07)
        }
        let records = try Compression.withDecompressed(region, codec: codec, maxOutputBytes: maxDecompressedBytes) {
            try parseRecords($0, header: header)
        }
        return RecordBatch(header: header, records: records)
    }

    /// Decodes the batch at the start of `bytes`.
    public static func decode(_ bytes: [UInt8]) throws -> RecordBatch {
        try bytes.withUnsafeBytes { (raw) throws -> RecordBatch in try decode(raw) }
    }

    /// Decodes every whole batch in a run of concatenated batches (a log segment slice or a
    /// fetch response's records). A partial batch at the end is ignored, as consumers do.
    public static func decodeAll(_ bytes: UnsafeRawBufferPointer) throws -> [RecordBatch] {
        var batches: [RecordBatch] = []
        var position = 0
        while bytes.count - position >= RecordBatchLayout.headerSize {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[position...])
            let header = RecordBatchHeader(unchecked: rest)
            if header.batchLength >= 0 && header.totalSize > rest.count { break }  // partial tail
            batches.append(try decode(rest))
            position += header.totalSize
        }
        return batches
    }

    public static func decodeAll(_ bytes: [UInt8]) throws -> [RecordBatch] {
        try bytes.withUnsafeBytes { (raw) throws -> [RecordBatch] in try decodeAll(raw) }
    }

    static func parseRecords(_ region: UnsafeRawBufferPointer, header: RecordBatchHeader) throws -> [Record] {
        let count = Int(header.recordCount)
        guard count >= 0 else { throw RecordError.invalidRecord("negative record count \(count)") }
        guard header.lastOffsetDelta >= 0, header.baseOffset >= 0,
            header.baseOffset <= Int64.max - Int64(header.lastOffsetDelta) - 1
        else {
            throw RecordError.invalidRecord("offsets \(header.baseOffset) + \(header.lastOffsetDelta) are out of range")
        }
        // Every record takes at least 7 bytes; a larger count than that allows is a lie.
        guard count <= region.count / 7 + 1 else {
            throw RecordError.invalidRecord("record count \(count) does not fit in \(region.count) bytes")
        }
        var reader = ByteReader(region)
        var records: [Record] = []
        records.reserveCapacity(count)
        let logAppendTime = header.attributes.timestampType == .logAppendTime
        for _ in 0..<count {
            let length = Int(try reader.readVarint())
            guard length > 0, length <= reader.remaining else {
                throw RecordError.invalidRecord("record length \(length) with \(reader.remaining) bytes left")
            }
            let end = reader.position + length
            _ = try reader.readInt8()  // attributes
            let timestampDelta = try reader.readVarlong()
            let offsetDelta = try reader.readVarint()
            let key = try readNullableBytes(&reader)
            let value = try readNullableBytes(&reader)
            let headerCount = Int(try reader.readVarint())
            guard headerCount >= 0, headerCount <= end - reader.position else {
                throw RecordError.invalidRecord("header count \(headerCount) does not fit in the record")
            }
            var headers: [RecordHeader] = []
            headers.reserveCapacity(headerCount)
            for _ in 0..<headerCount {
                let keyLength = Int(try reader.readVarint())
                guard keyLength >= 0 else { throw RecordError.invalidRecord("null header key") }
                let keyBytes = try reader.readSlice(keyLength)
                let headerValue = try readNullableBytes(&reader)
                headers.append(RecordHeader(key: String(decoding: keyBytes, as: UTF8.self), value: headerValue))
            }
            guard reader.position == end else {
                throw RecordError.invalidRecord("record declares \(length) bytes but holds \(length - (end - reader.position))")
            }
            records.append(Record(
                offset: header.baseOffset &+ Int64(offsetDelta),
                timestamp: logAppendTime ? header.maxTimestamp : header.baseTimestamp &+ timestampDelta,
                key: key, value: value, headers: headers))
        }
        guard reader.remaining == 0 else {
            throw RecordError.invalidRecord("\(reader.remaining) bytes left after \(count) records")
        }
        return records
    }

    static func readNullableBytes(_ reader: inout ByteReader) throws -> [UInt8]? {
        let length = Int(try reader.readVarint())
        if length == -1 { return nil }
        guard length >= 0 else { throw RecordError.invalidRecord("negative length \(length)") }
        return try reader.readBytes(length)
    }
}
