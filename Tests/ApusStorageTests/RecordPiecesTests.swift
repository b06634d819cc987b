import ApusRecord
import Foundation
import Testing
@testable import ApusStorage

/// Batches that arrive in several pieces (a Produce request that spanned socket reads) are
/// checked and appended where they are; the log must come out byte for byte as if they had
/// arrived in one buffer.
@Suite struct RecordPiecesTests {
    let partition = TopicPartition(topic: "events", partition: 0)

    func openLog(_ dir: TemporaryDirectory) throws -> PartitionLog {
        try PartitionLog(topicPartition: partition, directory: dir.path + "/events-0", config: .small(segmentBytes: 1 << 20), flusher: GroupCommitFlusher())
    }

    /// Calls `body` with `bytes` cut at `cuts` (sorted offsets; repeats make empty pieces).
    func withPieces<Result>(_ bytes: [UInt8], cutAt cuts: [Int], _ body: (RecordPieces) throws -> Result) rethrows -> Result {
        try bytes.withUnsafeBytes { raw in
            var pieces: [UnsafeRawBufferPointer] = []
            var start = 0
            for cut in cuts.sorted() + [bytes.count] {
                pieces.append(UnsafeRawBufferPointer(rebasing: raw[start..<cut]))
                start = cut
            }
            return try pieces.withUnsafeBufferPointer { try body(RecordPieces($0)) }
        }
    }

    /// The active segment's bytes as stored.
    func storedBytes(_ log: PartitionLog) throws -> [UInt8] {
        let result = try log.read(from: 0, maxBytes: 1 << 30)
        return log.bytes(of: try #require(result.slice))
    }

    @Test func anySplitIsAppendedAsTheWholeWouldBe() throws {
        // Two batches in one append, one of them compressed, so that cuts fall in headers,
        // CRC-covered bodies and between batches.
        let records = makeBatch("a", count: 3) + makeBatch("b", count: 2, valueSize: 300, codec: .lz4)
        let reference = TemporaryDirectory()
        let whole = try openLog(reference)
        let expectedInfo = try whole.append(records, leaderEpoch: 3, now: 1_000)
        let expected = try storedBytes(whole)
        var cutSets = (0...records.count).map { [$0] }
        for _ in 0..<50 { cutSets.append((0..<Int.random(in: 2...20)).map { _ in Int.random(in: 0...records.count) }) }
        cutSets.append(Array(0...records.count))  // a piece per byte, and empty ones
        for cuts in cutSets {
            let dir = TemporaryDirectory()
            let log = try openLog(dir)
            let info = try withPieces(records, cutAt: cuts) { try log.append($0, leaderEpoch: 3, now: 1_000) }
            #expect(info == expectedInfo, "cuts \(cuts)")
            #expect(try storedBytes(log) == expected, "cuts \(cuts)")
            #expect(values(try log.readRecords(from: 0)) == ["a-0", "a-1", "a-2", "b-0", "b-1"])
        }
    }

    @Test func aCorruptByteIsFoundWhicheverPieceHoldsIt() throws {
        let records = makeBatch("c", count: 4, valueSize: 100)
        for position in stride(from: RecordBatchLayout.attributes, to: records.count, by: 7) {
            var corrupt = records
            corrupt[position] ^= 0x40
            let dir = TemporaryDirectory()
            let log = try openLog(dir)
            #expect(throws: StorageError.self) {
                try withPieces(corrupt, cutAt: [position / 2, position, position + 1]) { try log.append($0) }
            }
            #expect(log.logEndOffset == 0, "a refused append leaves the log unchanged")
        }
        // Truncated: the pieces end inside the batch.
        let dir = TemporaryDirectory()
        let log = try openLog(dir)
        #expect(throws: StorageError.self) {
            try withPieces(Array(records.dropLast(5)), cutAt: [30]) { try log.append($0) }
        }
        #expect(throws: StorageError.self) {
            try withPieces(Array(records.prefix(40)), cutAt: [20]) { try log.append($0) }  // not even a header
        }
    }

    @Test func moreThanOneWriteVectorsWorthOfPieces() throws {
        // pwritev takes at most 1024 pieces at a time; 3,000 one-byte-ish pieces need three.
        let records = makeBatch("d", count: 10, valueSize: 290)
        #expect(records.count > 3_000)
        let dir = TemporaryDirectory()
        let log = try openLog(dir)
        let cuts = Array(stride(from: 1, to: 3_001, by: 1))
        try withPieces(records, cutAt: cuts) { _ = try log.append($0) }
        let reference = TemporaryDirectory()
        let whole = try openLog(reference)
        try whole.append(records)
        #expect(try storedBytes(log) == storedBytes(whole))
    }
}
