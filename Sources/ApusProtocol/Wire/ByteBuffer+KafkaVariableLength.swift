import NIOCore

// Length-prefixed Kafka types: strings, bytes, records and arrays, in their classic form
// (int16/int32 prefix, -1 for null) and their compact form (unsigned varint N+1, 0 for null).
// Every length and count read here is checked against the bytes that remain before anything
// is read or allocated.

extension ByteBuffer {
    /// The longest string the protocol allows, in UTF-8 bytes.
    public static let kafkaMaximumStringLength = Int(Int16.max)

    /// Reads a compact (varint N+1) or classic (`classicWidth`-byte) length; nil means null.
    @inline(__always)
    mutating func readKafkaLength(compact: Bool, classicWidth: Int) throws(ProtocolDecodingError) -> Int? {
        let length: Int
        if compact {
            let encoded = try readUnsignedVarint()
            if encoded == 0 {
                return nil
            }
            length = Int(encoded) - 1
        } else {
            let encoded = classicWidth == 2 ? Int(try readKafkaInt16()) : Int(try readKafkaInt32())
            if encoded == -1 {
                return nil
            }
            length = encoded
        }
        return length
    }

    @inline(__always)
    mutating func writeKafkaLength(_ length: Int?, compact: Bool, classicWidth: Int) {
        if compact {
            writeUnsignedVarint(length.map { UInt32(truncatingIfNeeded: $0 + 1) } ?? 0)
        } else if classicWidth == 2 {
            writeInteger(Int16(truncatingIfNeeded: length ?? -1), endianness: .big)
        } else {
            writeInteger(Int32(truncatingIfNeeded: length ?? -1), endianness: .big)
        }
    }

    // MARK: Strings

    /// Reads a string that may be null: int16 length (or compact varint N+1) then UTF-8 bytes.
    public mutating func readKafkaNullableString(compact: Bool) throws(ProtocolDecodingError) -> String? {
        guard let length = try readKafkaLength(compact: compact, classicWidth: 2) else {
            return nil
        }
        guard length >= 0, length <= Self.kafkaMaximumStringLength else {
            throw .invalidLength(length)
        }
        guard length <= readableBytes else {
            throw .exceedsRemainingBytes(claimed: length, remaining: readableBytes)
        }
        let string = withUnsafeReadableBytes { bytes in
            String(validating: UnsafeRawBufferPointer(rebasing: bytes.prefix(length)), as: UTF8.self)
        }
        guard let string else {
            throw .invalidUTF8
        }
        moveReaderIndex(forwardBy: length)
        return string
    }

    /// Reads a non-null string; a null marker throws ``ProtocolDecodingError/unexpectedNull``.
    public mutating func readKafkaString(compact: Bool) throws(ProtocolDecodingError) -> String {
        guard let string = try readKafkaNullableString(compact: compact) else {
            throw .unexpectedNull
        }
        return string
    }

    /// Reads a string that may be null into `string`, keeping its storage when the bytes on the
    /// wire are the ones it already holds (the steady case of a value decoded again and again).
    public mutating func readKafkaNullableString(into string: inout String?, compact: Bool) throws(ProtocolDecodingError) {
        guard let length = try readKafkaLength(compact: compact, classicWidth: 2) else {
            string = nil
            return
        }
        guard length >= 0, length <= Self.kafkaMaximumStringLength else {
            throw .invalidLength(length)
        }
        guard length <= readableBytes else {
            throw .exceedsRemainingBytes(claimed: length, remaining: readableBytes)
        }
        let unchanged = string.map { held in
            withUnsafeReadableBytes { bytes in held.utf8.elementsEqual(UnsafeRawBufferPointer(rebasing: bytes.prefix(length))) }
        } ?? false
        if !unchanged {
            let decoded = withUnsafeReadableBytes { bytes in
                String(validating: UnsafeRawBufferPointer(rebasing: bytes.prefix(length)), as: UTF8.self)
            }
            guard let decoded else {
                throw .invalidUTF8
            }
            string = decoded
        }
        moveReaderIndex(forwardBy: length)
    }

