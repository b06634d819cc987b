import ApusRecord
import Foundation
import Testing
@testable import ApusStorage

@Suite struct PartitionLogTests {
    let partition = TopicPartition(topic: "events", partition: 0)

    func openLog(_ dir: TemporaryDirectory, config: LogConfig = .small(), flusher: GroupCommitFlusher = GroupCommitFlusher()) throws -> PartitionLog {
        try PartitionLog(topicPartition: partition, directory: dir.path + "/events-0", config: config, flusher: flusher)
    }

    @Test func appendAssignsOffsetsAndRewritesBaseOffsetAndEpochInPlace() throws {
        let dir = TemporaryDirectory()
        let log = try openLog(dir)
        let first = try log.append(makeBatch("a", count: 3), leaderEpoch: 5)
        let second = try log.append(makeBatch("b", count: 2), leaderEpoch: 5)
        #expect(first.firstOffset == 0 && first.lastOffset == 2 && first.recordCount == 3)
        #expect(second.firstOffset == 3 && second.lastOffset == 4)
        #expect(log.logEndOffset == 5 && log.highWatermark == 5)
        let result = try log.read(from: 3, maxBytes: 1 << 20)
        let bytes = log.bytes(of: try #require(result.slice))
        let batch = try RecordBatchDecoder.decode(bytes)  // CRC still valid after the rewrite
        #expect(batch.header.baseOffset == 3 && batch.header.partitionLeaderEpoch == 5)
        #expect(values(try log.readRecords(from: 0)) == ["a-0", "a-1", "a-2", "b-0", "b-1"])
        #expect(values(try log.readRecords(from: 4)) == ["b-1"])
    }

    @Test func readReturnsWholeBatchesUpToMaxBytesButAlwaysTheFirst() throws {
        let dir = TemporaryDirectory()
        let log = try openLog(dir, config: .small(segmentBytes: 1 << 20))
        let batch = makeBatch("x", count: 1, valueSize: 500)
        for _ in 0..<10 { try log.append(batch) }
        let small = try #require(try log.read(from: 0, maxBytes: 10).slice)
        #expect(small.length == batch.count && small.firstOffset == 0 && small.lastOffset == 0)
        let three = try #require(try log.read(from: 2, maxBytes: batch.count * 3 + 10).slice)
        #expect(three.length == batch.count * 3 && three.firstOffset == 2 && three.lastOffset == 4)
        #expect(try three.readBytes() == log.bytes(of: three))
        #expect(try log.read(from: 10, maxBytes: 100).slice == nil)
        #expect(throws: StorageError.offsetOutOfRange(requested: 11, logStartOffset: 0, logEndOffset: 10)) {
            try log.read(from: 11, maxBytes: 100)
        }
    }

    @Test func segmentsRollBySizeWithKafkaFileNames() throws {
        let dir = TemporaryDirectory()
        let log = try openLog(dir, config: .small(segmentBytes: 2000))
        for i in 0..<20 { try log.append(makeBatch("r\(i)", count: 2, valueSize: 200)) }
        #expect(log.segmentCount > 3)
        let names = try FileManager.default.contentsOfDirectory(atPath: log.directory).sorted()
        #expect(names.contains("00000000000000000000.log"))
        #expect(names.contains("00000000000000000000.index"))
        #expect(names.contains("00000000000000000000.timeindex"))
        for base in log.segmentBaseOffsets.dropFirst() {
            let name = String(format: "%020lld.log", base)
            #expect(names.contains(name))
        }
        // Rolled segments are trimmed to their data and not beyond segment.bytes.
        for base in log.segmentBaseOffsets.dropLast() {
            let size = fileSize(log.directory + "/" + String(format: "%020lld.log", base))
            #expect(size > 0 && size <= 2000)
        }
        #expect(try log.readRecords(from: 0).count == 40)
        #expect(values(try log.readRecords(from: 17)).first == "r8-1")
    }

    @Test func segmentRollsBySegmentMs() throws {
        let dir = TemporaryDirectory()
        var config = LogConfig.small(segmentBytes: 1 << 20)
        config.segmentMs = 1000
        let log = try openLog(dir, config: config)
        try log.append(makeBatch("old", timestamp: 10_000))
        try log.append(makeBatch("same", timestamp: 10_500))
        #expect(log.segmentCount == 1)
        try log.append(makeBatch("new", timestamp: 12_000))
        #expect(log.segmentBaseOffsets == [0, 2])
    }

