import ApusRecord
import Foundation
@testable import ApusStorage

/// A fresh directory under the system temp dir, removed when the test's scope ends.
final class TemporaryDirectory {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "apus-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// One batch of `count` records whose values are "<prefix>-<i>", timestamps from `timestamp`.
func makeBatch(_ prefix: String, count: Int = 1, timestamp: Int64 = 1_700_000_000_000, valueSize: Int = 0, codec: CompressionCodec = .none) -> [UInt8] {
    let records = (0..<count).map { i in
        var value = Array("\(prefix)-\(i)".utf8)
        if valueSize > value.count { value += [UInt8](repeating: 0x7C, count: valueSize - value.count) }
        return Record(timestamp: timestamp + Int64(i), key: Array("key-\(i)".utf8), value: value)
    }
    return try! RecordBatchEncoder(compression: codec).encode(records)
}

func values(_ records: [Record]) -> [String] {
    // The padding of makeBatch(valueSize:) is '|' bytes; drop it.
    records.map { String(String(decoding: $0.value ?? [], as: UTF8.self).prefix(while: { $0 != "|" })) }
}

extension LogConfig {
    static func small(segmentBytes: Int = 4096, indexIntervalBytes: Int = 256) -> LogConfig {
        var config = LogConfig()
        config.segmentBytes = segmentBytes
        config.indexIntervalBytes = indexIntervalBytes
        return config
    }
}

func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? -1
}
