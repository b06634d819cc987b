import NIOCore

/// A Produce request frame that arrived in several buffers (it spanned socket reads), taken
/// apart so that its record batches are never copied together: ``skeleton`` is the request
/// (header and body) with every partition's records field empty, contiguous, for the
/// generated decoders; ``records(ofPartitionAt:)`` gives each partition's batches as slices
/// of the buffers they arrived in. The broker appends those slices where they are, so the
/// bytes a producer sends are copied once on their way to the log (into the page cache).
///
/// This walks the Produce layout (header v1/v2, Produce v0-v9 and later versions of the same
/// shape) only to find the records fields; the generated ``ProduceRequest`` decoder still
/// decodes every field, from the skeleton. Tests check that both agree for every version.
/// Lengths and counts from the wire are checked against the bytes there; a frame that does
/// not walk throws, and the caller decodes it the ordinary way, for the ordinary error.
public struct ScatteredProduceRequest {
    /// The request with each records field replaced by empty records (null stays null).
    public private(set) var skeleton: ByteBuffer
    /// Every partition's records, slice after slice, in request order.
    private var slices: [ByteBuffer] = []
    /// For each partition in request order: the range of ``slices`` holding its records, or
    /// nil when its records are null.
    private var partitions: [Range<Int>?] = []

    /// Why a frame could not be walked as a Produce request.
    public enum Failure: Error, Equatable {
        case notProduce(apiKey: Int16)
        /// A version whose layout this does not know.
        case unknownVersion(Int16)
        case malformed(ProtocolDecodingError)
    }

    /// Nothing taken apart yet: for ``takeApart(_:)``.
    public init() {
        skeleton = ByteBuffer()
    }

    /// Takes apart the Produce request frame (without its size prefix) held in `buffers`.
    public init(_ buffers: [ByteBuffer]) throws(Failure) {
        self.init()
        try takeApart(buffers)
    }

    /// Takes apart the Produce request frame held in `buffers` over the last one taken apart,
    /// reusing its storage: a connection's requests allocate nothing here once it has seen its
    /// largest (unless the last one's records are still held).
    public mutating func takeApart(_ buffers: [ByteBuffer]) throws(Failure) {
        skeleton.clear()
        slices.removeAll(keepingCapacity: true)
        partitions.removeAll(keepingCapacity: true)
        slices.reserveCapacity(buffers.count + 1)
        var walker = Walker(buffers)
        skeleton.reserveCapacity(minimumWritableBytes: 256)
        do {
            let apiKey = try walker.int16(copyingTo: &skeleton)
            guard apiKey == ApiKey.produce.rawValue else { throw Failure.notProduce(apiKey: apiKey) }
            let version = try walker.int16(copyingTo: &skeleton)
            guard ProduceRequest.validVersions.contains(version) else { throw Failure.unknownVersion(version) }
            let flexible = RequestHeader.version(apiKey: .produce, apiVersion: version) >= 2
            try walker.copy(4, to: &skeleton)  // correlation id
            try walker.classicString(copyingTo: &skeleton)  // client id: an int16 length even in header v2
            if flexible { try walker.taggedFields(copyingTo: &skeleton) }
            if version >= 3 { try walker.string(compact: flexible, copyingTo: &skeleton) }  // transactional id
            try walker.copy(2 + 4, to: &skeleton)  // acks, timeout
            let topics = try walker.count(compact: flexible, copyingTo: &skeleton)
            for _ in 0..<topics {
                try walker.string(compact: flexible, copyingTo: &skeleton)  // name
                let count = try walker.count(compact: flexible, copyingTo: &skeleton)
                for _ in 0..<count {
                    try walker.copy(4, to: &skeleton)  // partition index
                    if let length = try walker.nullableLength(compact: flexible, classicWidth: 4) {
                        // Empty records in the skeleton; the bytes stay where they are.
                        skeleton.writeKafkaLength(0, compact: flexible, classicWidth: 4)
                        let first = slices.count
                        try walker.slices(length, into: &slices)
                        partitions.append(first..<slices.count)
                    } else {
                        skeleton.writeKafkaLength(nil, compact: flexible, classicWidth: 4)
                        partitions.append(nil)
                    }
                    if flexible { try walker.taggedFields(copyingTo: &skeleton) }
                }
                if flexible { try walker.taggedFields(copyingTo: &skeleton) }
            }
            if flexible { try walker.taggedFields(copyingTo: &skeleton) }
            try walker.copy(walker.remaining, to: &skeleton)
        } catch let error as ProtocolDecodingError {
            throw .malformed(error)
        } catch let failure as Failure {
            throw failure
        } catch {
            preconditionFailure("unexpected error \(error)")
        }
    }

    /// How many partitions the request carries, counted over all topics.
    public var partitionCount: Int { partitions.count }

    /// The records of the request's partition number `index`, counting over all topics in
    /// request order: slices of the buffers the request arrived in, or nil for null records.
    public func records(ofPartitionAt index: Int) -> ArraySlice<ByteBuffer>? {
        partitions[index].map { slices[$0] }
    }

