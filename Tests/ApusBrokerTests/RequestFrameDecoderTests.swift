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
        // In one read, every frame is whole.
        #expect(try frames(of: stream, cutAt: []).frames.allSatisfy { if case .whole = $0 { true } else { false } })
    }

    /// Long parts stay slices of their reads; short ones are copied into a buffer of the
    /// frame's own, so that a frame sent a byte at a time costs its bytes, not a read buffer
    /// per byte.
    @Test func longPartsAreSlicesAndShortOnesAreCopiedTogether() throws {
        let body = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let stream = withUnsafeBytes(of: Int32(body.count).bigEndian, Array.init) + body
        let cutInside = try frames(of: stream, cutAt: [4 + 20_000, 4 + 40_000])
        guard case .scattered(let parts) = cutInside.frames.first else { Issue.record("not scattered"); return }
        #expect(parts.map(\.readableBytes) == [20_000, 20_000, 10_000])
        #expect(Array(cutInside.frames[0].gathered.readableBytesView) == body)
        // A byte at a time: one buffer of the frame's own.
        let trickled = try frames(of: stream, cutAt: Array(1..<stream.count))
        guard case .whole(let whole) = trickled.frames.first else { Issue.record("not one buffer"); return }
        #expect(Array(whole.readableBytesView) == body)
        // Short parts between long ones are copied together, long ones kept.
        let mixed = try frames(of: stream, cutAt: [4 + 100, 4 + 200, 4 + 300, 4 + 30_000, 4 + 30_010])
        guard case .scattered(let mixedParts) = mixed.frames.first else { Issue.record("not scattered"); return }
        #expect(mixedParts.map(\.readableBytes) == [300, 29_700, 10, 19_990])
        #expect(Array(mixed.frames[0].gathered.readableBytesView) == body)
    }

    /// Records in more pieces than are lent at once are copied together first.
    @Test func recordsInTooManyPiecesAreCopiedTogether() throws {
        let parts = (0..<(ProducedRecords.maximumPieces + 1)).map { ByteBuffer(bytes: [UInt8($0), 1, 2]) }
        guard case .whole(let whole) = ProducedRecords(parts[...]) else { Issue.record("not copied together"); return }
        #expect(Array(whole.readableBytesView) == parts.flatMap { Array($0.readableBytesView) })
        guard case .scattered(let kept) = ProducedRecords(parts.dropLast()) else { Issue.record("copied"); return }
        #expect(kept.count == ProducedRecords.maximumPieces)
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
    /// piece at a time, so that the broker reads it in many pieces: long pieces, whose records
    /// are appended from the reads' buffers, and short ones, copied together. It is answered
    /// and stored as the same request sent at once.
    @Test func aProduceRequestReadInPiecesIsAnsweredAndStoredAsAWholeOne() async throws {
        try await withBroker(settings: [("num.network.threads", "3")]) { _, port in
            let client = try TestClient(port: port)
            try createTopic(client, "pieces", partitions: 3)
            var corrupt = try batch(["x"])
            corrupt.setInteger(UInt8(0xFF), at: corrupt.writerIndex - 1)
            let values = (0..<3).map { partition in (0..<600).map { "p\(partition)-value-\($0)-" + String(repeating: "z", count: 40) } }
            let rounds: [(version: Int16, piece: Int, pause: UInt32)] = [(7, 20_000, 30_000), (9, 20_000, 30_000), (9, 97, 200)]
            for (round, (version, piece, pause)) in rounds.enumerated() {
                let request = ProduceRequest(acks: -1, timeoutMs: 5000, topicData: [
                    .init(name: "pieces", partitionData: try (0..<3).map { .init(index: Int32($0), records: try batch(values[$0], codec: $0 == 1 ? .lz4 : .none)) }
                        + [.init(index: 0, records: corrupt)]),
                ])
                let (bytes, id) = client.frame(request, version: version)
                var sent = 0
                while sent < bytes.count {
                    let end = min(bytes.count, sent + piece)
                    try client.sendRaw(Array(bytes[sent..<end]))
                    sent = end
                    usleep(pause)
                }
                var (correlation, body) = try client.readResponse(apiKey: .produce, version: version)
                #expect(correlation == id)
                let answer = try ProduceResponse(from: &body, version: version).responses[0].partitionResponses
                #expect(answer.map(\.errorCode) == [0, 0, 0, KafkaErrorCode.corruptMessage.rawValue])
                #expect(answer.prefix(3).allSatisfy { $0.baseOffset == Int64(round * 600) })
            }
            for partition in 0..<3 {
                var request = fetchRequest(topic: "pieces", partition: Int32(partition), offset: 0)
                request.topics[0].partitions[0].partitionMaxBytes = 50 << 20
                let fetched = try client.call(request, version: 11)
                let stored = try RecordBatchDecoder.decodeAll(Array(try #require(fetched.responses[0].partitions[0].records).readableBytesView))
                #expect(stored.flatMap(\.records).map(\.offset) == Array(0..<Int64(rounds.count * 600)))
                let expected = Array(repeating: values[partition], count: rounds.count).flatMap { $0 }
                #expect(stored.flatMap(\.records).compactMap { $0.value.map { String(decoding: $0, as: UTF8.self) } } == expected)
            }
        }
    }
}