    @Test func corruptBatchesAreRejectedWithTypedErrorsAndLeaveTheLogUnchanged() throws {
        let dir = TemporaryDirectory()
        let log = try openLog(dir)
        try log.append(makeBatch("ok"))
        var corrupt = makeBatch("bad")
        corrupt[corrupt.count - 1] ^= 0xFF
        do {
            try log.append(makeBatch("good-first") + corrupt)
            Issue.record("a corrupt batch was accepted")
        } catch let error as StorageError {
            #expect(error.kafkaErrorCode == 2)  // CORRUPT_MESSAGE
        }
        #expect(throws: StorageError.self) { try log.append(Array(makeBatch("cut").dropLast(3))) }
        #expect(throws: StorageError.self) { try log.append([UInt8](repeating: 0, count: 100)) }
        #expect(throws: StorageError.self) { try log.append([]) }
        #expect(log.logEndOffset == 1)
        #expect(values(try log.readRecords(from: 0)) == ["ok-0"])
    }

    @Test func batchesOverMaxMessageBytesAreTooLarge() throws {
        let dir = TemporaryDirectory()
        var config = LogConfig.small()
        config.maxMessageBytes = 1000
        let log = try openLog(dir, config: config)
        let error = #expect(throws: StorageError.self) { try log.append(makeBatch("big", valueSize: 2000)) }
        #expect(error?.kafkaErrorCode == 10)
        #expect(log.logEndOffset == 0)
    }