    /// Reads a non-null string into `string`, keeping its storage when the bytes are unchanged;
    /// a null marker throws ``ProtocolDecodingError/unexpectedNull``.
    public mutating func readKafkaString(into string: inout String, compact: Bool) throws(ProtocolDecodingError) {
        var held: String? = string
        try readKafkaNullableString(into: &held, compact: compact)
        guard let held else {
            throw .unexpectedNull
        }
        string = held
    }

    /// Writes a string that may be null. A string longer than 32767 UTF-8 bytes, which the
    /// protocol cannot carry, is cut at the last whole character that fits.
    public mutating func writeKafkaNullableString(_ value: String?, compact: Bool) {
        guard let value else {
            writeKafkaLength(nil, compact: compact, classicWidth: 2)
            return
        }
        writeKafkaString(value, compact: compact)
    }

    /// Writes a non-null string; see ``writeKafkaNullableString(_:compact:)`` for long strings.
    public mutating func writeKafkaString(_ value: String, compact: Bool) {
        let length = value.utf8.count
        if length <= Self.kafkaMaximumStringLength {
            writeKafkaLength(length, compact: compact, classicWidth: 2)
            writeString(value)
            return
        }
        var end = Self.kafkaMaximumStringLength
        let bytes = Array(value.utf8.prefix(end + 1))
        while end > 0 && bytes[end] & 0xC0 == 0x80 {
            end -= 1  // bytes[end] continues a character: cut before it
        }
        writeKafkaLength(end, compact: compact, classicWidth: 2)
        writeBytes(bytes[..<end])
    }

    // MARK: Bytes and records

    /// Reads bytes that may be null: int32 length (or compact varint N+1) then the bytes, as a
    /// slice of this buffer (no copy).
    public mutating func readKafkaNullableBytes(compact: Bool) throws(ProtocolDecodingError) -> ByteBuffer? {
        guard let length = try readKafkaLength(compact: compact, classicWidth: 4) else {
            return nil
        }
        guard length >= 0 else {
            throw .invalidLength(length)
        }
        guard length <= readableBytes, let slice = readSlice(length: length) else {
            throw .exceedsRemainingBytes(claimed: length, remaining: readableBytes)
        }
        return slice
    }

    /// Reads non-null bytes; a null marker throws ``ProtocolDecodingError/unexpectedNull``.
    public mutating func readKafkaBytes(compact: Bool) throws(ProtocolDecodingError) -> ByteBuffer {
        guard let bytes = try readKafkaNullableBytes(compact: compact) else {
            throw .unexpectedNull
        }
        return bytes
    }

    /// Reads a `records` field: nullable bytes holding record batches, which are not decoded here.
    public mutating func readKafkaRecords(compact: Bool) throws(ProtocolDecodingError) -> ByteBuffer? {
        try readKafkaNullableBytes(compact: compact)
    }

    /// Writes bytes that may be null.
    public mutating func writeKafkaNullableBytes(_ value: ByteBuffer?, compact: Bool) {
        writeKafkaLength(value?.readableBytes, compact: compact, classicWidth: 4)
        if let value {
            writeImmutableBuffer(value)
        }
    }

    /// Writes non-null bytes.
    public mutating func writeKafkaBytes(_ value: ByteBuffer, compact: Bool) {
        writeKafkaNullableBytes(value, compact: compact)
    }

    /// Writes a `records` field (nullable bytes).
    public mutating func writeKafkaRecords(_ value: ByteBuffer?, compact: Bool) {
        writeKafkaNullableBytes(value, compact: compact)
    }

    // MARK: Arrays

    /// Reads an array count (int32, or compact varint N+1); nil means null. A count that could
    /// not fit in the remaining bytes, given that each element takes at least
    /// `minimumElementSize` bytes, throws.
    public mutating func readKafkaArrayCount(
        compact: Bool, minimumElementSize: Int
    ) throws(ProtocolDecodingError) -> Int? {
        guard let count = try readKafkaLength(compact: compact, classicWidth: 4) else {
            return nil
        }
        guard count >= 0 else {
            throw .negativeCount(count)
        }
        guard count <= readableBytes / Swift.max(1, minimumElementSize) else {
            throw .exceedsRemainingBytes(claimed: count, remaining: readableBytes)
        }
        return count
    }

