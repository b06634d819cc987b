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

    public var parts: [Part]

    public init(_ buffer: ByteBuffer) { parts = [.bytes(buffer)] }
    init(parts: [Part]) { self.parts = parts }

    public var byteCount: Int {
        parts.reduce(0) { total, part in
            switch part {
            case .bytes(let buffer): total + buffer.readableBytes
            case .file(_, _, let length): total + length
            }
        }
    }

    /// Writes the parts on `context`; file parts through a duplicated descriptor that is closed
    /// once its write completes or fails. On TLS connections (`copyFiles`), where the kernel
    /// cannot encrypt a sendfile, file parts are read into buffers instead.
    func write(to context: ChannelHandlerContext, copyFiles: Bool, wrap: (IOData) -> NIOAny) {
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
    private(set) var slices: [(marker: [UInt8], slice: LogSlice)] = []

    /// A placeholder records buffer for `slice`.
    mutating func placeholder(for slice: LogSlice) -> ByteBuffer {
        var marker: [UInt8] = []
        marker.append(contentsOf: withUnsafeBytes(of: prefix.bigEndian, Array.init))
        marker.append(contentsOf: withUnsafeBytes(of: UInt64(slices.count).bigEndian, Array.init))
        slices.append((marker, slice))
        return ByteBuffer(bytes: marker)
    }

    /// Splits `frame` (size, header, body as encoded) at the markers. `compact` tells whether
    /// the records length prefix is a compact varint (flexible versions) or an int32.
    func splice(_ frame: ByteBuffer, compact: Bool) -> ResponseFrame {
        guard !slices.isEmpty else { return ResponseFrame(frame) }
        let bytes = Array(frame.readableBytesView)
        var parts: [ResponseFrame.Part] = []
        var cursor = 0
        let oldPrefixWidth = compact ? 1 : 4  // the prefix of a 16-byte placeholder
        for (marker, slice) in slices {
            guard let found = bytes[cursor...].firstRange(of: marker) else {
                preconditionFailure("records marker missing from the encoded response")
            }
            var head = ByteBuffer(bytes: bytes[cursor..<(found.lowerBound - oldPrefixWidth)])
            if compact {
                var value = UInt64(slice.length + 1)
                while value >= 0x80 {
                    head.writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
                    value >>= 7
                }
                head.writeInteger(UInt8(value))
            } else {
                head.writeInteger(Int32(slice.length))
            }
            parts.append(.bytes(head))
            parts.append(.file(slice.file, position: slice.position, length: slice.length))
            cursor = found.upperBound
        }
        parts.append(.bytes(ByteBuffer(bytes: bytes[cursor...])))
        var result = ResponseFrame(parts: parts)
        // Fix the frame's size prefix, at the start of the first part.
        if case .bytes(var first) = result.parts[0] {
            first.setInteger(Int32(result.byteCount - 4), at: first.readerIndex)
            result.parts[0] = .bytes(first)
        }
        return result
    }
}