    @Test func snappyBatchesAreStoredAsOpaqueBytes() throws {
        let dir = TemporaryDirectory()
        let log = try openLog(dir)
        var batch = makeBatch("s")
        batch[22] = 2  // snappy: not decompressed, but valid to store
        RecordBatchEncoder.updateChecksum(&batch)
        try log.append(batch)
        let stored = log.bytes(of: try #require(try log.read(from: 0, maxBytes: 100).slice))
        // Only the broker-owned fields differ: base offset 0 (already) and leader epoch 0.
        #expect(stored[16...] == batch[16...])
        #expect(Array(stored[12..<16]) == [0, 0, 0, 0])
        #expect(try RecordBatchHeader.validated(stored).attributes.compression == .snappy)
    }

    @Test func logAppendTimeStampsBatchesAndKeepsTheCRCValid() throws {
        let dir = TemporaryDirectory()
        var config = LogConfig.small()
        config.logAppendTime = true
        let log = try openLog(dir, config: config)
        let info = try log.append(makeBatch("t", count: 2, timestamp: 5), now: 1_234_567)
        #expect(info.logAppendTime == 1_234_567)
        let records = try log.readRecords(from: 0)
        #expect(records.map(\.timestamp) == [1_234_567, 1_234_567])
    }

    @Test func offsetForTimestampFindsTheFirstRecordAtOrAfterIt() throws {
        let dir = TemporaryDirectory()
        let log = try openLog(dir, config: .small(segmentBytes: 3000, indexIntervalBytes: 100))
        for i in 0..<50 { try log.append(makeBatch("t\(i)", count: 2, timestamp: 1000 + Int64(i) * 10, valueSize: 100)) }
        #expect(log.segmentCount > 2)
        #expect(try log.offset(forTimestamp: 0)?.offset == 0)
        #expect(try log.offset(forTimestamp: 1001)?.offset == 1)
        #expect(try log.offset(forTimestamp: 1002)?.offset == 2)
        #expect(try log.offset(forTimestamp: 1255)?.offset == 52)
        #expect(try log.offset(forTimestamp: 1491)?.offset == 99)
        #expect(try log.offset(forTimestamp: 1492) == nil)
        #expect(try log.maxTimestampAndOffset()?.offset == 99)
    }

    @Test func retentionByBytesAndTimeDeletesWholeOldSegments() throws {
        let dir = TemporaryDirectory()
        var config = LogConfig.small(segmentBytes: 2000)
        config.retentionBytes = 4000
        let log = try openLog(dir, config: config)
        for i in 0..<30 { try log.append(makeBatch("r\(i)", timestamp: Int64(i) * 1000, valueSize: 300)) }
        let before = log.segmentCount
        let deleted = try log.applyRetention(now: 0)
        #expect(deleted > 0 && log.segmentCount == before - deleted)
        #expect(log.sizeInBytes <= 4000 + 2000)
        #expect(log.logStartOffset == log.segmentBaseOffsets[0])
        #expect(throws: StorageError.self) { try log.read(from: 0, maxBytes: 100) }
        #expect(try log.readRecords(from: log.logStartOffset).last.map { values([$0]) } == ["r29-0"])

        var timeConfig = LogConfig.small(segmentBytes: 2000)
        timeConfig.retentionMs = 10_000
        let dir2 = TemporaryDirectory()
        let timed = try openLog(dir2, config: timeConfig)
        for i in 0..<30 { try timed.append(makeBatch("r\(i)", timestamp: Int64(i) * 1000, valueSize: 300)) }
        try timed.applyRetention(now: 30_000)
        // Every remaining non-active segment holds a record newer than now - retention.ms.
        let remaining = try timed.readRecords(from: timed.logStartOffset)
        #expect(remaining.first!.timestamp <= 20_000 && remaining.last!.timestamp == 29_000)
        #expect(timed.logStartOffset > 0)
    }

    @Test func deleteRecordsAdvancesTheLogStartOffset() throws {
        let dir = TemporaryDirectory()
        let log = try openLog(dir, config: .small(segmentBytes: 1500))
        for i in 0..<20 { try log.append(makeBatch("d\(i)", valueSize: 200)) }
        #expect(try log.deleteRecords(before: 7) == 7)
        #expect(values(try log.readRecords(from: 7)).first == "d7-0")
        #expect(throws: StorageError.self) { try log.read(from: 6, maxBytes: 100) }
        #expect(log.segmentBaseOffsets[0] <= 7)
        #expect(throws: StorageError.self) { try log.deleteRecords(before: 21) }
        try log.deleteRecords(before: 20)
        #expect(log.logStartOffset == 20 && log.segmentCount == 1)
        try log.append(makeBatch("after"))
        #expect(values(try log.readRecords(from: 20)) == ["after-0"])
    }

    @Test func groupCommitSharesSyncsAndAdvancesDurability() async throws {
        let dir = TemporaryDirectory()
        let flusher = GroupCommitFlusher()
        let log = try openLog(dir, flusher: flusher)
        #expect(log.checkpoint.recoveryPoint == 0)
        let offsets = try await withThrowingTaskGroup(of: Int64.self) { group in
            for i in 0..<50 {
                try log.append(makeBatch("g\(i)"))
                let stream = AsyncThrowingStream<Int64, Error> { continuation in
                    log.requestFlush { result in
                        continuation.yield(with: result.mapError { $0 as Error })
                        continuation.finish()
                    }
                }
                group.addTask { for try await offset in stream { return offset }; return -1 }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(offsets.count == 50 && offsets.max() == 50 && !offsets.contains(-1))
        #expect(log.checkpoint.recoveryPoint == 50)
    }

    @Test func writebackStartsEveryWritebackBytesAndAgainAfterARoll() throws {
        let dir = TemporaryDirectory()
        var config = LogConfig.small(segmentBytes: 1 << 20)
        config.writebackBytes = 4096
        let log = try openLog(dir, config: config)
        let batch = makeBatch("w", count: 1, valueSize: 1000)
        for _ in 0..<3 { try log.append(batch) }
        #expect(log.writebackRequests == 0)  // about 3 KiB: not yet
        try log.append(batch)
        #expect(log.writebackRequests == 1)
        for _ in 0..<4 { try log.append(batch) }
        #expect(log.writebackRequests == 2)
        try log.roll()
        for _ in 0..<4 { try log.append(batch) }
        #expect(log.writebackRequests == 3)
        #expect(try log.readRecords(from: 0).count == 12)
        // The kernel takes the request for a file the log wrote.
        #expect(log.activeSegmentFile.startWriteback(at: 0, count: 4096))

        var off = LogConfig.small(segmentBytes: 1 << 20)
        off.writebackBytes = 0
        let quiet = try PartitionLog(topicPartition: partition, directory: dir.path + "/quiet-0", config: off, flusher: GroupCommitFlusher())
        for _ in 0..<12 { try quiet.append(batch) }
        #expect(quiet.writebackRequests == 0)
    }

    @Test func flushMessagesTriggersASync() throws {
        let dir = TemporaryDirectory()
        var config = LogConfig.small()
        config.flushMessages = 3
        let flusher = GroupCommitFlusher()
        let log = try openLog(dir, config: config, flusher: flusher)
        try log.append(makeBatch("f", count: 2))
        flusher.waitForPending()
        #expect(log.checkpoint.recoveryPoint == 0)
        try log.append(makeBatch("f", count: 1))
        flusher.waitForPending()
        #expect(log.checkpoint.recoveryPoint == 3)
    }
}
