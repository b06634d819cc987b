import ApusRecord
import Testing

@Suite struct RecordBatchTests {
    static func shapes() -> [(String, [Record])] {
        var generator = SplitMix64(seed: 42)
        let large = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let json = Array(#"{"user":116740,"event":"click","page":"/p/2254","country":"GB","ok":true}"#.utf8)
        return [
            ("one plain record", [Record(timestamp: 1_700_000_000_000, key: Array("k".utf8), value: Array("v".utf8))]),
            ("null key and value", [Record(timestamp: 5, key: nil, value: nil)]),
            ("empty key and value", [Record(timestamp: 5, key: [], value: [])]),
            ("headers, one with a null value", [
                Record(
                    timestamp: 10, key: Array("key".utf8), value: Array("value".utf8),
                    headers: [RecordHeader(key: "trace", value: [1, 2, 3]), RecordHeader(key: "empty", value: nil),
                              RecordHeader(key: "ünïcode", value: [])])
            ]),
            ("large record", [Record(timestamp: 99, key: nil, value: large)]),
            ("many records, timestamps up and down", (0..<5000).map { (i: Int) -> Record in
                let jitter = Int64((i * 7919) % 1000) - 500
                let key: [UInt8]? = i % 3 == 0 ? nil : Array("k\(i)".utf8)
                return Record(timestamp: 1_700_000_000_000 + jitter, key: key, value: json)
            }),
            ("negative timestamp deltas", [Record(timestamp: 1000, key: nil, value: [1]), Record(timestamp: 10, key: nil, value: [2])]),
        ]
    }

    @Test(arguments: [CompressionCodec.none, .gzip, .lz4])
    func roundTripsEveryShape(codec: CompressionCodec) throws {
        for (name, records) in Self.shapes() {
            var encoder = RecordBatchEncoder(baseOffset: 1000, compression: codec, producerId: 7, producerEpoch: 2, baseSequence: 11)
            encoder.partitionLeaderEpoch = 3
            let bytes = try encoder.encode(records)
            let batch = try RecordBatchDecoder.decode(bytes)
            #expect(batch.header.baseOffset == 1000, "\(name)")
            #expect(batch.header.attributes.compression == codec)
            #expect(batch.header.recordCount == Int32(records.count))
            #expect(batch.header.lastOffsetDelta == Int32(records.count - 1))
            #expect(batch.header.producerId == 7 && batch.header.producerEpoch == 2 && batch.header.baseSequence == 11)
            #expect(batch.header.partitionLeaderEpoch == 3)
            #expect(batch.header.maxTimestamp == records.map(\.timestamp).max())
            #expect(batch.header.totalSize == bytes.count)
            let expected = records.enumerated().map { i, r in
                Record(offset: 1000 + Int64(i), timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers)
            }
            #expect(batch.records == expected, "\(name) with \(codec)")
        }
    }

    @Test func headerFieldsSitAtKafkasByteOffsets() throws {
        var encoder = RecordBatchEncoder(baseOffset: 0x0102_0304_0506_0708, compression: .lz4, producerId: 0x1112_1314_1516_1718, producerEpoch: 0x2122, baseSequence: 0x3132_3334)
        encoder.partitionLeaderEpoch = 0x4142_4344
        let bytes = try encoder.encode([Record(timestamp: 0x5152_5354_5556_5758, key: nil, value: [9])])
        #expect(Array(bytes[0..<8]) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(Array(bytes[12..<16]) == [0x41, 0x42, 0x43, 0x44])
        #expect(bytes[16] == 2)
        #expect(Array(bytes[21..<23]) == [0, 3])
        #expect(Array(bytes[27..<35]) == [0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58])
        #expect(Array(bytes[43..<51]) == [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18])
        #expect(Array(bytes[51..<53]) == [0x21, 0x22])
        #expect(Array(bytes[53..<57]) == [0x31, 0x32, 0x33, 0x34])
        #expect(Array(bytes[57..<61]) == [0, 0, 0, 1])
        let length = Int(bytes[8]) << 24 | Int(bytes[9]) << 16 | Int(bytes[10]) << 8 | Int(bytes[11])
        #expect(length == bytes.count - 12)
        // The CRC covers attributes..end only: rewriting baseOffset and leader epoch keeps it valid.
        var rewritten = bytes
        for i in 0..<8 { rewritten[i] = UInt8(i * 0x11) }  // another (valid) base offset
        for i in 12..<16 { rewritten[i] = 0xDD }
        #expect(throws: Never.self) { try RecordBatchDecoder.decode(rewritten) }
    }

    @Test func lz4UsesKafkasFrameSettings() throws {
        let bytes = try RecordBatchEncoder(compression: .lz4).encode([Record(timestamp: 1, key: nil, value: Array(repeating: 65, count: 1000))])
        // Frame magic 0x184D2204 little-endian, FLG version 01 with block independence, BD 64 KB.
        #expect(Array(bytes[61..<65]) == [0x04, 0x22, 0x4D, 0x18])
        #expect(bytes[65] & 0xC0 == 0x40)
        #expect(bytes[65] & 0x20 == 0x20)
        #expect(bytes[65] & 0x1C == 0)  // no block checksum, content size or content checksum
        #expect(bytes[66] == 0x40)
    }

    @Test func flippedBitIsAChecksumMismatch() throws {
        let bytes = try RecordBatchEncoder().encode([Record(timestamp: 1, key: nil, value: Array("payload".utf8))])
        for position in 21..<bytes.count {
            var corrupt = bytes
            corrupt[position] ^= 0x10
            #expect(throws: RecordError.self) { try RecordBatchDecoder.decode(corrupt) }
            do {
                _ = try RecordBatchHeader.validated(corrupt)
                Issue.record("position \(position): accepted")
            } catch RecordError.checksumMismatch {
            } catch { Issue.record("position \(position): \(error)") }
        }
        var badCrc = bytes
        badCrc[18] ^= 1
        #expect(RecordError.checksumMismatch(expected: 0, computed: 0).kafkaErrorCode == 2)
        #expect(throws: RecordError.self) { try RecordBatchDecoder.decode(badCrc) }
    }

    @Test func everyTruncationIsRejected() throws {
        let bytes = try RecordBatchEncoder(compression: .gzip).encode(Self.shapes()[3].1)
        for cut in 0..<bytes.count {
            #expect(throws: RecordError.self) { try RecordBatchDecoder.decode(Array(bytes[..<cut])) }
        }
    }

    @Test func snappyAndZstdAreUnsupportedButTheirHeadersValidate() throws {
        for codec in [CompressionCodec.snappy, .zstd] {
            var bytes = try RecordBatchEncoder().encode([Record(timestamp: 1, key: nil, value: [1, 2, 3])])
            bytes[22] = UInt8(codec.rawValue)
            RecordBatchEncoder.updateChecksum(&bytes)
            let header = try bytes.withUnsafeBytes { try RecordBatchHeader.validated($0) }
            #expect(header.attributes.compression == codec)
            #expect(throws: RecordError.unsupportedCompression(codec.rawValue)) { try RecordBatchDecoder.decode(bytes) }
            #expect(RecordError.unsupportedCompression(codec.rawValue).kafkaErrorCode == 76)
        }
    }

    @Test func hostileCountsAndLengthsAreErrorsNotAllocations() throws {
        var bytes = try RecordBatchEncoder().encode([Record(timestamp: 1, key: nil, value: [1])])
        // A record count of 2^31-1 in a tiny batch.
        bytes.replaceSubrange(57..<61, with: [0x7F, 0xFF, 0xFF, 0xFF])
        RecordBatchEncoder.updateChecksum(&bytes)
        #expect(throws: RecordError.self) { try RecordBatchDecoder.decode(bytes) }
        // A batch length far beyond the bytes present.
        var long = try RecordBatchEncoder().encode([Record(timestamp: 1, key: nil, value: [1])])
        long.replaceSubrange(8..<12, with: [0x7F, 0xFF, 0xFF, 0xFF])
        #expect(throws: RecordError.self) { try RecordBatchDecoder.decode(long) }
        // A value length larger than the record.
        var record: [UInt8] = []
        record.appendVarint(10)  // record length
        record.append(0)
        record.appendVarint(0)
        record.appendVarint(0)
        record.appendVarint(-1)
        record.appendVarint(1_000_000)  // value length
        record.append(contentsOf: [1, 2, 3, 4])
        var batch = try RecordBatchEncoder().encode([])
        batch.replaceSubrange(57..<61, with: [0, 0, 0, 1])
        batch.append(contentsOf: record)
        let length = Int32(batch.count - 12)
        batch.replaceSubrange(8..<12, with: withUnsafeBytes(of: length.bigEndian, Array.init))
        RecordBatchEncoder.updateChecksum(&batch)
        #expect(throws: RecordError.self) { try RecordBatchDecoder.decode(batch) }
    }

    /// Found by tools/fuzz (FuzzRecordBatches): a base offset near Int64.max made the record
    /// offsets overflow and trap. It must be an error.
    @Test func offsetsThatWouldOverflowAreAnErrorNotATrap() throws {
        for baseOffset in [Int64.max, Int64.max - 1, -5] {
            let bytes = try RecordBatchEncoder(baseOffset: baseOffset).encode([
                Record(timestamp: 1, key: nil, value: [1]), Record(timestamp: 2, key: nil, value: [2]),
            ])
            #expect(throws: RecordError.self) { try RecordBatchDecoder.decode(bytes) }
            _ = try RecordBatchHeader.validated(bytes).nextOffset  // no trap either
        }
    }

    @Test func gzipReadsConcatenatedMembers() throws {
        let first = try Array("hello ".utf8).withUnsafeBytes { try Compression.compress($0, codec: .gzip) }
        let second = try Array("world".utf8).withUnsafeBytes { try Compression.compress($0, codec: .gzip) }
        let joined = first + second
        let plain = try joined.withUnsafeBytes { try Compression.decompress($0, codec: .gzip) }
        #expect(String(decoding: plain, as: UTF8.self) == "hello world")
    }

    @Test func decompressionBombIsBounded() throws {
        let zeros = [UInt8](repeating: 0, count: 4 << 20)
        for codec in [CompressionCodec.gzip, .lz4] {
            let packed = try zeros.withUnsafeBytes { try Compression.compress($0, codec: codec) }
            #expect(throws: RecordError.self) {
                try packed.withUnsafeBytes { try Compression.decompress($0, codec: codec, maxOutputBytes: 1 << 20) }
            }
        }
    }

