import ApusProtocol
import ApusRecord
import Foundation
import NIOCore
import NIOEmbedded
import Testing
@testable import ApusBroker

/// Frames that span socket reads are passed on as the reads' slices, and a Produce request
/// that spans reads is appended from them: the broker must answer and store exactly what it
/// would for the same bytes in one read.
@Suite(.serialized) struct RequestFrameDecoderTests {
    /// The frames the decoder passes on when `stream` arrives cut at `cuts`.
    func frames(of stream: [UInt8], cutAt cuts: [Int], maximumFrameSize: Int = 1 << 20) throws -> (frames: [RequestFrame], error: Error?) {
        let channel = EmbeddedChannel()
        let errors = ErrorRecorder()
        try channel.pipeline.syncOperations.addHandlers([RequestFrameDecoder(maximumFrameSize: maximumFrameSize), errors])
        var start = 0
        for cut in cuts.sorted() + [stream.count] where cut >= start {
            try channel.writeInbound(ByteBuffer(bytes: stream[start..<cut]))
            start = cut
        }
        var frames: [RequestFrame] = []
        while let frame = try channel.readInbound(as: RequestFrame.self) { frames.append(frame) }
        _ = try? channel.finish()
        return (frames, errors.error)
    }

    final class ErrorRecorder: ChannelInboundHandler {
        typealias InboundIn = RequestFrame
        var error: Error?
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.fireChannelRead(data) }
        func errorCaught(context: ChannelHandlerContext, error: Error) { self.error = error }
    }

    @Test func anyCutGivesTheSameFramesAndOnlyFramesThatSpanReadsAreScattered() throws {
        let bodies: [[UInt8]] = [Array(repeating: 1, count: 10), [], Array(0..<200).map(UInt8.init), [9]]
        var stream: [UInt8] = []
        for body in bodies { stream += withUnsafeBytes(of: Int32(body.count).bigEndian, Array.init) + body }
        var cutSets = (0...stream.count).map { [$0] }
        cutSets.append(Array(0...stream.count))
        for _ in 0..<100 { cutSets.append((0..<Int.random(in: 2...10)).map { _ in Int.random(in: 0...stream.count) }) }
        for cuts in cutSets {
            let (frames, error) = try frames(of: stream, cutAt: cuts)
            #expect(error == nil)
            #expect(frames.map { Array($0.gathered.readableBytesView) } == bodies, "cuts \(cuts)")
        }
        // In one read, every frame is whole; cut inside the long body, it is scattered.
        #expect(try frames(of: stream, cutAt: []).frames.allSatisfy { if case .whole = $0 { true } else { false } })
        let cutInside = try frames(of: stream, cutAt: [14 + 4 + 4 + 50])
        guard case .scattered(let parts) = cutInside.frames[2] else { Issue.record("not scattered"); return }
        #expect(parts.map(\.readableBytes) == [50, 150])
    }

    @Test func aSizeOutsideTheLimitIsAnErrorAndNothingFollows() throws {
        for size in [Int32(-1), 1001] {
            let stream = withUnsafeBytes(of: size.bigEndian, Array.init) + Array(repeating: 0, count: 20)
            let (frames, error) = try frames(of: stream, cutAt: [2], maximumFrameSize: 1000)
            #expect(frames.isEmpty)
            #expect(error is RequestFrameDecoder.FrameTooLarge)
        }
    }

    /// A Produce request of several partitions (on several loops, one of them refused) sent a
    /// few bytes at a time, so that the broker reads it in many pieces: it is answered and
    /// stored as the same request sent at once.
    @Test func aProduceRequestReadInPiecesIsAnsweredAndStoredAsAWholeOne() async throws {
        try await withBroker(settings: [("num.network.threads", "3")]) { _, port in
            let client = try TestClient(port: port)
            try createTopic(client, "pieces", partitions: 3)
            var corrupt = try batch(["x"])
            corrupt.setInteger(UInt8(0xFF), at: corrupt.writerIndex - 1)
            let values = (0..<3).map { partition in (0..<50).map { "p\(partition)-value-\($0)-" + String(repeating: "z", count: 40) } }
            for version: Int16 in [7, 9] {
                let request = ProduceRequest(acks: -1, timeoutMs: 5000, topicData: [
                    .init(name: "pieces", partitionData: try (0..<3).map { .init(index: Int32($0), records: try batch(values[$0], codec: $0 == 1 ? .lz4 : .none)) }
                        + [.init(index: 0, records: corrupt)]),
                ])
                let (bytes, id) = client.frame(request, version: version)
                var sent = 0
                while sent < bytes.count {
                    let end = min(bytes.count, sent + 97)
                    try client.sendRaw(Array(bytes[sent..<end]))
                    sent = end
                    usleep(200)
                }
                var (correlation, body) = try client.readResponse(apiKey: .produce, version: version)
                #expect(correlation == id)
                let answer = try ProduceResponse(from: &body, version: version).responses[0].partitionResponses
                let round = Int64(version == 7 ? 0 : 50)
                #expect(answer.map(\.errorCode) == [0, 0, 0, KafkaErrorCode.corruptMessage.rawValue])
                #expect(answer.prefix(3).allSatisfy { $0.baseOffset == round })
            }
            for partition in 0..<3 {
                let fetched = try client.call(fetchRequest(topic: "pieces", partition: Int32(partition), offset: 0), version: 11)
                let stored = try RecordBatchDecoder.decodeAll(Array(try #require(fetched.responses[0].partitions[0].records).readableBytesView))
                #expect(stored.flatMap(\.records).map(\.offset) == Array(0..<100))
                #expect(stored.flatMap(\.records).compactMap { $0.value.map { String(decoding: $0, as: UTF8.self) } } == values[partition] + values[partition])
            }
        }
    }
}
