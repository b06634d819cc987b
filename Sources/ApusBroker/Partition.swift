import ApusRecord
import ApusStorage
import NIOCore

/// One partition of a topic on this broker: its log, owned by one event loop.
///
/// Every use of the log runs on ``eventLoop`` (``NIOLoopBound`` checks it), so appends and reads
/// take no locks; other loops reach it through ``execute(_:)``. Fetch requests waiting for data
/// (long polls) register here and are woken by the next append.
public final class Partition: Sendable {
    public let topicPartition: TopicPartition
    public let eventLoop: EventLoop
    private let log: NIOLoopBound<PartitionLog>
    private let waiters: NIOLoopBoundBox<[UInt64: @Sendable () -> Void]>
    private let nextWaiterId: NIOLoopBoundBox<UInt64>

    /// Opens (recovering as needed) or creates the partition's log on `eventLoop`.
    static func open(
        _ topicPartition: TopicPartition, config: LogConfig, logManager: LogManager, on eventLoop: EventLoop
    ) -> EventLoopFuture<Partition> {
        eventLoop.submit {
            let log = try logManager.openLog(topicPartition, config: config)
            return Partition(topicPartition: topicPartition, log: log, eventLoop: eventLoop)
        }
    }

    private init(topicPartition: TopicPartition, log: PartitionLog, eventLoop: EventLoop) {
        self.topicPartition = topicPartition
        self.eventLoop = eventLoop
        self.log = NIOLoopBound(log, eventLoop: eventLoop)
        self.waiters = NIOLoopBoundBox([:], eventLoop: eventLoop)
        self.nextWaiterId = NIOLoopBoundBox(0, eventLoop: eventLoop)
    }

    /// Runs `body` with the log now; must be called on ``eventLoop``.
    func withLog<Result>(_ body: (PartitionLog) throws -> Result) rethrows -> Result {
        try body(log.value)
    }

    /// Runs `body` with the log on the owning loop.
    public func execute<Result: Sendable>(_ body: @escaping @Sendable (PartitionLog) throws -> Result) -> EventLoopFuture<Result> {
        if eventLoop.inEventLoop {
            return eventLoop.makeCompletedFuture { try body(log.value) }
        }
        return eventLoop.submit { try body(self.log.value) }
    }

    /// Appends the records, then wakes waiting fetches. When the flush policy
    /// (`flush.messages`) asks for a sync and `waitForFlush` is set, the future completes only
    /// after the sync.
    func append(_ records: ProducedRecords, waitForFlush: Bool) -> EventLoopFuture<AppendInfo> {
        let promise = eventLoop.makePromise(of: AppendInfo.self)
        append(records, waitForFlush: waitForFlush) { promise.completeWith($0) }
        return promise.futureResult
    }

    /// ``append(_:waitForFlush:)`` with a completion instead of a future, called once on
    /// ``eventLoop``: the Produce path allocates no future or promise for it.
    func append(
        _ records: ProducedRecords, waitForFlush: Bool, completion: @escaping @Sendable (Result<AppendInfo, Error>) -> Void
    ) {
        if eventLoop.inEventLoop {
            appendOnLoop(records, waitForFlush: waitForFlush, completion: completion)
        } else {
            eventLoop.execute { self.appendOnLoop(records, waitForFlush: waitForFlush, completion: completion) }
        }
    }

    /// Appends at once when called on ``eventLoop`` and the answer need not wait for a sync:
    /// the one-partition Produce path then needs no closure or promise. Nil otherwise, for
    /// ``append(_:waitForFlush:completion:)``.
    func appendNow(_ records: ProducedRecords, waitForFlush: Bool) -> Result<AppendInfo, Error>? {
        guard eventLoop.inEventLoop, !answerMayWaitForFlush(waitForFlush) else { return nil }
        return appendRecords(records, onFlush: nil)
    }

    /// Whether an append's answer may have to wait for a sync: the caller asks for it and the
    /// log's flush policy can request one on append. Must run on ``eventLoop``.
    private func answerMayWaitForFlush(_ waitForFlush: Bool) -> Bool {
        waitForFlush && log.value.mayRequestFlushOnAppend
    }

    private func appendOnLoop(
        _ records: ProducedRecords, waitForFlush: Bool, completion: @escaping @Sendable (Result<AppendInfo, Error>) -> Void
    ) {
        guard answerMayWaitForFlush(waitForFlush) else {
            return completion(appendRecords(records, onFlush: nil))
        }
        // When the append asks for a sync (`flush.messages`), the answer waits for it. The
        // flusher calls back on its own thread; the hop to this loop runs after this append
        // has stored its info.
        let appended = NIOLoopBoundBox<AppendInfo?>(nil, eventLoop: eventLoop)
        let loop = eventLoop
        let result = appendRecords(records) { flushed in
            loop.execute {
                switch flushed {
                case .success: completion(.success(appended.value!))
                case .failure(let error): completion(.failure(error))
                }
            }
        }
        if case .success(let info) = result, info.flushRequested {
            appended.value = info
        } else {
            completion(result)
        }
    }

    /// Appends on ``eventLoop`` and wakes waiting fetches.
    private func appendRecords(
        _ records: ProducedRecords, onFlush: (@Sendable (Result<Int64, StorageError>) -> Void)?
    ) -> Result<AppendInfo, Error> {
        let log = self.log.value
        let result = Result { try records.withPieces { try log.append($0, onFlush: onFlush) } }
        if case .success = result { wakeWaiters() }
        return result
    }

    /// Calls `callback` (once) at the next append; returns an id for ``cancelWait(_:)``.
    /// Must run on ``eventLoop``, so that a read and this registration see the log in the
    /// same state: no append can slip in between.
    func waitForAppend(_ callback: @escaping @Sendable () -> Void) -> UInt64 {
        nextWaiterId.value += 1
        waiters.value[nextWaiterId.value] = callback
        return nextWaiterId.value
    }

    /// Drops a waiter that no longer needs waking (its fetch was answered).
    func cancelWait(_ id: UInt64) {
        if eventLoop.inEventLoop {
            waiters.value[id] = nil
        } else {
            eventLoop.execute { self.waiters.value[id] = nil }
        }
    }

    private func wakeWaiters() {
        guard !waiters.value.isEmpty else { return }
        let callbacks = waiters.value.values
        waiters.value = [:]
        for callback in callbacks { callback() }
    }

    /// Wakes and drops every waiter (on deletion or shutdown). Must run on ``eventLoop``.
    func releaseWaiters() { wakeWaiters() }
}
