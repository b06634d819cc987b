import ApusStorage
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A response ready to send: its bytes, and byte ranges of segment files that go out with
/// `sendfile` (FileRegion) instead of being copied through user space.
public struct ResponseFrame: Sendable {
    public enum Part: Sendable {
        case bytes(ByteBuffer)
        case file(SegmentFile, position: Int, length: Int)
    }

    /// Most frames are one buffer, held without an array; only Fetch frames that send
    /// segment file ranges have several parts.
    private enum Storage: Sendable {
        case buffer(ByteBuffer)
        case parts([Part])
    }

    private var storage: Storage

    public init(_ buffer: ByteBuffer) { storage = .buffer(buffer) }
    init(parts: [Part]) { storage = .parts(parts) }

    public var byteCount: Int {
        switch storage {
        case .buffer(let buffer): buffer.readableBytes
        case .parts(let parts): parts.reduce(0) { $0 + Self.byteCount(of: $1) }
        }
    }

    static func byteCount(of part: Part) -> Int {
        switch part {
        case .bytes(let buffer): buffer.readableBytes
        case .file(_, _, let length): length
        }
    }

    /// Writes the parts on `context`; file parts through the connection's kept descriptor for
    /// their segment file (``SendfileHandles``), so that nothing is allocated per range. On TLS
    /// connections (`copyFiles`), where the kernel cannot encrypt a sendfile, file parts are read
    /// into buffers instead.
    func write(to context: ChannelHandlerContext, copyFiles: Bool, handles: SendfileHandles, wrap: (IOData) -> NIOAny) {
        let parts: [Part]
        switch storage {
        case .buffer(let buffer):
            context.write(wrap(.byteBuffer(buffer)), promise: nil)
            return
        case .parts(let several):
            parts = several
        }
        for part in parts {
            switch part {
            case .bytes(let buffer):
                context.write(wrap(.byteBuffer(buffer)), promise: nil)
            case .file(let file, let position, let length) where copyFiles:
                do {
                    let bytes = try file.read(at: position, count: length)
                    context.write(wrap(.byteBuffer(context.channel.allocator.buffer(bytes: bytes))), promise: nil)
                } catch {
                    context.fireErrorCaught(error)
                    return
                }
            case .file(let file, let position, let length):
                do {
                    let region = FileRegion(fileHandle: try handles.handle(for: file, on: context.eventLoop), readerIndex: position, endIndex: position + length)
                    context.write(wrap(.fileRegion(region)), promise: nil)
                } catch {
                    context.fireErrorCaught(error)
                    return
                }
            }
        }
    }
}

/// Builds a frame whose record fields are sent from segment files: the response is encoded
/// by the generated codec with a 16-byte marker in place of each file slice's records, then
/// each marker's length prefix is rewritten in place for the real length and the frame is
/// split at the markers. This keeps the generated encoder the one place that knows the layout.
struct RecordsSplicer {
    /// A marker no encoding of ours contains by chance: 8 random bytes and a counter.
    private let prefix: UInt64 = UInt64.random(in: .min ... .max)
    private(set) var slices: [LogSlice] = []
    /// Every marker, written up front so that handing out slices of it copies nothing.
    private var markers = ByteBuffer()

    /// A splicer for up to `capacity` file slices without further allocation.
    init(capacity: Int = 0) {
        reset(capacity: capacity)
    }

    /// Empties the splicer for a new response of up to `capacity` file slices, keeping its
    /// storage (and its markers, when there are enough).
    mutating func reset(capacity: Int) {
        slices.removeAll(keepingCapacity: true)
        slices.reserveCapacity(capacity)
        guard markers.readableBytes < 16 * capacity else { return }
        markers = ByteBuffer()
        markers.reserveCapacity(16 * capacity)
        for number in 0..<capacity { Self.writeMarker(prefix, number, into: &markers) }
    }

    /// Drops the slices (and so the segment files they hold open), keeping the storage.
    mutating func releaseSlices() {
        slices.removeAll(keepingCapacity: true)
    }

