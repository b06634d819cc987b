import NIOCore

/// Splits the byte stream into Kafka request frames: an int32 size, then that many bytes.
///
/// A negative size or one above `socket.request.max.bytes` is an error that closes the
/// connection; nothing is allocated for it.
struct KafkaFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let maximumFrameSize: Int

    struct FrameTooLarge: Error, CustomStringConvertible {
        var size: Int32
        var limit: Int
        var description: String { "request frame of \(size) bytes is outside 0...\(limit) (socket.request.max.bytes)" }
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return .needMoreData }
        guard size >= 0, Int(size) <= maximumFrameSize else { throw FrameTooLarge(size: size, limit: maximumFrameSize) }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(size))!))
        return .continue
    }
}
