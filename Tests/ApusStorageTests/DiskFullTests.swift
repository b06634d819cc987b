import ApusRecord
import Foundation
import Testing
@testable import ApusStorage

#if canImport(Glibc)
import Glibc
#endif

/// Needs root to mount a small tmpfs (CI runs as root); elsewhere it is skipped, visibly.
@Suite(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
struct DiskFullTests {
    @Test func fullDiskFailsTheAppendWithAStorageErrorAndLosesNothing() throws {
        let mountPoint = TemporaryDirectory()
        guard mount("tmpfs", mountPoint.path, "tmpfs", 0, "size=4m") == 0 else {
            Issue.record("mount tmpfs failed: errno \(errno)")
            return
        }
        defer { umount2(mountPoint.path, Int32(MNT_DETACH)) }
        let filler = mountPoint.path + "/filler"
        try Data(count: 1 << 20).write(to: URL(fileURLWithPath: filler))

        var config = LogConfig.small(segmentBytes: 64 << 20)
        config.maxMessageBytes = 1 << 20
        let manager = try LogManager(dataDirectory: mountPoint.path + "/data", defaultConfig: config)
        let log = try manager.openLog(TopicPartition(topic: "full", partition: 0))
        var acknowledged: [String] = []
        var failure: StorageError?
        for i in 0..<100 {
            do {
                try log.append(makeBatch("f\(i)", valueSize: 100_000))
                acknowledged.append("f\(i)-0")
            } catch let error as StorageError {
                failure = error
                break
            }
        }
        let error = try #require(failure, "the 4 MiB filesystem never filled")
        #expect(error.kafkaErrorCode == 56)  // KAFKA_STORAGE_ERROR
        if case .diskFull = error {} else { Issue.record("expected diskFull, got \(error)") }
        #expect(acknowledged.count >= 20)
        // Everything acknowledged is still readable, and a second attempt fails the same way.
        #expect(values(try log.readRecords(from: 0)) == acknowledged)
        #expect(throws: StorageError.self) { try log.append(makeBatch("again", valueSize: 100_000)) }
        #expect(log.logEndOffset == Int64(acknowledged.count))

        // Free space: appends resume by themselves.
        try FileManager.default.removeItem(atPath: filler)
        try log.append(makeBatch("resumed", valueSize: 100_000))
        #expect(values(try log.readRecords(from: 0)) == acknowledged + ["resumed-0"])
        try log.close()
        try manager.close()
        let reopened = try LogManager(dataDirectory: mountPoint.path + "/data", defaultConfig: config)
        #expect(try reopened.openLog(TopicPartition(topic: "full", partition: 0)).readRecords(from: 0).count == acknowledged.count + 1)
    }
}
