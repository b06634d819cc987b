import Dispatch
import Synchronization

/// Syncs log files to disk off the owners' threads, with group commit: every request that
/// arrives while a sync is running is served by the next single sync of each file, so many
/// concurrent durable appends share one `fdatasync`.
public final class GroupCommitFlusher: Sendable {
    /// A request: sync these files, then the log is durable up to `offset`.
    struct Request: Sendable {
        let files: [SegmentFile]
        let checkpoint: LogCheckpoint
        let offset: Int64
        let completion: (@Sendable (Result<Int64, StorageError>) -> Void)?
    }

    private struct State: ~Copyable {
        var pending: [Request] = []
        var draining = false
    }

    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "apus.storage.flusher")
    /// Writeback hints go on their own queue: they never wait behind a group commit's sync,
    /// and a sync never waits behind them.
    private let writebackQueue = DispatchQueue(label: "apus.storage.writeback")

    public init() {}

    func submit(_ request: Request) {
        let startDrain = state.withLock { state -> Bool in
            state.pending.append(request)
            if state.draining { return false }
            state.draining = true
            return true
        }
        if startDrain { queue.async { self.drain() } }
    }

    /// Runs on `queue`: takes everything pending, syncs each distinct file once, completes all.
    private func drain() {
        while true {
            let batch = state.withLock { state -> [Request] in
                let taken = state.pending
                state.pending.removeAll()
                if taken.isEmpty { state.draining = false }
                return taken
            }
            if batch.isEmpty { return }
            var synced: [ObjectIdentifier: Result<Void, StorageError>] = [:]
            for request in batch {
                var outcome: Result<Int64, StorageError> = .success(request.offset)
                for file in request.files {
                    let id = ObjectIdentifier(file)
                    if synced[id] == nil {
                        do { try file.sync(); synced[id] = .success(()) } catch let error as StorageError {
                            synced[id] = .failure(error)
                        } catch { synced[id] = .failure(.io(operation: "fdatasync", path: file.path, errno: 0)) }
                    }
                    if case .failure(let error) = synced[id]! { outcome = .failure(error) }
                }
                if case .success = outcome { request.checkpoint.advanceRecoveryPoint(to: request.offset) }
                request.completion?(outcome)
            }
        }
    }

    /// Starts the writeback of `count` bytes at `position` of `file` off the caller's thread
    /// (see ``SegmentFile/startWriteback(at:count:)``); nothing waits for it.
    func startWriteback(_ file: SegmentFile, at position: Int, count: Int) {
        writebackQueue.async { file.startWriteback(at: position, count: count) }
    }

    /// Blocks until every request submitted so far has been served.
    public func waitForPending() {
        queue.sync {}
        while state.withLock({ $0.draining }) { queue.sync {} }
    }
}
