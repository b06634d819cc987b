import ApusRecord
import ApusStorage
import ArgumentParser
import Dispatch
import Foundation

/// `apus bench storage`: append, read, recovery and durable-append throughput of the storage
/// engine on one core, with no networking, as Docs/performance.md reports them.
struct BenchStorage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage",
        abstract: "Benchmark the storage engine: append, read, recovery scan and durable appends.")

    @Option(help: "Scratch data directory (emptied first).")
    var dataDir = "./bench-data"

    @Option(help: "MiB appended in the append phase.")
    var mebibytes = 4096

    @Option(help: "Bytes per record batch.")
    var batchBytes = 65536

    @Option(help: "MiB appended in the durable (group commit) phase.")
    var durableMebibytes = 1024

    @Flag(help: "A short run: 1 GiB appended, 256 MiB durable.")
    var quick = false

    @Flag(help: "Print one JSON object per phase instead of a table.")
    var json = false

    func run() throws {
        let total = (quick ? 1024 : mebibytes) << 20
        let durableTotal = (quick ? 256 : durableMebibytes) << 20
        try? FileManager.default.removeItem(atPath: dataDir)
        let batch = try Self.makeBatch(bytes: batchBytes)
        let count = total / batch.count
        let partition = TopicPartition(topic: "bench", partition: 0)
        var results: [Phase] = []

        let expectedEnd: Int64
        do {
            // Append, then the final sync that makes it durable.
            let manager = try LogManager(dataDirectory: dataDir)
            let log = try manager.openLog(partition)
            results.append(try Phase.measure("append (CRC-checked, \(batch.count / 1024) KiB batches)", bytes: count * batch.count) {
                try batch.withUnsafeBytes { raw in for _ in 0..<count { try log.append(raw) } }
            })
            let flush = try Phase.measure("flush", bytes: count * batch.count) { try log.flush() }
            results.append(Phase(
                name: "append + final fdatasync (all of it durable)", bytes: count * batch.count,
                seconds: results[0].seconds + flush.seconds, cpuSeconds: results[0].cpuSeconds + flush.cpuSeconds))
            // Read back every batch, copying it out and checking its CRC as a consumer would.
            results.append(try Phase.measure("read (copy + CRC check)", bytes: count * batch.count) {
                var offset: Int64 = 0
                while offset < log.logEndOffset {
                    let slice = try log.read(from: offset, maxBytes: 1 << 20).slice!
                    let bytes = log.bytes(of: slice)
                    try bytes.withUnsafeBytes { raw in
                        var position = 0
                        while position < raw.count {
                            position += try RecordBatchHeader.validated(UnsafeRawBufferPointer(rebasing: raw[position...])).totalSize
                        }
                    }
                    offset = slice.lastOffset + 1
                }
            })
            expectedEnd = log.logEndOffset
            // No close: like a crash, no clean-shutdown marker and no checkpoint are left.
        }
        // Recovery: every segment is scanned, since no recovery point was checkpointed.
        var recovered: LogManager?
        var recoveredLog: PartitionLog!
        results.append(try Phase.measure("recovery scan (validate every batch, rebuild indexes)", bytes: count * batch.count) {
            recovered = try LogManager(dataDirectory: dataDir)
            recoveredLog = try recovered!.openLog(partition)
        })
        try Self.fail(unless: recoveredLog.logEndOffset == expectedEnd, "recovery lost data: \(recoveredLog.logEndOffset) != \(expectedEnd)")
        try recovered!.deleteLog(recoveredLog)

        // Durable appends with group commit: each append asks for a sync, at most 64 in flight.
        let durableManager = try LogManager(dataDirectory: dataDir + "-durable")
        let durableLog = try durableManager.openLog(partition)
        let durableCount = durableTotal / batch.count
        let window = DispatchSemaphore(value: 64)
        let done = DispatchGroup()
        results.append(try Phase.measure("durable append (acks after fdatasync, group commit, 64 in flight)", bytes: durableCount * batch.count) {
            try batch.withUnsafeBytes { raw in
                for _ in 0..<durableCount {
                    window.wait()
                    try durableLog.append(raw)
                    done.enter()
                    durableLog.requestFlush { _ in
                        window.signal()
                        done.leave()
                    }
                }
            }
            done.wait()
        })
        try durableLog.close()
        try durableManager.close()
        try? FileManager.default.removeItem(atPath: dataDir)
        try? FileManager.default.removeItem(atPath: dataDir + "-durable")

        if json {
            for phase in results { print(phase.json) }
        } else {
            print("phase | MB/s | CPU-s per GB | seconds")
            print("---|---|---|---")
            for phase in results { print(phase.row) }
            print("CRC32C hardware: \(CRC32C.isHardwareAccelerated)")
        }
    }

    static func fail(unless condition: Bool, _ message: String) throws {
        if !condition { throw ValidationError(message) }
    }

    /// A batch of JSON-like records of about 120 bytes each, filling `bytes`.
    static func makeBatch(bytes: Int) throws -> [UInt8] {
        var records: [Record] = []
        var size = 61
        var i = 0
        while size < bytes - 200 {
            let value = Array(#"{"user":\#(100_000 + i * 7 % 90_000),"event":"click","ts":\#(1_700_000_000_000 + i),"page":"/p/\#(i % 5000)","ok":true}"#.utf8)
            let record = Record(timestamp: 1_700_000_000_000 + Int64(i), key: nil, value: value)
            size += RecordBatchEncoder.encodedSize(of: record, baseTimestamp: 1_700_000_000_000, offsetDelta: Int32(i))
            records.append(record)
            i += 1
        }
        return try RecordBatchEncoder().encode(records)
    }
}

/// One measured phase: wall time and this process's CPU time (user + system).
struct Phase {
    var name: String
    var bytes: Int
    var seconds: Double
    var cpuSeconds: Double

    static func measure(_ name: String, bytes: Int, _ body: () throws -> Void) throws -> Phase {
        let cpuBefore = cpuTime()
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Phase(name: name, bytes: bytes, seconds: seconds, cpuSeconds: cpuTime() - cpuBefore)
    }

    static func cpuTime() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    var megabytesPerSecond: Double { Double(bytes) / 1e6 / seconds }
    var cpuSecondsPerGigabyte: Double { cpuSeconds / (Double(bytes) / 1e9) }

    var row: String {
        String(format: "%@ | %.0f | %.3f | %.2f", name, megabytesPerSecond, cpuSecondsPerGigabyte, seconds)
    }

    var json: String {
        String(format: #"{"system":"apus-storage","workload":"%@","mb_per_s":%.1f,"cpu_s_per_gb":%.4f,"seconds":%.3f,"bytes":%d}"#,
               name, megabytesPerSecond, cpuSecondsPerGigabyte, seconds, bytes)
    }
}
