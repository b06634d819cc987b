import Synchronization

/// All partition logs under one data directory (Kafka's `LogManager`): finds them at start,
/// opens (and so recovers) or creates them on request, and keeps the checkpoint files and the
/// clean-shutdown marker that tell the next start how much recovery it needs.
///
/// Thread-safe, and off the hot path: each ``PartitionLog`` it opens belongs to the caller that
/// opened it (in the broker, the event loop that owns the partition), so logs of different
/// partitions can be opened and recovered in parallel. The manager keeps only each log's
/// ``LogCheckpoint`` to write the checkpoint files.
public final class LogManager: Sendable {
    public static let recoveryPointCheckpoint = "recovery-point-offset-checkpoint"
    public static let logStartOffsetCheckpoint = "log-start-offset-checkpoint"
    public static let cleanShutdownMarker = ".kafka_cleanshutdown"

    public let dataDirectory: String
    public let defaultConfig: LogConfig
    public let flusher: GroupCommitFlusher
    /// Whether the previous run shut down cleanly (so no segment needs a scan).
    public let hadCleanShutdown: Bool
    /// The partitions whose directories were found at start, sorted.
    public let discoveredPartitions: [TopicPartition]

    private struct State {
        var recoveryPoints: [TopicPartition: Int64]
        var logStartOffsets: [TopicPartition: Int64]
        var open: [TopicPartition: LogCheckpoint] = [:]
    }
    private let state: Mutex<State>

    /// Reads the marker and checkpoints of `dataDirectory` (created if missing) and lists the
    /// `<topic>-<partition>` directories in it. Logs are opened by ``openLog(_:config:)``.
    public init(
        dataDirectory: String, defaultConfig: LogConfig = LogConfig(), flusher: GroupCommitFlusher = GroupCommitFlusher()
    ) throws {
        self.dataDirectory = dataDirectory
        self.defaultConfig = defaultConfig
        self.flusher = flusher
        try FileSystem.createDirectory(dataDirectory)
        let markerPath = dataDirectory + "/" + Self.cleanShutdownMarker
        hadCleanShutdown = FileSystem.exists(markerPath)
        state = Mutex(State(
            recoveryPoints: OffsetCheckpoint.read(dataDirectory + "/" + Self.recoveryPointCheckpoint),
            logStartOffsets: OffsetCheckpoint.read(dataDirectory + "/" + Self.logStartOffsetCheckpoint)))
        discoveredPartitions = try FileSystem.listDirectory(dataDirectory).compactMap { name in
            FileSystem.isDirectory(dataDirectory + "/" + name) ? TopicPartition(directoryName: name) : nil
        }.sorted()
        // From now on the data may change: a crash must not be taken for a clean shutdown.
        try FileSystem.remove(markerPath)
        try FileSystem.syncDirectory(dataDirectory)
    }

    /// The directory of a partition's log.
    public func directory(for partition: TopicPartition) -> String {
        dataDirectory + "/" + partition.directoryName
    }

    /// Opens a partition's log, recovering it as the checkpoints require, or creates it empty.
    /// The caller owns the returned log; a partition must not be open twice.
    public func openLog(_ partition: TopicPartition, config: LogConfig? = nil) throws -> PartitionLog {
        let (recoveryPoint, logStartOffset, alreadyOpen) = state.withLock {
            ($0.recoveryPoints[partition] ?? 0, $0.logStartOffsets[partition] ?? 0, $0.open[partition] != nil)
        }
        precondition(!alreadyOpen, "\(partition) is already open")
        let existed = FileSystem.isDirectory(directory(for: partition))
        let log = try PartitionLog(
            topicPartition: partition, directory: directory(for: partition), config: config ?? defaultConfig,
            flusher: flusher, recoveryPoint: hadCleanShutdown ? .max : recoveryPoint,
            logStartOffset: logStartOffset, cleanShutdown: hadCleanShutdown && existed)
        if !existed { try FileSystem.syncDirectory(dataDirectory) }
        state.withLock { $0.open[partition] = log.checkpoint }
        return log
    }

    /// Deletes a log (which its owner must no longer use) and forgets it.
    public func deleteLog(_ log: PartitionLog) throws {
        try log.delete()
        state.withLock {
            $0.open[log.topicPartition] = nil
            $0.recoveryPoints[log.topicPartition] = nil
            $0.logStartOffsets[log.topicPartition] = nil
        }
        try FileSystem.syncDirectory(dataDirectory)
    }

    /// Writes the recovery points (what is known synced) and log start offsets of the open logs.
    public func writeCheckpoints() throws {
        let open = state.withLock { $0.open }
        try OffsetCheckpoint.write(dataDirectory + "/" + Self.recoveryPointCheckpoint, open.mapValues(\.recoveryPoint))
        try OffsetCheckpoint.write(dataDirectory + "/" + Self.logStartOffsetCheckpoint, open.mapValues(\.logStartOffset))
    }

    /// Writes the checkpoints and the clean-shutdown marker. Call it after every log was closed
    /// by its owner (``PartitionLog/close()``), last thing before exiting.
    public func close() throws {
        flusher.waitForPending()
        try writeCheckpoints()
        try FileSystem.writeAtomically(dataDirectory + "/" + Self.cleanShutdownMarker, contents: [])
    }
}
