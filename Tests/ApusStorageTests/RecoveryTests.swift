import ApusRecord
import Foundation
import Testing
@testable import ApusStorage

@Suite struct RecoveryTests {
    let partition = TopicPartition(topic: "orders", partition: 3)

    /// Writes `count` batches through a LogManager and closes it cleanly; returns the batch sizes.
    func writeCleanLog(_ dir: TemporaryDirectory, count: Int, config: LogConfig = .small(segmentBytes: 1 << 20)) throws -> [Int] {
        let manager = try LogManager(dataDirectory: dir.path, defaultConfig: config)
        let log = try manager.openLog(partition)
        var sizes: [Int] = []
        for i in 0..<count {
            let batch = makeBatch("m\(i)", count: 2, valueSize: 40 + i % 7)
            try log.append(batch)
            sizes.append(batch.count)
        }
        try log.close()
        try manager.close()
        return sizes
    }

    var logFile: String { "orders-3/00000000000000000000.log" }

    @Test func cleanShutdownLeavesMarkerCheckpointsAndTrimmedSegment() throws {
        let dir = TemporaryDirectory()
        let sizes = try writeCleanLog(dir, count: 10)
        #expect(FileManager.default.fileExists(atPath: dir.path + "/.kafka_cleanshutdown"))
        #expect(fileSize(dir.path + "/" + logFile) == sizes.reduce(0, +))
        let checkpoint = try String(contentsOfFile: dir.path + "/recovery-point-offset-checkpoint", encoding: .utf8)
        #expect(checkpoint == "0\n1\norders 3 20\n")
        let manager = try LogManager(dataDirectory: dir.path, defaultConfig: .small(segmentBytes: 1 << 20))
        #expect(manager.hadCleanShutdown)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/.kafka_cleanshutdown"))
        let log = try manager.openLog(partition)
        #expect(log.logEndOffset == 20 && log.recoveredTruncatedBytes == 0)
        #expect(values(try log.readRecords(from: 0)).last == "m9-1")
    }

    @Test func tornLastBatchIsTruncatedAtEveryBytePosition() throws {
        let dir = TemporaryDirectory()
        let sizes = try writeCleanLog(dir, count: 6)
        let original = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/" + logFile))
        let lastStart = sizes.dropLast().reduce(0, +)
        for cut in lastStart..<original.count {
            try original.prefix(cut).write(to: URL(fileURLWithPath: dir.path + "/" + logFile))
            try? FileManager.default.removeItem(atPath: dir.path + "/.kafka_cleanshutdown")
            let manager = try LogManager(dataDirectory: dir.path, defaultConfig: .small(segmentBytes: 1 << 20))
            let log = try manager.openLog(partition)
            #expect(log.logEndOffset == 10, "cut at \(cut)")
            #expect(log.recoveredTruncatedBytes == cut - lastStart)
            #expect(values(try log.readRecords(from: 0)) == (0..<5).flatMap { ["m\($0)-0", "m\($0)-1"] })
            // The log keeps accepting appends after the valid prefix, and they survive a reopen.
            try log.append(makeBatch("after"))
            try log.close()
            try manager.close()
            let reopened = try LogManager(dataDirectory: dir.path, defaultConfig: .small(segmentBytes: 1 << 20))
            #expect(values(try (try reopened.openLog(partition)).readRecords(from: 10)) == ["after-0"])
        }
    }

    @Test func flippedBitsInTheTailTruncateAtTheDamagedBatch() throws {
        let dir = TemporaryDirectory()
        let sizes = try writeCleanLog(dir, count: 8)
        let original = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/" + logFile))
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<40 {
            let damagedBatch = Int.random(in: 4..<8, using: &generator)
            let start = sizes[..<damagedBatch].reduce(0, +)
            let position = Int.random(in: start..<(start + sizes[damagedBatch]), using: &generator)
            var damaged = original
            // Skip the two fields outside the CRC: a flip there is not detectable by design.
            if (0..<8).contains(position - start) || (12..<16).contains(position - start) { continue }
            damaged[position] ^= UInt8(1 << Int.random(in: 0..<8, using: &generator))
            try damaged.write(to: URL(fileURLWithPath: dir.path + "/" + logFile))
            try? FileManager.default.removeItem(atPath: dir.path + "/.kafka_cleanshutdown")
            let manager = try LogManager(dataDirectory: dir.path, defaultConfig: .small(segmentBytes: 1 << 20))
            let log = try manager.openLog(partition)
            #expect(log.logEndOffset == Int64(damagedBatch * 2), "flip at \(position) in batch \(damagedBatch)")
            #expect(try log.readRecords(from: 0).count == damagedBatch * 2)
            try log.append(makeBatch("next"))
            #expect(log.logEndOffset == Int64(damagedBatch * 2 + 1))
        }
    }

