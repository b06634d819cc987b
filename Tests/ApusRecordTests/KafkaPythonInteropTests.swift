import ApusRecord
import Foundation
import Testing

/// Byte-level agreement with kafka-python, an implementation we did not write. tools/test
/// installs it into .venv; without it the suite is skipped, except under CI where it must run.
@Suite(.enabled(if: KafkaPython.python != nil || ProcessInfo.processInfo.environment["CI"] != nil))
struct KafkaPythonInteropTests {
    struct Description: Codable {
        struct Entry: Codable, Equatable {
            var offset: Int64
            var timestamp: Int64
            var key: String?
            var value: String?
            var headers: [[String?]]
        }
        var codec: String?
        var producer_id: Int64
        var producer_epoch: Int16
        var base_sequence: Int32
        var records: [Entry]
        var crc_valid: Bool?
        var compression: Int?
    }

    static func entry(_ record: Record) -> Description.Entry {
        .init(
            offset: record.offset, timestamp: record.timestamp, key: record.key.map(hex), value: record.value.map(hex),
            headers: record.headers.map { [$0.key, $0.value.map(hex)] })
    }

    static func record(_ entry: Description.Entry) -> Record {
        Record(
            offset: entry.offset, timestamp: entry.timestamp, key: entry.key.map(unhex), value: entry.value.map(unhex),
            headers: entry.headers.map { RecordHeader(key: $0[0]!, value: $0[1].map(unhex)) })
    }

    @Test func batchesEncodedByKafkaPythonDecodeToTheSameRecords() throws {
        let directory = try KafkaPython.run("encode")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".bin") }
        #expect(names.count == 15)
        for name in names {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))
            let description = try JSONDecoder().decode(
                Description.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/" + name.dropLast(4) + ".json")))
            let batch = try RecordBatchDecoder.decode(bytes)
            #expect(batch.records.map(Self.entry) == description.records, "\(name)")
            #expect(batch.header.producerId == description.producer_id)
            #expect(batch.header.producerEpoch == description.producer_epoch)
            #expect(batch.header.baseSequence == description.base_sequence)
            if name.contains("many-") { #expect(batch.header.attributes.compression?.description == description.codec) }
        }
    }

    @Test func ourBatchesDecodeWithKafkaPythonAndUncompressedOnesAreByteIdentical() throws {
        let source = try KafkaPython.run("encode")
        defer { try? FileManager.default.removeItem(atPath: source) }
        let ours = NSTemporaryDirectory() + "apus-interop-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: ours, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: ours) }
        var inputs: [String: Description] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: source) where name.hasSuffix(".json") {
            let description = try JSONDecoder().decode(Description.self, from: Data(contentsOf: URL(fileURLWithPath: source + "/" + name)))
            let codec = CompressionCodec(name: description.codec ?? "none")!
            var encoder = RecordBatchEncoder(
                compression: codec, producerId: description.producer_id, producerEpoch: description.producer_epoch,
                baseSequence: description.base_sequence)
            encoder.partitionLeaderEpoch = 0  // kafka-python writes 0 here
            let bytes = try encoder.encode(description.records.map(Self.record))
            let stem = String(name.dropLast(5))
            try Data(bytes).write(to: URL(fileURLWithPath: ours + "/" + stem + ".bin"))
            inputs[stem] = description
            if codec == .none {
                let theirs = try [UInt8](Data(contentsOf: URL(fileURLWithPath: source + "/" + stem + ".bin")))
                #expect(bytes == theirs, "\(stem): our uncompressed encoding differs from kafka-python's")
            }
        }
        _ = try KafkaPython.run("decode", directory: ours)
        #expect(inputs.count == 15)
        for (stem, input) in inputs {
            let decoded = try JSONDecoder().decode(
                Description.self, from: Data(contentsOf: URL(fileURLWithPath: ours + "/" + stem + ".decoded.json")))
            #expect(decoded.crc_valid == true, "\(stem)")
            #expect(decoded.compression == Int(CompressionCodec(name: input.codec ?? "none")!.rawValue), "\(stem)")
            #expect(decoded.records == input.records, "\(stem)")
            #expect(decoded.producer_id == input.producer_id && decoded.base_sequence == input.base_sequence)
        }
    }
}

enum KafkaPython {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The virtualenv's interpreter (APUS_PYTHON overrides), if kafka-python is importable there.
    static let python: String? = {
        let candidates = [ProcessInfo.processInfo.environment["APUS_PYTHON"], repositoryRoot + "/.venv/bin/python"]
        return candidates.compactMap { $0 }.first { path in
            guard FileManager.default.isExecutableFile(atPath: path) else { return false }
            return (try? execute(path, ["-c", "import kafka.record.default_records, lz4"])) == 0
        }
    }()

    @discardableResult
    static func execute(_ executable: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Runs the interop script's `mode` on `directory` (a new one if nil); returns the directory.
    static func run(_ mode: String, directory: String? = nil) throws -> String {
        let python = try #require(python, "kafka-python is not installed: run tools/test, or set APUS_PYTHON")
        let target = directory ?? NSTemporaryDirectory() + "apus-kafka-python-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let status = try execute(python, [repositoryRoot + "/tools/interop/kafka_python_batches.py", mode, target])
        try #require(status == 0, "kafka_python_batches.py \(mode) exited with \(status)")
        return target
    }
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

func unhex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}
