import ApusRecord
import NIOCore
import Testing

@testable import ApusClient

@Suite struct FetchedRecordsTests {
    /// `count` batches of `perBatch` records each, LZ4-compressed, offsets from 0, as a fetch
    /// response's records field; the batch at `controlIndex` is a control batch.
    static func records(batches count: Int, perBatch: Int, controlIndex: Int? = nil) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 1 << 20)
        for index in 0..<count {
            let base = Int64(index * perBatch)
            var bytes = try RecordBatchEncoder(baseOffset: base, compression: .lz4).encode((0..<perBatch).map {
                Record(timestamp: 1_000 + base + Int64($0), key: nil, value: Array("value-\(base + Int64($0))".utf8))
            })
            if index == controlIndex {
                bytes[RecordBatchLayout.attributes + 1] |= 0x20
                RecordBatchEncoder.updateChecksum(&bytes)
            }
            buffer.writeBytes(bytes)
        }
        return buffer
    }

    @Test func runsDecodedConcurrentlyComeBackInOffsetOrder() async throws {
        let records = try Self.records(batches: 40, perBatch: 50)
        let partition = TopicPartition("t", 0)
        // One batch per run: 40 runs decoded in 40 child tasks.
        let fetched = try await FetchedRecords.decode(records, of: partition, from: 0, runBytes: 1)
        #expect(fetched.runs.count == 40)
        let all = fetched.runs.flatMap { $0 }
        #expect(all.map(\.offset) == Array(0..<2_000))
        #expect(all.allSatisfy { $0.valueString == "value-\($0.offset)" && $0.topicPartition == partition })
        #expect(fetched.nextOffset == 2_000)
        #expect(fetched.bytes == records.readableBytes)
        // The same records as decoding the whole field in one piece.
        let whole = try await FetchedRecords.decode(records, of: partition, from: 0, runBytes: .max)
        #expect(whole.runs.count == 1 && whole.runs[0] == all)
    }

    @Test func recordsBeforeTheFetchOffsetControlBatchesAndAPartialTailAreLeftOut() async throws {
        var records = try Self.records(batches: 6, perBatch: 10, controlIndex: 3)
        let tail = records.getSlice(at: records.readerIndex, length: 40)!
        records.writeImmutableBuffer(tail)  // the start of a seventh batch
        let fetched = try await FetchedRecords.decode(records, of: TopicPartition("t", 0), from: 15, runBytes: 1)
        let offsets = fetched.runs.flatMap { $0 }.map(\.offset)
        #expect(offsets == Array(15..<30) + Array(40..<60))
        #expect(!fetched.runs.contains { $0.isEmpty })
        #expect(fetched.nextOffset == 60)
    }

    @Test func aCorruptBatchIsAnErrorWhicheverRunItIsIn() async throws {
        var records = try Self.records(batches: 8, perBatch: 10)
        let lastByte = records.writerIndex - 1
        records.setInteger(records.getInteger(at: lastByte, as: UInt8.self)! ^ 0xFF, at: lastByte)
        await #expect(throws: RecordError.self) {
            try await FetchedRecords.decode(records, of: TopicPartition("t", 0), from: 0, runBytes: 1)
        }
    }

    @Test func noRecordsLeaveThePositionWhereItWas() async throws {
        let fetched = try await FetchedRecords.decode(nil, of: TopicPartition("t", 0), from: 7)
        #expect(fetched.runs.isEmpty && fetched.nextOffset == 7 && fetched.bytes == 0)
    }
}