    /// Reads an array that may be null, reading each element with `readElement`.
    public mutating func readKafkaNullableArray<Element>(
        compact: Bool, minimumElementSize: Int, _ readElement: (inout ByteBuffer) throws -> Element
    ) throws -> [Element]? {
        guard let count = try readKafkaArrayCount(compact: compact, minimumElementSize: minimumElementSize) else {
            return nil
        }
        var elements: [Element] = []
        elements.reserveCapacity(count)  // checked above: at most one element per remaining byte
        for _ in 0..<count {
            elements.append(try readElement(&self))
        }
        return elements
    }

    /// Reads a non-null array; a null marker throws ``ProtocolDecodingError/unexpectedNull``.
    public mutating func readKafkaArray<Element>(
        compact: Bool, minimumElementSize: Int, _ readElement: (inout ByteBuffer) throws -> Element
    ) throws -> [Element] {
        guard let elements = try readKafkaNullableArray(
            compact: compact, minimumElementSize: minimumElementSize, readElement)
        else {
            throw ProtocolDecodingError.unexpectedNull
        }
        return elements
    }

    /// Reads an array that may be null into `elements`, as ``readKafkaNullableArray(compact:minimumElementSize:_:)``
    /// would, but decoding each element in place over the one already at its index (`blank()`
    /// makes those past the end), so the array's storage, and its elements', is kept.
    public mutating func readKafkaNullableArray<Element>(
        into elements: inout [Element]?, compact: Bool, minimumElementSize: Int, blank: () -> Element,
        _ readElement: (inout Element, inout ByteBuffer) throws -> Void
    ) throws {
        guard let count = try readKafkaArrayCount(compact: compact, minimumElementSize: minimumElementSize) else {
            elements = nil
            return
        }
        if elements == nil { elements = [] }
        try Self.readElements(count, into: &elements!, buffer: &self, blank: blank, readElement)
    }

    /// Reads a non-null array into `elements` in place; a null marker throws
    /// ``ProtocolDecodingError/unexpectedNull``.
    public mutating func readKafkaArray<Element>(
        into elements: inout [Element], compact: Bool, minimumElementSize: Int, blank: () -> Element,
        _ readElement: (inout Element, inout ByteBuffer) throws -> Void
    ) throws {
        guard let count = try readKafkaArrayCount(compact: compact, minimumElementSize: minimumElementSize) else {
            throw ProtocolDecodingError.unexpectedNull
        }
        try Self.readElements(count, into: &elements, buffer: &self, blank: blank, readElement)
    }

    private static func readElements<Element>(
        _ count: Int, into elements: inout [Element], buffer: inout ByteBuffer, blank: () -> Element,
        _ readElement: (inout Element, inout ByteBuffer) throws -> Void
    ) throws {
        if elements.count > count { elements.removeLast(elements.count - count) }
        elements.reserveCapacity(count)  // checked: at most one element per remaining byte
        for index in 0..<count {
            if index < elements.count {
                try readElement(&elements[index], &buffer)
            } else {
                var element = blank()
                try readElement(&element, &buffer)
                elements.append(element)
            }
        }
    }

    /// Writes an array that may be null, writing each element with `writeElement`.
    public mutating func writeKafkaNullableArray<Element>(
        _ elements: [Element]?, compact: Bool, _ writeElement: (Element, inout ByteBuffer) -> Void
    ) {
        writeKafkaLength(elements?.count, compact: compact, classicWidth: 4)
        for element in elements ?? [] {
            writeElement(element, &self)
        }
    }

    /// Writes a non-null array.
    public mutating func writeKafkaArray<Element>(
        _ elements: [Element], compact: Bool, _ writeElement: (Element, inout ByteBuffer) -> Void
    ) {
        writeKafkaNullableArray(elements, compact: compact, writeElement)
    }
}