    /// Reads a frame held in several buffers, copying what it reads into the skeleton except
    /// the records.
    private struct Walker {
        private let buffers: [ByteBuffer]
        /// The buffer being read and the offset in its readable bytes.
        private var index = 0
        private var offset = 0
        private(set) var remaining: Int

        init(_ buffers: [ByteBuffer]) {
            self.buffers = buffers
            remaining = buffers.reduce(0) { $0 + $1.readableBytes }
            skipEmpty()
        }

        private mutating func skipEmpty() {
            while index < buffers.count && offset == buffers[index].readableBytes {
                index += 1
                offset = 0
            }
        }

        private mutating func byte() throws(ProtocolDecodingError) -> UInt8 {
            guard remaining > 0 else { throw .truncated(needed: 1, available: 0) }
            let buffer = buffers[index]
            let value = buffer.getInteger(at: buffer.readerIndex + offset, as: UInt8.self)!
            offset += 1
            remaining -= 1
            skipEmpty()
            return value
        }

        /// Steps over `count` bytes, calling `body` with each buffer's part of them.
        private mutating func advance(_ count: Int, _ body: (ByteBuffer) -> Void) throws(ProtocolDecodingError) {
            guard count >= 0 else { throw .invalidLength(count) }
            guard count <= remaining else { throw .exceedsRemainingBytes(claimed: count, remaining: remaining) }
            var left = count
            while left > 0 {
                let buffer = buffers[index]
                let take = min(left, buffer.readableBytes - offset)
                body(buffer.getSlice(at: buffer.readerIndex + offset, length: take)!)
                offset += take
                left -= take
                remaining -= take
                skipEmpty()
            }
        }

        mutating func copy(_ count: Int, to skeleton: inout ByteBuffer) throws(ProtocolDecodingError) {
            try advance(count) { part in skeleton.writeImmutableBuffer(part) }
        }

        mutating func slices(_ count: Int, into slices: inout [ByteBuffer]) throws(ProtocolDecodingError) {
            try advance(count) { part in slices.append(part) }
        }

        private mutating func integer<T: FixedWidthInteger>(_: T.Type) throws(ProtocolDecodingError) -> T {
            var value: T = 0
            for _ in 0..<MemoryLayout<T>.size { value = value << 8 | T(try byte()) }
            return value
        }

        mutating func int16(copyingTo skeleton: inout ByteBuffer) throws(ProtocolDecodingError) -> Int16 {
            let value = try integer(Int16.self)
            skeleton.writeInteger(value)
            return value
        }

        private mutating func unsignedVarint() throws(ProtocolDecodingError) -> UInt32 {
            try decodeUnsignedVarint { () throws(ProtocolDecodingError) -> UInt8 in try byte() }
        }

        /// A length prefix, nil for null: an unsigned varint of length + 1 (compact) or an
        /// int16/int32 where -1 is null.
        mutating func nullableLength(compact: Bool, classicWidth: Int) throws(ProtocolDecodingError) -> Int? {
            let length: Int
            if compact {
                length = Int(try unsignedVarint()) - 1
            } else {
                length = classicWidth == 2 ? Int(try integer(Int16.self)) : Int(try integer(Int32.self))
            }
            if length == -1 { return nil }
            guard length >= 0 else { throw .invalidLength(length) }
            guard length <= remaining else { throw .exceedsRemainingBytes(claimed: length, remaining: remaining) }
            return length
        }

        /// A string (nullable or not), copied whole.
        mutating func string(compact: Bool, copyingTo skeleton: inout ByteBuffer) throws(ProtocolDecodingError) {
            let length = try nullableLength(compact: compact, classicWidth: 2)
            skeleton.writeKafkaLength(length, compact: compact, classicWidth: 2)
            try copy(length ?? 0, to: &skeleton)
        }

        mutating func classicString(copyingTo skeleton: inout ByteBuffer) throws(ProtocolDecodingError) {
            try string(compact: false, copyingTo: &skeleton)
        }

        /// An array count (a null array counts 0), copied.
        mutating func count(compact: Bool, copyingTo skeleton: inout ByteBuffer) throws(ProtocolDecodingError) -> Int {
            let count: Int
            if compact {
                count = Int(try unsignedVarint()) - 1
            } else {
                count = Int(try integer(Int32.self))
            }
            guard count >= -1 else { throw .negativeCount(count) }
            guard count <= remaining else { throw .exceedsRemainingBytes(claimed: count, remaining: remaining) }
            if compact { skeleton.writeUnsignedVarint(UInt32(count + 1)) } else { skeleton.writeInteger(Int32(count)) }
            return max(count, 0)
        }

        /// A tagged-field section, copied whole.
        mutating func taggedFields(copyingTo skeleton: inout ByteBuffer) throws(ProtocolDecodingError) {
            let fields = try unsignedVarint()
            skeleton.writeUnsignedVarint(fields)
            guard Int(fields) <= remaining else { throw .exceedsRemainingBytes(claimed: Int(fields), remaining: remaining) }
            for _ in 0..<fields {
                let tag = try unsignedVarint()
                let size = try unsignedVarint()
                skeleton.writeUnsignedVarint(tag)
                skeleton.writeUnsignedVarint(size)
                try copy(Int(size), to: &skeleton)
            }
        }
    }
}