    @Test func decodeAllStopsAtAPartialTail() throws {
        let one = try RecordBatchEncoder(baseOffset: 0).encode([Record(timestamp: 1, key: nil, value: [1])])
        let two = try RecordBatchEncoder(baseOffset: 1).encode([Record(timestamp: 2, key: nil, value: [2])])
        let batches = try RecordBatchDecoder.decodeAll(one + two + Array(two[..<30]))
        #expect(batches.map(\.records.first?.value) == [[1], [2]])
    }

    @Test func varintsRoundTripAtTheEdges() throws {
        let values: [Int64] = [0, 1, -1, 63, -64, 64, -65, 127, 128, 8191, -8192, Int64(Int32.max), Int64(Int32.min), .max, .min]
        var bytes: [UInt8] = []
        for v in values { bytes.appendVarint(v) }
        try bytes.withUnsafeBytes { raw throws in
            var reader = ByteReader(raw)
            for v in values {
                let read = try reader.readVarlong()
                #expect(read == v)
            }
            #expect(reader.remaining == 0)
        }
        for v in values { #expect(Varint.size(v) == { var b: [UInt8] = []; b.appendVarint(v); return b.count }()) }
        // Six continuation bytes are not a 32-bit varint.
        [UInt8]([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]).withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(throws: RecordError.self) { try reader.readVarint() }
        }
    }

