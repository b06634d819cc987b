/// A bounds-checked cursor over bytes: every read checks what remains first, so a length
/// read off the wire can never make it read past the end or allocate more than is there.
public struct ByteReader: ~Copyable {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    /// The index of the next byte to read.
    public private(set) var position: Int

    /// Reads `bytes`, which must outlive the reader.
    public init(_ bytes: UnsafeRawBufferPointer, position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    /// How many bytes are left.
    public var remaining: Int { bytes.count - position }

    @inlinable
    func require(_ count: Int) throws {
        if count < 0 || count > bytes.count - position {
            throw RecordError.truncated(needed: count, available: bytes.count - position)
        }
    }

    public mutating func readInt8() throws -> Int8 {
        try require(1)
        defer { position += 1 }
        return Int8(bitPattern: bytes[position])
    }

    public mutating func readBigEndian<T: FixedWidthInteger>(_: T.Type) throws -> T {
        try require(MemoryLayout<T>.size)
        defer { position += MemoryLayout<T>.size }
        return T(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    /// An unsigned LEB128 varint of at most 5 bytes (32 bits).
    public mutating func readUnsignedVarint() throws -> UInt32 {
        var result: UInt32 = 0
        var shift: UInt32 = 0
        while true {
            try require(1)
            let byte = bytes[position]
            position += 1
            if shift == 28 && byte & 0xF0 != 0 { throw RecordError.invalidRecord("varint longer than 5 bytes") }
            result |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// An unsigned LEB128 varint of at most 10 bytes (64 bits).
    public mutating func readUnsignedVarlong() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            try require(1)
            let byte = bytes[position]
            position += 1
            if shift == 63 && byte & 0xFE != 0 { throw RecordError.invalidRecord("varlong longer than 10 bytes") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A zigzag-encoded signed varint (the record format's integers).
    public mutating func readVarint() throws -> Int32 {
        let raw = try readUnsignedVarint()
        return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A zigzag-encoded signed varlong.
    public mutating func readVarlong() throws -> Int64 {
        let raw = try readUnsignedVarlong()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// `count` bytes as an array.
    public mutating func readBytes(_ count: Int) throws -> [UInt8] {
        try require(count)
        defer { position += count }
        return Array(UnsafeRawBufferPointer(rebasing: bytes[position..<position + count]))
    }

    /// `count` bytes without copying; valid as long as the underlying bytes are.
    public mutating func readSlice(_ count: Int) throws -> UnsafeRawBufferPointer {
        try require(count)
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<position + count])
    }

    public mutating func skip(_ count: Int) throws {
        try require(count)
        position += count
    }
}

/// Appending writers for the record format's primitives.
extension Array where Element == UInt8 {
    @inlinable
    public mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    @inlinable
    public mutating func appendUnsignedVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        append(UInt8(v))
    }

    /// A zigzag-encoded signed varint or varlong.
    @inlinable
    public mutating func appendVarint(_ value: Int64) {
        appendUnsignedVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }
}

/// Sizes of the record format's variable-length integers.
public enum Varint {
    /// Bytes taken by the unsigned varint of `value`.
    @inlinable
    public static func unsignedSize(_ value: UInt64) -> Int {
        var v = value
        var n = 1
        while v >= 0x80 {
            v >>= 7
            n += 1
        }
        return n
    }

    /// Bytes taken by the zigzag varint of `value`.
    @inlinable
    public static func size(_ value: Int64) -> Int {
        unsignedSize(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }
}
