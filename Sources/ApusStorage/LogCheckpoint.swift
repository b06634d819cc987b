import Synchronization

/// The two offsets Kafka checkpoints for a log, shared between the log's owner, the flusher
/// thread and the ``LogManager`` that writes the checkpoint files. Lock-free.
public final class LogCheckpoint: Sendable {
    private let recoveryPointValue: Atomic<Int64>
    private let logStartOffsetValue: Atomic<Int64>

    init(recoveryPoint: Int64, logStartOffset: Int64) {
        recoveryPointValue = Atomic(recoveryPoint)
        logStartOffsetValue = Atomic(logStartOffset)
    }

    /// Every record below this offset has been synced to disk (Kafka's recovery point).
    public var recoveryPoint: Int64 { recoveryPointValue.load(ordering: .acquiring) }

    /// The first readable offset of the log.
    public var logStartOffset: Int64 { logStartOffsetValue.load(ordering: .acquiring) }

    func advanceRecoveryPoint(to offset: Int64) {
        var current = recoveryPointValue.load(ordering: .relaxed)
        while offset > current {
            let (exchanged, original) = recoveryPointValue.compareExchange(
                expected: current, desired: offset, ordering: .acquiringAndReleasing)
            if exchanged { return }
            current = original
        }
    }

    func publishLogStartOffset(_ offset: Int64) { logStartOffsetValue.store(offset, ordering: .releasing) }
}