    @Test(arguments: [CompressionCodec.none, .gzip, .lz4])
    func aBatchEncodedBeforeItsSequenceIsKnownIsStampedWithAValidChecksum(codec: CompressionCodec) throws {
        var builder = RecordBatchBuilder()
        for record in Self.shapes()[5].1 { builder.append(record) }
        var bytes = try RecordBatchEncoder(compression: codec).encode(builder)
        #expect(try RecordBatchDecoder.decode(bytes).header.producerId == -1)
        let stamped = RecordBatchEncoder(compression: codec, producerId: 42, producerEpoch: 3, baseSequence: 1000)
        stamped.stampProducerState(&bytes)
        let header = try RecordBatchHeader.validated(bytes)
        #expect(header.producerId == 42 && header.producerEpoch == 3 && header.baseSequence == 1000)
        // The same bytes as encoding with the producer state from the start.
        #expect(bytes == (try stamped.encode(builder)))
        #expect(try RecordBatchDecoder.decode(bytes).records.count == 5000)
    }

    /// What a producer does for a large batch: compress it into its send buffer without the
    /// producer state or a CRC, then stamp both in place; the bytes are those of encoding with
    /// the state from the start.
    @Test(arguments: [CompressionCodec.none, .lz4])
    func aBatchEncodedInPlaceWithoutAChecksumIsStampedToTheSameBytes(codec: CompressionCodec) throws {
        var builder = RecordBatchBuilder()
        for record in Self.shapes()[5].1 { builder.append(record) }
        let unstamped = RecordBatchEncoder(compression: codec)
        let bound = try #require(unstamped.maximumEncodedSize(of: builder))
        var output = [UInt8](repeating: 0xEE, count: bound)
        let written = try output.withUnsafeMutableBytes { try unstamped.encode(builder, into: $0, checksum: false) }
        #expect(written <= bound)
        var bytes = Array(output.prefix(written))
        #expect(throws: RecordError.self) { try RecordBatchHeader.validated(bytes) }  // no CRC yet
        let stamped = RecordBatchEncoder(compression: codec, producerId: 7, producerEpoch: 1, baseSequence: 12)
        stamped.stampProducerState(&bytes)
        #expect(bytes == (try stamped.encode(builder)))
        #expect(try RecordBatchDecoder.decode(bytes).records.count == 5000)
        // Too little room is an error, not a write past the end.
        var small = [UInt8](repeating: 0, count: bound - 1)
        #expect(throws: RecordError.self) { try small.withUnsafeMutableBytes { try unstamped.encode(builder, into: $0) } }
        #expect(RecordBatchEncoder(compression: .gzip).maximumEncodedSize(of: builder) == nil)
    }

