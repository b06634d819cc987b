import NIOCore

/// A tagged field (KIP-482) kept as its raw value bytes, for tags the generated code does not
/// know. Decoding keeps them and encoding writes them back, so they survive a round trip.
public struct TaggedField: Sendable, Hashable {
    /// The tag number.
    public var tag: UInt32
    /// The field's value bytes, without the tag and size prefix.
    public var data: ByteBuffer

    public init(tag: UInt32, data: ByteBuffer) {
        self.tag = tag
        self.data = data
    }
}

// A tagged-field section ends every struct in a flexible version: unsigned varint count, then
// per field an unsigned varint tag, an unsigned varint size and `size` bytes of value, in
// ascending tag order.

extension ByteBuffer {
    /// Reads the field count that starts a tagged-field section. Each field takes at least two
    /// bytes (tag and size), so a larger count than the remaining bytes allow throws.
    public mutating func readKafkaTaggedFieldCount() throws(ProtocolDecodingError) -> Int {
        let count = Int(try readUnsignedVarint())
        guard count <= readableBytes / 2 else {
            throw .exceedsRemainingBytes(claimed: count, remaining: readableBytes)
        }
        return count
    }

    /// Reads one tagged field's tag and its value as a slice of this buffer.
    public mutating func readKafkaTaggedField() throws(ProtocolDecodingError) -> (tag: UInt32, data: ByteBuffer) {
        let tag = try readUnsignedVarint()
        let size = Int(try readUnsignedVarint())
        guard size <= readableBytes, let data = readSlice(length: size) else {
            throw .exceedsRemainingBytes(claimed: size, remaining: readableBytes)
        }
        return (tag, data)
    }

    /// Reads a whole tagged-field section in which no tag is known.
    public mutating func readKafkaUnknownTaggedFields() throws(ProtocolDecodingError) -> [TaggedField] {
        let count = try readKafkaTaggedFieldCount()
        if count == 0 {
            return []
        }
        var fields: [TaggedField] = []
        fields.reserveCapacity(count)
        for _ in 0..<count {
            let (tag, data) = try readKafkaTaggedField()
            fields.append(TaggedField(tag: tag, data: data))
        }
        return fields
    }

    /// Reads a tagged-field section into `fields`, replacing what they held but keeping their
    /// storage.
    public mutating func readKafkaUnknownTaggedFields(into fields: inout [TaggedField]) throws(ProtocolDecodingError) {
        let count = try readKafkaTaggedFieldCount()
        fields.removeAll(keepingCapacity: true)
        for _ in 0..<count {
            let (tag, data) = try readKafkaTaggedField()
            fields.append(TaggedField(tag: tag, data: data))
        }
    }

    /// Writes a tagged-field section holding `fields`, sorted by tag.
    public mutating func writeKafkaTaggedFields(_ fields: [TaggedField]) {
        writeUnsignedVarint(UInt32(truncatingIfNeeded: fields.count))
        if fields.isEmpty {
            return
        }
        let isSorted = zip(fields, fields.dropFirst()).allSatisfy { $0.tag <= $1.tag }
        for field in isSorted ? fields : fields.sorted(by: { $0.tag < $1.tag }) {
            writeUnsignedVarint(field.tag)
            writeUnsignedVarint(UInt32(truncatingIfNeeded: field.data.readableBytes))
            writeImmutableBuffer(field.data)
        }
    }
}

/// Collects the tagged fields of one struct (known ones that differ from their default, plus
/// the unknown ones it was decoded with) and writes them as one section.
struct TaggedFieldsWriter {
    private var fields: [TaggedField]

    init(unknown: [TaggedField]) {
        self.fields = unknown
    }

    /// Adds a known field whose value `writeValue` encodes.
    mutating func add(tag: UInt32, _ writeValue: (inout ByteBuffer) -> Void) {
        var data = ByteBuffer()
        writeValue(&data)
        fields.append(TaggedField(tag: tag, data: data))
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeKafkaTaggedFields(fields)
    }
}
