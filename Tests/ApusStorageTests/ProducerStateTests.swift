import ApusRecord
import Foundation
import Testing
@testable import ApusStorage

@Suite struct ProducerStateTests {
    let partition = TopicPartition(topic: "idem", partition: 0)

    func idempotentBatch(_ value: String, count: Int = 1, producerId: Int64 = 42, epoch: Int16 = 0, sequence: Int32) -> [UInt8] {
        let records = (0..<count).map { Record(timestamp: 1_700_000_000_000, key: nil, value: Array("\(value)-\($0)".utf8)) }
        return try! RecordBatchEncoder(producerId: producerId, producerEpoch: epoch, baseSequence: sequence).encode(records)
    }

    @Test func retriedBatchIsAcknowledgedWithItsOriginalOffsetsAndNotAppendedAgain() throws {
        let dir = TemporaryDirectory()
        let log = try PartitionLog(topicPartition: partition, directory: dir.path + "/idem-0", config: .small(), flusher: GroupCommitFlusher())
        let first = try log.append(idempotentBatch("a", count: 3, sequence: 0))
        let second = try log.append(idempotentBatch("b", count: 2, sequence: 3))
        #expect((first.firstOffset, second.firstOffset) == (0, 3))
        let retry = try log.append(idempotentBatch("a", count: 3, sequence: 0))
        #expect(retry.firstOffset == 0 && retry.lastOffset == 2 && retry.recordCount == 0)
        #expect(log.logEndOffset == 5)
        // Five batches are remembered.
        for i in 0..<5 { try log.append(idempotentBatch("c\(i)", sequence: 5 + Int32(i))) }
        #expect(try log.append(idempotentBatch("c0", sequence: 5)).firstOffset == 5)
        // The first batch has been forgotten: its retry is now a sequence gap.
        #expect(throws: StorageError.self) { try log.append(idempotentBatch("a", count: 3, sequence: 0)) }
    }

    @Test func gapsAndFencedEpochsAreRefused() throws {
        let dir = TemporaryDirectory()
        let log = try PartitionLog(topicPartition: partition, directory: dir.path + "/idem-0", config: .small(), flusher: GroupCommitFlusher())
        try log.append(idempotentBatch("a", count: 2, epoch: 1, sequence: 0))
        #expect(throws: StorageError.outOfOrderSequence(producerId: 42, expected: 2, received: 5)) {
            try log.append(idempotentBatch("gap", epoch: 1, sequence: 5))
        }
        #expect(StorageError.outOfOrderSequence(producerId: 42, expected: 2, received: 5).kafkaErrorCode == 45)
        #expect(throws: StorageError.invalidProducerEpoch(producerId: 42, epoch: 0, current: 1)) {
            try log.append(idempotentBatch("old", epoch: 0, sequence: 2))
        }
        #expect(StorageError.invalidProducerEpoch(producerId: 42, epoch: 0, current: 1).kafkaErrorCode == 47)
        // A new epoch must start at sequence 0.
        #expect(throws: StorageError.self) { try log.append(idempotentBatch("bumped", epoch: 2, sequence: 2)) }
        #expect(try log.append(idempotentBatch("bumped", epoch: 2, sequence: 0)).firstOffset == 2)
        // Other producers and non-idempotent batches are independent.
        #expect(try log.append(idempotentBatch("other", producerId: 7, sequence: 99)).firstOffset == 3)
        #expect(try log.append(makeBatch("plain")).firstOffset == 4)
        #expect(log.logEndOffset == 5)
    }

    @Test func sequencesWrapFromInt32MaxToZero() throws {
        let dir = TemporaryDirectory()
        let log = try PartitionLog(topicPartition: partition, directory: dir.path + "/idem-0", config: .small(), flusher: GroupCommitFlusher())
        try log.append(idempotentBatch("end", count: 2, sequence: Int32.max - 1))
        #expect(try log.append(idempotentBatch("wrapped", sequence: 0)).firstOffset == 2)
    }

    @Test func stateSurvivesCleanAndUncleanRestartsAndDamagedSnapshots() throws {
        let dir = TemporaryDirectory()
        let config = LogConfig.small(segmentBytes: 400)
        do {
            let manager = try LogManager(dataDirectory: dir.path, defaultConfig: config)
            let log = try manager.openLog(partition)
            for i in 0..<20 { try log.append(idempotentBatch("s\(i)", sequence: Int32(i))) }
            #expect(log.segmentCount > 2)  // rolls wrote snapshots
            try log.close()
            try manager.close()
        }
        func reopen() throws -> PartitionLog {
            try LogManager(dataDirectory: dir.path, defaultConfig: config).openLog(partition)
        }
        var log = try reopen()
        #expect(try log.append(idempotentBatch("s19", sequence: 19)).firstOffset == 19)  // duplicate after restart
        #expect(throws: StorageError.self) { try log.append(idempotentBatch("gap", sequence: 25)) }
        try log.append(idempotentBatch("s20", sequence: 20))
        // Unclean: no close, so no snapshot at the end; the tail is rebuilt from the log.
        log = try reopen()
        #expect(try log.append(idempotentBatch("s20", sequence: 20)).firstOffset == 20)
        // Damaged snapshots are ignored and the state is rebuilt from the log.
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/idem-0").filter { $0.hasSuffix(".snapshot") }
        #expect(!snapshots.isEmpty)
        for name in snapshots { try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir.path + "/idem-0/" + name)) }
        log = try reopen()
        #expect(try log.append(idempotentBatch("s20", sequence: 20)).firstOffset == 20)
        #expect(try log.append(idempotentBatch("s21", sequence: 21)).firstOffset == 21)
    }
}