    /// A builder made on a done batch's buffer writes into that allocation, from empty; one made
    /// on a buffer something else still holds leaves that holder's bytes alone.
    @Test func aBuilderReusesADoneBatchsBuffer() {
        var first = RecordBatchBuilder(capacity: 1 << 16)
        for record in Self.shapes()[0].1.prefix(10) { first.append(record) }
        let firstBytes = first.records.map { $0 }  // a copy of its own
        var spare: [UInt8]? = first.records
        first = RecordBatchBuilder()  // the batch is done: the spare is the buffer's only holder
        let address = spare!.withUnsafeBufferPointer { $0.baseAddress }
        var second = RecordBatchBuilder(reusing: &spare, capacity: 1024)
        #expect(spare == nil)
        #expect(second.records.isEmpty && second.recordCount == 0)
        #expect(second.records.withUnsafeBufferPointer { $0.baseAddress } == address)
        for record in Self.shapes()[0].1.prefix(10) { second.append(record) }
        #expect(second.records == firstBytes)

        var held: [UInt8]? = second.records
        let holder = second.records
        let third = RecordBatchBuilder(reusing: &held, capacity: 1024)
        #expect(third.records.isEmpty)
        #expect(holder == firstBytes)
    }

    @Test func maximumEncodedSizeBoundsWhatEachRecordAdds() {
        for (name, records) in Self.shapes() {
            var builder = RecordBatchBuilder()
            for record in records {
                let before = builder.records.count
                builder.append(record)
                let bound = RecordBatchBuilder.maximumEncodedSize(
                    keyCount: record.key?.count, valueCount: record.value?.count, headers: record.headers)
                #expect(builder.records.count - before <= bound, "\(name)")
            }
        }
    }
}
