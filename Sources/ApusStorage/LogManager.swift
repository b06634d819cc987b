/// All partition logs under one data directory (Kafka's `LogManager`): opens and recovers them
/// at start, creates and deletes them, and keeps the checkpoint files and the clean-shutdown
/// marker that tell the next start how much recovery it needs.
///
/// Not thread-safe: it is used at start-up and by admin operations from one owner; each
/// ``PartitionLog`` it hands out is then driven by its own owner.
public final class LogManager {
    public static let recoveryPointCheckpoint = "recovery-point-offset-checkpoint"
    public static let logStartOffsetCheckpoint = "log-start-offset-checkpoint"
    public static let cleanShutdownMarker = ".kafka_cleanshutdown"

    public let dataDirectory: String
    public let defaultConfig: LogConfig
    public let flusher: GroupCommitFlusher
    public private(set) var logs: [TopicPartition: PartitionLog] = [:]
    /// Whether the previous run shut down cleanly (so no segment needed a scan).
    public let hadCleanShutdown: Bool

    /// Opens every `<topic>-<partition>` directory under `dataDirectory` (created if missing).
    /// `configFor` supplies per-topic overrides of the default config.
    public init(
        dataDirectory: String, defaultConfig: LogConfig = LogConfig(), flusher: GroupCommitFlusher = GroupCommitFlusher(),
        configFor: (String) -> LogConfig? = { _ in nil }
    ) throws {
        self.dataDirectory = dataDirectory
        self.defaultConfig = defaultConfig
        self.flusher = flusher
        try FileSystem.createDirectory(dataDirectory)
        let markerPath = dataDirectory + "/" + Self.cleanShutdownMarker
        let clean = FileSystem.exists(markerPath)
        self.hadCleanShutdown = clean
        let recoveryPoints = OffsetCheckpoint.read(dataDirectory + "/" + Self.recoveryPointCheckpoint)
        let startOffsets = OffsetCheckpoint.read(dataDirectory + "/" + Self.logStartOffsetCheckpoint)
        for name in try FileSystem.listDirectory(dataDirectory) {
            let path = dataDirectory + "/" + name
            guard FileSystem.isDirectory(path), let partition = TopicPartition(directoryName: name) else { continue }
            logs[partition] = try PartitionLog(
                topicPartition: partition, directory: path, config: configFor(partition.topic) ?? defaultConfig,
                flusher: flusher, recoveryPoint: clean ? Int64.max : recoveryPoints[partition] ?? 0,
                logStartOffset: startOffsets[partition] ?? 0, cleanShutdown: clean)
        }
        // From now on the data may change: a crash must not be taken for a clean shutdown.
        try FileSystem.remove(markerPath)
        try FileSystem.syncDirectory(dataDirectory)
    }

    /// The log of a partition, if it exists.
    public func log(for partition: TopicPartition) -> PartitionLog? { logs[partition] }

    /// The log of a partition, created empty if it does not exist.
    public func getOrCreateLog(_ partition: TopicPartition, config: LogConfig? = nil) throws -> PartitionLog {
        if let log = logs[partition] { return log }
        let directory = dataDirectory + "/" + partition.directoryName
        let log = try PartitionLog(
            topicPartition: partition, directory: directory, config: config ?? defaultConfig, flusher: flusher)
        try FileSystem.syncDirectory(dataDirectory)
        logs[partition] = log
        return log
    }

    /// Deletes a partition's log and its files.
    public func deleteLog(_ partition: TopicPartition) throws {
        guard let log = logs.removeValue(forKey: partition) else { return }
        try log.delete()
        try FileSystem.syncDirectory(dataDirectory)
    }

    /// Writes the recovery points (what is known synced) and log start offsets.
    public func writeCheckpoints() throws {
        try OffsetCheckpoint.write(
            dataDirectory + "/" + Self.recoveryPointCheckpoint, logs.mapValues { $0.durability.offset })
        try OffsetCheckpoint.write(
            dataDirectory + "/" + Self.logStartOffsetCheckpoint, logs.mapValues(\.logStartOffset))
    }

    /// Applies retention to every log; returns the number of segments deleted.
    @discardableResult
    public func applyRetention(now: Int64 = currentTimeMillis()) throws -> Int {
        try logs.values.reduce(0) { $0 + (try $1.applyRetention(now: now)) }
    }

    /// Flushes and closes every log, writes the checkpoints and the clean-shutdown marker.
    public func close() throws {
        flusher.waitForPending()
        for log in logs.values { try log.close() }
        try writeCheckpoints()
        try FileSystem.writeAtomically(dataDirectory + "/" + Self.cleanShutdownMarker, contents: [])
    }
}
