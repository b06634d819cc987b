import ApusProtocol
import NIOCore
import Testing

// Lengths and counts from the wire are never trusted: each of these inputs must throw a
// ProtocolDecodingError, quickly and without allocating what the input claims.

private func decode<M: ProtocolMessage>(_: M.Type, _ bytes: [UInt8], version: Int16) throws {
    var buffer = ByteBuffer(bytes: bytes)
    _ = try M(from: &buffer, version: version)
}

@Suite("Hostile input")
struct HostileInputTests {
    @Test func hugeArrayCountOnATenByteBufferThrowsWithoutAllocating() {
        let bytes: [UInt8] = [0x7F, 0xFF, 0xFF, 0xFF, 0, 1, 0x61, 0, 1, 0x62]
        #expect(throws: ProtocolDecodingError.exceedsRemainingBytes(claimed: Int(Int32.max), remaining: 6)) {
            try decode(MetadataRequest.self, bytes, version: 0)
        }
    }

    @Test func hugeCompactArrayCountThrows() {
        // Varint 0xFFFFFFFF: count 2^32 - 2.
        #expect(throws: ProtocolDecodingError.exceedsRemainingBytes(claimed: 0xFFFF_FFFE, remaining: 5)) {
            try decode(MetadataRequest.self, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0, 0, 0, 0, 0], version: 9)
        }
    }

    @Test func countOfFixedWidthElementsIsCheckedAgainstTheirSize() throws {
        // SyncGroup v0 assignment bytes are fine, but an int32 array of 3 elements needs 12 bytes.
        var buffer = ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x03] + [UInt8](repeating: 0, count: 11))
        #expect(throws: ProtocolDecodingError.exceedsRemainingBytes(claimed: 3, remaining: 11)) {
            _ = try buffer.readKafkaArray(compact: false, minimumElementSize: 4) { try $0.readKafkaInt32() }
        }
        var exact = ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x03] + [UInt8](repeating: 0, count: 12))
        #expect(try exact.readKafkaArray(compact: false, minimumElementSize: 4) { try $0.readKafkaInt32() } == [0, 0, 0])
    }

    @Test func negativeArrayCountThrows() {
        #expect(throws: ProtocolDecodingError.negativeCount(-2)) {
            try decode(MetadataRequest.self, [0xFF, 0xFF, 0xFF, 0xFE], version: 1)
        }
    }

    @Test func stringLongerThanTheBufferThrows() {
        // MetadataRequest v0, one topic whose name claims 32767 bytes.
        #expect(throws: ProtocolDecodingError.exceedsRemainingBytes(claimed: 0x7FFF, remaining: 3)) {
            try decode(MetadataRequest.self, [0, 0, 0, 1, 0x7F, 0xFF, 0x61, 0x62, 0x63], version: 0)
        }
    }

    @Test func negativeStringLengthThrows() {
        #expect(throws: ProtocolDecodingError.invalidLength(-2)) {
            try decode(MetadataRequest.self, [0, 0, 0, 1, 0xFF, 0xFE], version: 0)
        }
    }

    @Test func compactStringLongerThanTheProtocolAllowsThrows() {
        var buffer = ByteBuffer()
        buffer.writeUnsignedVarint(0x8001)  // length 0x8000
        buffer.writeRepeatingByte(0x61, count: 0x8000)
        #expect(throws: ProtocolDecodingError.invalidLength(0x8000)) {
            _ = try buffer.readKafkaString(compact: true)
        }
    }

    @Test func invalidUTF8Throws() {
        #expect(throws: ProtocolDecodingError.invalidUTF8) {
            try decode(MetadataRequest.self, [0, 0, 0, 1, 0x00, 0x02, 0xC3, 0x28], version: 0)
        }
    }

    @Test func hugeBytesLengthThrows() {
        // SaslAuthenticate v0: AuthBytes claims 2^31 - 1 bytes.
        #expect(throws: ProtocolDecodingError.exceedsRemainingBytes(claimed: Int(Int32.max), remaining: 2)) {
            try decode(SaslAuthenticateRequest.self, [0x7F, 0xFF, 0xFF, 0xFF, 0x01, 0x02], version: 0)
        }
    }

    @Test func hugeRecordsLengthThrows() {
        var buffer = ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(throws: ProtocolDecodingError.exceedsRemainingBytes(claimed: Int(Int32.max), remaining: 1)) {
            _ = try buffer.readKafkaRecords(compact: false)
        }
        var negative = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xF0])
        #expect(throws: ProtocolDecodingError.invalidLength(-16)) {
            _ = try negative.readKafkaRecords(compact: false)
        }
    }

    @Test func varintLongerThanFiveBytesThrows() {
        var buffer = ByteBuffer(bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x01])
        #expect(throws: ProtocolDecodingError.malformedVarint) { _ = try buffer.readUnsignedVarint() }
        var overflowing = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x1F])
        #expect(throws: ProtocolDecodingError.malformedVarint) { _ = try overflowing.readUnsignedVarint() }
    }

    @Test func hugeTaggedFieldCountAndSizeThrow() {
        // ApiVersionsRequest v3 with empty strings, then a tagged section claiming 2^28 fields.
        #expect(throws: ProtocolDecodingError.exceedsRemainingBytes(claimed: 1 << 28, remaining: 0)) {
            try decode(ApiVersionsRequest.self, [0x01, 0x01, 0x80, 0x80, 0x80, 0x80, 0x01], version: 3)
        }
        // One tagged field (tag 9) whose size claims 2^21 bytes.
        #expect(throws: ProtocolDecodingError.exceedsRemainingBytes(claimed: 1 << 21, remaining: 2)) {
            try decode(ApiVersionsRequest.self, [0x01, 0x01, 0x01, 0x09, 0x80, 0x80, 0x80, 0x01, 0xAA, 0xBB], version: 3)
        }
    }

    @Test func knownTaggedFieldWithAShortValueThrows() {
        // ApiVersionsResponse v3: tag 1 (FinalizedFeaturesEpoch, int64) with a 2-byte value.
        let bytes: [UInt8] = [0, 0, 0x01, 0, 0, 0, 0, 0x01, 0x01, 0x02, 0x00, 0x05]
        #expect(throws: ProtocolDecodingError.truncated(needed: 8, available: 2)) {
            try decode(ApiVersionsResponse.self, bytes, version: 3)
        }
    }

    @Test func decodingErrorsMapToKafkaErrorCodes() {
        #expect(ProtocolDecodingError.unsupportedVersion(99).kafkaErrorCode == .unsupportedVersion)
        #expect(ProtocolDecodingError.invalidUTF8.kafkaErrorCode == .invalidRequest)
    }
}
