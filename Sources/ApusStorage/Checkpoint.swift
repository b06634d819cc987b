/// Kafka's offset checkpoint files (`recovery-point-offset-checkpoint`,
/// `log-start-offset-checkpoint`): a version line `0`, a count line, then one
/// `<topic> <partition> <offset>` line per partition. Written atomically.
enum OffsetCheckpoint {
    static func write(_ path: String, _ offsets: [TopicPartition: Int64]) throws {
        var text = "0\n\(offsets.count)\n"
        for (partition, offset) in offsets.sorted(by: { $0.key < $1.key }) {
            text += "\(partition.topic) \(partition.partition) \(offset)\n"
        }
        try FileSystem.writeAtomically(path, contents: Array(text.utf8))
    }

    /// The offsets in the file; empty when it is missing or malformed (recovery then scans more).
    static func read(_ path: String) -> [TopicPartition: Int64] {
        guard let bytes = try? FileSystem.readFile(path) else { return [:] }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        guard lines.count >= 2, lines[0] == "0", let count = Int(lines[1]), lines.count - 2 == count else { return [:] }
        var offsets: [TopicPartition: Int64] = [:]
        for line in lines.dropFirst(2) {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let partition = Int32(fields[1]), let offset = Int64(fields[2]) else { return [:] }
            offsets[TopicPartition(topic: String(fields[0]), partition: partition)] = offset
        }
        return offsets
    }
}
