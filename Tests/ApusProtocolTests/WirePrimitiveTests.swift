import ApusProtocol
import NIOCore
import Testing

@Suite("Wire primitives")
struct WirePrimitiveTests {
    @Test(arguments: [
        (UInt32(0), [0x00]),
        (127, [0x7F]),
        (128, [0x80, 0x01]),
        (300, [0xAC, 0x02]),
        (16384, [0x80, 0x80, 0x01]),
        (UInt32.max, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
    ] as [(UInt32, [UInt8])])
    func unsignedVarintLayout(value: UInt32, bytes: [UInt8]) throws {
        var buffer = ByteBuffer()
        buffer.writeUnsignedVarint(value)
        #expect(Array(buffer.readableBytesView) == bytes)
        #expect(try buffer.readUnsignedVarint() == value)
        #expect(buffer.readableBytes == 0)
    }

    /// A value decoded in place takes the new counts (growing and shrinking its arrays) and
    /// keeps its arrays' storage when they do not grow past it: the request path reuses one value.
    @Test func decodingInPlaceShrinksGrowsAndKeepsArrayStorage() throws {
        func request(_ partitions: Int, topic: String = "a-topic-name-longer-than-fifteen") -> ProduceRequest {
            ProduceRequest(acks: 1, timeoutMs: 100, topicData: [
                .init(name: topic, partitionData: (0..<partitions).map { .init(index: Int32($0), records: ByteBuffer(bytes: [1, 2, 3])) }),
            ])
        }
        func encoded(_ value: ProduceRequest) -> ByteBuffer {
            var buffer = ByteBuffer()
            value.write(to: &buffer, version: 9)
            return buffer
        }
        func partitionsAddress(_ value: ProduceRequest) -> UnsafeRawPointer? {
            value.topicData[0].partitionData.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
        }
        var held = try { var b = encoded(request(3)); return try ProduceRequest(from: &b, version: 9) }()
        let storage = partitionsAddress(held)
        for (count, topic) in [(1, "a-topic-name-longer-than-fifteen"), (3, "a-topic-name-longer-than-fifteen"), (2, "another-topic-name-just-as-long")] {
            var input = encoded(request(count, topic: topic))
            try held.decode(from: &input, version: 9)
            #expect(held == request(count, topic: topic))
            #expect(partitionsAddress(held) == storage, "\(count) partitions")
        }
        var larger = encoded(request(40))
        try held.decode(from: &larger, version: 9)
        #expect(held == request(40))
    }

    @Test func fixedWidthValuesAreBigEndian() throws {
        var buffer = ByteBuffer()
        buffer.writeKafkaInt16(0x0102)
        buffer.writeKafkaInt32(-2)
        buffer.writeKafkaUInt16(0xFFFE)
        buffer.writeKafkaFloat64(1.5)
        buffer.writeKafkaBool(true)
        buffer.writeKafkaUUID(KafkaUUID(mostSignificantBits: 1, leastSignificantBits: -1))
        #expect(Array(buffer.readableBytesView) == [
            0x01, 0x02, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFE,
            0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0x01,
            0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ])
        #expect(try buffer.readKafkaInt16() == 0x0102)
        #expect(try buffer.readKafkaInt32() == -2)
        #expect(try buffer.readKafkaUInt16() == 0xFFFE)
        #expect(try buffer.readKafkaFloat64() == 1.5)
        #expect(try buffer.readKafkaBool())
        #expect(try buffer.readKafkaUUID() == KafkaUUID(mostSignificantBits: 1, leastSignificantBits: -1))
        #expect(throws: ProtocolDecodingError.truncated(needed: 1, available: 0)) { _ = try buffer.readKafkaInt8() }
    }

    @Test func anyNonZeroByteIsTrue() throws {
        var buffer = ByteBuffer(bytes: [0x02])
        #expect(try buffer.readKafkaBool())
    }

    @Test func nullAndEmptyStringsAndBytes() throws {
        var buffer = ByteBuffer()
        buffer.writeKafkaNullableString(nil, compact: false)
        buffer.writeKafkaNullableString(nil, compact: true)
        buffer.writeKafkaString("", compact: true)
        buffer.writeKafkaNullableBytes(nil, compact: false)
        buffer.writeKafkaBytes(ByteBuffer(bytes: [9]), compact: true)
        #expect(Array(buffer.readableBytesView) == [0xFF, 0xFF, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0x09])
        #expect(try buffer.readKafkaNullableString(compact: false) == nil)
        #expect(try buffer.readKafkaNullableString(compact: true) == nil)
        #expect(try buffer.readKafkaString(compact: true) == "")
        #expect(try buffer.readKafkaNullableBytes(compact: false) == nil)
        #expect(try buffer.readKafkaBytes(compact: true) == ByteBuffer(bytes: [9]))
    }

    @Test func stringsTooLongForTheProtocolAreCutAtACharacterBoundary() throws {
        let long = String(repeating: "a", count: 32766) + "é"  // é is 2 bytes: 32768 in all
        var buffer = ByteBuffer()
        buffer.writeKafkaString(long, compact: false)
        #expect(buffer.getInteger(at: 0, as: Int16.self) == 32766)
        #expect(try buffer.readKafkaString(compact: false) == String(repeating: "a", count: 32766))
    }

    @Test func unknownTaggedFieldsAreWrittenInTagOrder() throws {
        var buffer = ByteBuffer()
        buffer.writeKafkaTaggedFields([
            TaggedField(tag: 7, data: ByteBuffer(bytes: [1])),
            TaggedField(tag: 2, data: ByteBuffer()),
        ])
        #expect(Array(buffer.readableBytesView) == [0x02, 0x02, 0x00, 0x07, 0x01, 0x01])
        #expect(try buffer.readKafkaUnknownTaggedFields() == [
            TaggedField(tag: 2, data: ByteBuffer()),
            TaggedField(tag: 7, data: ByteBuffer(bytes: [1])),
        ])
    }

    @Test func uuidDescription() {
        let uuid = KafkaUUID(mostSignificantBits: 0x0123_4567_89AB_CDEF, leastSignificantBits: -1)
        #expect(uuid.description == "01234567-89ab-cdef-ffff-ffffffffffff")
        #expect(KafkaUUID.zero.description == "00000000-0000-0000-0000-000000000000")
    }
}
