import ServiceLifecycle

/// The end of a client's life, shared by ``Producer`` and ``Consumer``: callers that wait for
/// the client to close are resumed once it has.
struct ClosedLatch {
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private(set) var isClosed = false

    /// Marks the client closed and resumes everyone waiting.
    mutating func close() {
        isClosed = true
        let waiting = waiters
        waiters.removeAll()
        for waiter in waiting { waiter.resume() }
    }

    /// Resumes `waiter` when the client is closed (at once if it already is).
    mutating func add(_ waiter: CheckedContinuation<Void, Never>) {
        if isClosed { waiter.resume() } else { waiters.append(waiter) }
    }
}

/// A client's `Service.run()`: waits until the client is closed, and closes it on a graceful
/// shutdown or when the task is cancelled.
func runUntilClosed(
    waitUntilClosed: @escaping @Sendable () async -> Void, close: @escaping @Sendable () async -> Void
) async {
    await withTaskCancellationHandler {
        await withGracefulShutdownHandler {
            await waitUntilClosed()
        } onGracefulShutdown: {
            Task { await close() }
        }
    } onCancel: {
        Task { await close() }
    }
}