    private static func writeMarker(_ prefix: UInt64, _ number: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(prefix)
        buffer.writeInteger(UInt64(number))
    }

    /// A placeholder records buffer for `slice`: the prefix and the slice's number, big-endian.
    mutating func placeholder(for slice: LogSlice) -> ByteBuffer {
        let number = slices.count
        slices.append(slice)
        if let marker = markers.getSlice(at: 16 * number, length: 16) { return marker }
        var marker = ByteBuffer()
        Self.writeMarker(prefix, number, into: &marker)
        return marker
    }

    /// Where the marker of slice `number` starts in `frame`, searching from `start` (an index
    /// into the buffer); markers come in slice order, each after the one before.
    private func markerIndex(_ number: Int, in frame: ByteBuffer, from start: Int) -> Int? {
        let (wantedPrefix, wantedNumber) = (prefix.bigEndian, UInt64(number).bigEndian)
        return frame.withUnsafeReadableBytes { raw -> Int? in
            let base = frame.readerIndex
            var offset = start - base
            while offset + 16 <= raw.count {
                if raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self) == wantedPrefix,
                    raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self) == wantedNumber
                {
                    return base + offset
                }
                offset += 1
            }
            return nil
        }
    }

    /// Writes the records length prefix for `length` bytes at `index`: a compact varint of
    /// length + 1 (flexible versions) or an int32. Returns its width, at most 5 bytes, which
    /// fits in the placeholder's prefix and marker it replaces.
    private static func setLengthPrefix(_ length: Int, compact: Bool, in frame: inout ByteBuffer, at index: Int) -> Int {
        guard compact else { return frame.setInteger(Int32(length), at: index) }
        var value = UInt64(length + 1)
        var width = 0
        while value >= 0x80 {
            frame.setInteger(UInt8(truncatingIfNeeded: value) | 0x80, at: index + width)
            value >>= 7
            width += 1
        }
        frame.setInteger(UInt8(value), at: index + width)
        return width + 1
    }

    /// Splits `frame` (size, header, body as encoded) at the markers. `compact` tells whether
    /// the records length prefix is a compact varint (flexible versions) or an int32. The
    /// frame is edited in place while it is the only reference to its bytes (each marker's
    /// prefix rewritten, the size fixed), then cut: its parts are slices of it, not copies.
    /// The parts go into `parts`, whose storage is reused (emptied first).
    func splice(_ frame: inout ByteBuffer, compact: Bool, into parts: inout [ResponseFrame.Part]) -> ResponseFrame {
        guard !slices.isEmpty else { return ResponseFrame(frame) }
        let oldPrefixWidth = compact ? 1 : 4  // the prefix of a 16-byte placeholder
        return withUnsafeTemporaryAllocation(of: (end: Int, resume: Int).self, capacity: slices.count) { cuts in
            var cursor = frame.readerIndex
            var total = frame.readableBytes
            for (number, slice) in slices.enumerated() {
                guard let found = markerIndex(number, in: frame, from: cursor) else {
                    preconditionFailure("records marker missing from the encoded response")
                }
                let prefixIndex = found - oldPrefixWidth
                let width = Self.setLengthPrefix(slice.length, compact: compact, in: &frame, at: prefixIndex)
                cuts[number] = (end: prefixIndex + width, resume: found + 16)
                total += width - oldPrefixWidth - 16 + slice.length
                cursor = found + 16
            }
            frame.setInteger(Int32(total - 4), at: frame.readerIndex)
            parts.removeAll(keepingCapacity: true)
            parts.reserveCapacity(slices.count * 2 + 1)
            var start = frame.readerIndex
            for (number, slice) in slices.enumerated() {
                parts.append(.bytes(frame.getSlice(at: start, length: cuts[number].end - start)!))
                parts.append(.file(slice.file, position: slice.position, length: slice.length))
                start = cuts[number].resume
            }
            parts.append(.bytes(frame.getSlice(at: start, length: frame.writerIndex - start)!))
            return ResponseFrame(parts: parts)
        }
    }
}
