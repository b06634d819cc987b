import NIOCore

/// One request frame's bytes, after its size prefix: one buffer when the frame came in one
/// socket read, else the buffers (slices of the reads) it came in, in order. Frames are not
/// gathered into one buffer as they arrive: a Produce request's records are appended from
/// the buffers they came in (``ScatteredProduceRequest``); other requests are gathered.
enum RequestFrame {
    case whole(ByteBuffer)
    case scattered([ByteBuffer])

    /// The frame in one buffer: copied together when it is scattered.
    var gathered: ByteBuffer {
        switch self {
        case .whole(let buffer):
            return buffer
        case .scattered(let parts):
            return parts.gathered
        }
    }
}

extension Collection<ByteBuffer> {
    /// The buffers' bytes copied, in order, into one buffer.
    var gathered: ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(reduce(0) { $0 + $1.readableBytes })
        for part in self { buffer.writeImmutableBuffer(part) }
        return buffer
    }
}

/// Splits the byte stream into Kafka request frames: an int32 size, then that many bytes.
///
/// A frame that spans socket reads is passed on as the slices of the reads it came in, never
/// copied together here (SwiftNIO's `ByteToMessageDecoder` would gather it into one buffer).
/// Only parts under ``smallestSlicedPart`` are copied, into a buffer of the frame's own: a
/// slice keeps its whole read buffer alive, so a client that sends a frame a few bytes at a
/// time would otherwise make the broker hold a read buffer per few bytes. A negative size or
/// one above `socket.request.max.bytes` is an error that closes the connection; nothing is
/// allocated for it, and a frame's memory grows only with the bytes that arrive.
final class RequestFrameDecoder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = RequestFrame

    let maximumFrameSize: Int
    /// The size prefix read so far, when it spans reads, and how many of its bytes.
    private var sizePrefix: UInt32 = 0
    private var sizePrefixBytes = 0
    /// The frame being read: its parts so far, and the bytes it still misses.
    private var parts: [ByteBuffer] = []
    private var missing = 0
    /// Whether the last part is a buffer of the frame's own, which small parts are copied into.
    private var lastPartIsCopy = false

    /// Parts at least this long are kept as slices of their reads; shorter ones are copied.
    static let smallestSlicedPart = 16 * 1024
    /// Set after a bad size: the rest of the stream is ignored while the connection closes.
    private var failed = false

    struct FrameTooLarge: Error, CustomStringConvertible {
        var size: Int32
        var limit: Int
        var description: String { "request frame of \(size) bytes is outside 0...\(limit) (socket.request.max.bytes)" }
    }

    init(maximumFrameSize: Int) {
        self.maximumFrameSize = maximumFrameSize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        while buffer.readableBytes > 0 && !failed {
            if missing > 0 {
                let length = min(missing, buffer.readableBytes)
                missing -= length
                appendPart(buffer.readSlice(length: length)!)
                if missing == 0 {
                    fireParts(context: context)
                    // Kept for the next frame unless the one passed on still holds the list.
                    parts.removeAll(keepingCapacity: true)
                    lastPartIsCopy = false
                }
                continue
            }
            guard let size = readSize(from: &buffer) else { return }
            guard size >= 0, Int(size) <= maximumFrameSize else {
                failed = true
                context.fireErrorCaught(FrameTooLarge(size: size, limit: maximumFrameSize))
                return
            }
            if buffer.readableBytes >= Int(size) {
                context.fireChannelRead(wrapInboundOut(.whole(buffer.readSlice(length: Int(size))!)))
            } else {
                missing = Int(size) - buffer.readableBytes
                // Room for the parts to come, at a read of 64 KiB or more each (kept from the
                // frames before when it is enough).
                parts.reserveCapacity(min(64, 2 + missing / 65_536))
                if buffer.readableBytes > 0 { appendPart(buffer.readSlice(length: buffer.readableBytes)!) }
            }
        }
    }

    /// Adds `part` to the frame: as it is when long enough, else copied into the frame's own
    /// last buffer (made with room for what the frame still misses, up to 64 KiB).
    private func appendPart(_ part: ByteBuffer) {
        if part.readableBytes >= Self.smallestSlicedPart {
            parts.append(part)
            lastPartIsCopy = false
            return
        }
        if lastPartIsCopy, parts[parts.count - 1].writableBytes >= part.readableBytes {
            parts[parts.count - 1].writeImmutableBuffer(part)
            return
        }
        var copy = ByteBufferAllocator().buffer(capacity: part.readableBytes + min(missing, 64 * 1024))
        copy.writeImmutableBuffer(part)
        parts.append(copy)
        lastPartIsCopy = true
    }

    /// Passes on the frame read in ``parts``.
    private func fireParts(context: ChannelHandlerContext) {
        context.fireChannelRead(wrapInboundOut(parts.count == 1 ? .whole(parts[0]) : .scattered(parts)))
    }

    /// The next frame's size, once its four bytes are in (they may span reads).
    private func readSize(from buffer: inout ByteBuffer) -> Int32? {
        if sizePrefixBytes == 0, let size = buffer.readInteger(as: Int32.self) { return size }
        while sizePrefixBytes < 4, let byte = buffer.readInteger(as: UInt8.self) {
            sizePrefix = sizePrefix << 8 | UInt32(byte)
            sizePrefixBytes += 1
        }
        guard sizePrefixBytes == 4 else { return nil }
        defer { (sizePrefix, sizePrefixBytes) = (0, 0) }
        return Int32(bitPattern: sizePrefix)
    }
}