    @Test func uncleanShutdownRecoversEverythingWrittenAndDropsThePreallocatedTail() throws {
        let dir = TemporaryDirectory()
        do {
            let manager = try LogManager(dataDirectory: dir.path, defaultConfig: .small(segmentBytes: 1 << 20))
            let log = try manager.openLog(partition)
            for i in 0..<100 { try log.append(makeBatch("u\(i)")) }
            // No close: like a kill -9, the file keeps its zero-filled preallocated tail.
            #expect(fileSize(dir.path + "/" + logFile) >= LogSegment.minimumPreallocation)
        }
        let manager = try LogManager(dataDirectory: dir.path, defaultConfig: .small(segmentBytes: 1 << 20))
        #expect(!manager.hadCleanShutdown)
        let log = try manager.openLog(partition)
        #expect(log.logEndOffset == 100)
        #expect(values(try log.readRecords(from: 0)) == (0..<100).map { "u\($0)-0" })
        #expect(fileSize(dir.path + "/" + logFile) == log.sizeInBytes)
    }

    @Test func zeroFilledRegionEndsTheLog() throws {
        let dir = TemporaryDirectory()
        let sizes = try writeCleanLog(dir, count: 5)
        var data = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/" + logFile))
        let start = sizes[..<3].reduce(0, +)
        for i in start..<(start + 30) { data[i] = 0 }
        data.append(Data(count: 8192))
        try data.write(to: URL(fileURLWithPath: dir.path + "/" + logFile))
        try FileManager.default.removeItem(atPath: dir.path + "/.kafka_cleanshutdown")
        let manager = try LogManager(dataDirectory: dir.path, defaultConfig: .small(segmentBytes: 1 << 20))
        #expect((try manager.openLog(partition)).logEndOffset == 6)
    }

    @Test func missingOrCorruptIndexesAreRebuilt() throws {
        let dir = TemporaryDirectory()
        let config = LogConfig.small(segmentBytes: 3000, indexIntervalBytes: 100)
        let manager = try LogManager(dataDirectory: dir.path, defaultConfig: config)
        let log = try manager.openLog(partition)
        for i in 0..<60 { try log.append(makeBatch("i\(i)", timestamp: 1000 + Int64(i), valueSize: 80)) }
        try log.close()
        try manager.close()
        let segmentDir = dir.path + "/orders-3"
        let indexes = try FileManager.default.contentsOfDirectory(atPath: segmentDir).filter { $0.hasSuffix("index") }.sorted()
        #expect(indexes.count >= 6)
        let originalIndex = try Data(contentsOf: URL(fileURLWithPath: segmentDir + "/" + indexes[0]))
        #expect(originalIndex.count > 0 && originalIndex.count % 8 == 0)
        // Delete one index, fill another with garbage, cut a third mid-entry.
        try FileManager.default.removeItem(atPath: segmentDir + "/" + indexes[0])
        try Data(repeating: 0xAB, count: 64).write(to: URL(fileURLWithPath: segmentDir + "/" + indexes[2]))
        let third = try Data(contentsOf: URL(fileURLWithPath: segmentDir + "/" + indexes[4]))
        try third.prefix(third.count - 3).write(to: URL(fileURLWithPath: segmentDir + "/" + indexes[4]))
        let reopened = try LogManager(dataDirectory: dir.path, defaultConfig: config)
        let again = try reopened.openLog(partition)
        #expect(try Data(contentsOf: URL(fileURLWithPath: segmentDir + "/" + indexes[0])) == originalIndex)
        for offset in stride(from: Int64(0), to: 60, by: 7) {
            #expect(values(try again.readRecords(from: offset)).first == "i\(offset)-0")
            #expect(try again.offset(forTimestamp: 1000 + offset)?.offset == offset)
        }
    }

    @Test func segmentsAfterTheRecoveryPointAreScannedOnUncleanStart() throws {
        let dir = TemporaryDirectory()
        let config = LogConfig.small(segmentBytes: 2000)
        do {
            let manager = try LogManager(dataDirectory: dir.path, defaultConfig: config)
            let log = try manager.openLog(partition)
            for i in 0..<40 { try log.append(makeBatch("s\(i)", valueSize: 150)) }
            try log.flush()
            try manager.writeCheckpoints()
            for i in 40..<45 { try log.append(makeBatch("s\(i)", valueSize: 150)) }
        }
        // The recovery point says offsets below 40 are on disk; the segments holding 40..44
        // are scanned, and the log picks up exactly where it was.
        let manager = try LogManager(dataDirectory: dir.path, defaultConfig: config)
        let log = try manager.openLog(partition)
        #expect(log.logEndOffset == 45)
        #expect(values(try log.readRecords(from: 0)) == (0..<45).map { "s\($0)-0" })
        #expect(log.checkpoint.recoveryPoint == 40)
    }
}
