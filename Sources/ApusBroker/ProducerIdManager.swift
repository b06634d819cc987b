import Foundation
import Synchronization

/// Hands out producer ids for idempotent producers, never the same one twice, also across
/// restarts: ids are reserved in blocks whose end is saved to `<data dir>/producer-id-block`
/// before any id of the block is given out (Kafka keeps the same kind of block in its metadata).
final class ProducerIdManager: Sendable {
    static let blockSize: Int64 = 1000
    private let path: String
    private let state: Mutex<(next: Int64, blockEnd: Int64)>

    init(dataDirectory: String) throws {
        path = dataDirectory + "/producer-id-block"
        let saved = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        state = Mutex((next: saved, blockEnd: saved))
    }

    /// A fresh producer id.
    func allocate() throws -> Int64 {
        try state.withLock { state in
            if state.next >= state.blockEnd {
                let end = state.blockEnd + Self.blockSize
                try Data("\(end)\n".utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
                state.blockEnd = end
            }
            defer { state.next += 1 }
            return state.next
        }
    }
}
