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

    /// Writes the parts on `context`; file parts through a duplicated descriptor that is closed
    /// once its write completes or fails. On TLS connections (`copyFiles`), where the kernel
    /// cannot encrypt a sendfile, file parts are read into buffers instead.
    func write(to context: ChannelHandlerContext, copyFiles: Bool, wrap: (IOData) -> NIOAny) {
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
                let descriptor = dup(file.descriptor)
                guard descriptor >= 0 else {
                    context.fireErrorCaught(StorageError.io(operation: "dup", path: file.path, errno: errno))
                    return
                }
                let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
                let region = FileRegion(fileHandle: handle, readerIndex: position, endIndex: position + length)
                let promise = context.eventLoop.makePromise(of: Void.self)
                promise.futureResult.whenComplete { _ in try? handle.close() }
                context.write(wrap(.fileRegion(region)), promise: promise)
            }
        }
    }
}

/// Builds a frame whose record fields are sent from segment files: the response is encoded
/// by the generated codec with a 16-byte marker in place of each file slice's records, then
/// split at the markers, each length prefix rewritten for the real length. This keeps the
/// generated encoder the one place that knows the layout.
struct RecordsSplicer {
    /// A marker no encoding of ours contains by chance: 8 random bytes and a counter.
    private let prefix: UInt64 = UInt64.random(in: .min ... .max)
    private(set) var slices: [LogSlice] = []

    /// A placeholder records buffer for `slice`: the prefix and the slice's number, big-endian.
    mutating func placeholder(for slice: LogSlice) -> ByteBuffer {
        var marker = ByteBuffer()
        marker.reserveCapacity(16)
        marker.writeInteger(prefix)
        marker.writeInteger(UInt64(slices.count))
        slices.append(slice)
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

    /// Splits `frame` (size, header, body as encoded) at the markers. `compact` tells whether
    /// the records length prefix is a compact varint (flexible versions) or an int32. The parts
    /// between markers are slices of `frame`, not copies; each rewritten length prefix is a
    /// part of its own.
    func splice(_ frame: ByteBuffer, compact: Bool) -> ResponseFrame {
        guard !slices.isEmpty else { return ResponseFrame(frame) }
        var parts: [ResponseFrame.Part] = []
        parts.reserveCapacity(slices.count * 3 + 1)
        var cursor = frame.readerIndex
        let oldPrefixWidth = compact ? 1 : 4  // the prefix of a 16-byte placeholder
        for (number, slice) in slices.enumerated() {
            guard let found = markerIndex(number, in: frame, from: cursor) else {
                preconditionFailure("records marker missing from the encoded response")
            }
            parts.append(.bytes(frame.getSlice(at: cursor, length: found - oldPrefixWidth - cursor)!))
            var length = ByteBuffer()
            if compact {
                var value = UInt64(slice.length + 1)
                while value >= 0x80 {
                    length.writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
                    value >>= 7
                }
                length.writeInteger(UInt8(value))
            } else {
                length.writeInteger(Int32(slice.length))
            }
            parts.append(.bytes(length))
            parts.append(.file(slice.file, position: slice.position, length: slice.length))
            cursor = found + 16
        }
        parts.append(.bytes(frame.getSlice(at: cursor, length: frame.writerIndex - cursor)!))
        // Fix the frame's size prefix, at the start of the first part.
        let total = parts.reduce(0) { $0 + ResponseFrame.byteCount(of: $1) }
        if case .bytes(var first) = parts[0] {
            first.setInteger(Int32(total - 4), at: first.readerIndex)
            parts[0] = .bytes(first)
        }
        return ResponseFrame(parts: parts)
    }
}
