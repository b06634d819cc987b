import NIOCore

// Fixed-width Kafka primitives and unsigned varints. All integers are big-endian; the layout
// of every protocol type is described once, in Docs/protocol.md ("Wire primitives").

extension ByteBuffer {
    @inline(__always)
    mutating func readKafkaInteger<T: FixedWidthInteger>(_: T.Type) throws(ProtocolDecodingError) -> T {
        guard let value = self.readInteger(endianness: .big, as: T.self) else {
            throw .truncated(needed: MemoryLayout<T>.size, available: self.readableBytes)
        }
        return value
    }

    /// Reads an int8.
    public mutating func readKafkaInt8() throws(ProtocolDecodingError) -> Int8 { try readKafkaInteger(Int8.self) }
    /// Reads a big-endian int16.
    public mutating func readKafkaInt16() throws(ProtocolDecodingError) -> Int16 { try readKafkaInteger(Int16.self) }
    /// Reads a big-endian int32.
    public mutating func readKafkaInt32() throws(ProtocolDecodingError) -> Int32 { try readKafkaInteger(Int32.self) }
    /// Reads a big-endian int64.
    public mutating func readKafkaInt64() throws(ProtocolDecodingError) -> Int64 { try readKafkaInteger(Int64.self) }
    /// Reads a big-endian uint16.
    public mutating func readKafkaUInt16() throws(ProtocolDecodingError) -> UInt16 { try readKafkaInteger(UInt16.self) }
    /// Reads a big-endian uint32.
    public mutating func readKafkaUInt32() throws(ProtocolDecodingError) -> UInt32 { try readKafkaInteger(UInt32.self) }

    /// Reads a bool: one byte, any non-zero value is true.
    public mutating func readKafkaBool() throws(ProtocolDecodingError) -> Bool {
        try readKafkaInteger(UInt8.self) != 0
    }

    /// Reads an IEEE-754 double stored as a big-endian 64-bit pattern.
    public mutating func readKafkaFloat64() throws(ProtocolDecodingError) -> Double {
        Double(bitPattern: try readKafkaInteger(UInt64.self))
    }

    /// Reads a UUID: the most significant int64, then the least significant int64.
    public mutating func readKafkaUUID() throws(ProtocolDecodingError) -> KafkaUUID {
        guard self.readableBytes >= 16 else {
            throw .truncated(needed: 16, available: self.readableBytes)
        }
        let high = try readKafkaInteger(Int64.self)
        let low = try readKafkaInteger(Int64.self)
        return KafkaUUID(mostSignificantBits: high, leastSignificantBits: low)
    }

    /// Reads an unsigned varint of at most 5 bytes (``decodeUnsignedVarint(_:)``).
    public mutating func readUnsignedVarint() throws(ProtocolDecodingError) -> UInt32 {
        try decodeUnsignedVarint { () throws(ProtocolDecodingError) -> UInt8 in
            guard let byte = self.readInteger(as: UInt8.self) else {
                throw .truncated(needed: 1, available: 0)
            }
            return byte
        }
    }

    /// Writes an int8.
    public mutating func writeKafkaInt8(_ value: Int8) { writeInteger(value, endianness: .big) }
    /// Writes a big-endian int16.
    public mutating func writeKafkaInt16(_ value: Int16) { writeInteger(value, endianness: .big) }
    /// Writes a big-endian int32.
    public mutating func writeKafkaInt32(_ value: Int32) { writeInteger(value, endianness: .big) }
    /// Writes a big-endian int64.
    public mutating func writeKafkaInt64(_ value: Int64) { writeInteger(value, endianness: .big) }
    /// Writes a big-endian uint16.
    public mutating func writeKafkaUInt16(_ value: UInt16) { writeInteger(value, endianness: .big) }
    /// Writes a big-endian uint32.
    public mutating func writeKafkaUInt32(_ value: UInt32) { writeInteger(value, endianness: .big) }

    /// Writes a bool as one byte, 0 or 1.
    public mutating func writeKafkaBool(_ value: Bool) { writeInteger(value ? 1 : 0, as: UInt8.self) }

    /// Writes a double as its big-endian 64-bit pattern.
    public mutating func writeKafkaFloat64(_ value: Double) {
        writeInteger(value.bitPattern, endianness: .big)
    }

    /// Writes a UUID: the most significant int64, then the least significant int64.
    public mutating func writeKafkaUUID(_ value: KafkaUUID) {
        writeInteger(value.mostSignificantBits, endianness: .big)
        writeInteger(value.leastSignificantBits, endianness: .big)
    }

    /// Writes an unsigned varint (1 to 5 bytes).
    public mutating func writeUnsignedVarint(_ value: UInt32) {
        var remaining = value
        while remaining >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        writeInteger(UInt8(remaining))
    }
}

/// Decodes an unsigned varint of at most 5 bytes, taking its bytes from `nextByte`: 7 bits per
/// byte, least significant group first, the high bit set on every byte but the last.
@inline(__always)
func decodeUnsignedVarint(_ nextByte: () throws(ProtocolDecodingError) -> UInt8) throws(ProtocolDecodingError) -> UInt32 {
    var result: UInt32 = 0
    var shift: UInt32 = 0
    while true {
        let byte = try nextByte()
        if shift == 28 && byte & 0xF0 != 0 {
            throw .malformedVarint
        }
        result |= UInt32(byte & 0x7F) << shift
        if byte & 0x80 == 0 {
            return result
        }
        shift += 7
    }
}
