import ApusRecord

/// How a ``Consumer`` fetches, where it starts, and how it takes part in a consumer group.
/// Every field has the default shown, which matches the Java client's where one exists.
public struct ConsumerConfiguration: Sendable {
    /// Brokers to bootstrap from (`HOST:PORT`); the first one that answers is used. Default `127.0.0.1:9092`.
    public var bootstrapServers: [String] = ["127.0.0.1:9092"]
    /// The client id brokers see. Default `apus-consumer`.
    public var clientId = "apus-consumer"
    /// The consumer group (`group.id`): needed for ``Consumer/subscribe(topics:)`` and for commits. Default nil.
    public var groupId: String?
    /// Where to start in a partition without a committed offset, or after OFFSET_OUT_OF_RANGE
    /// (`auto.offset.reset`). Default `.latest`.
    public var autoOffsetReset: OffsetReset = .latest
    /// Commit the offsets of batches already handed out, every ``autoCommitInterval``, on
    /// rebalance and on close (`enable.auto.commit`; needs ``groupId``). Default `true`.
    public var enableAutoCommit = true
    /// Default 5 s.
    public var autoCommitInterval: Duration = .seconds(5)
    /// How long a fetch waits for ``fetchMinBytes`` at the broker (`fetch.max.wait.ms`). Default 500 ms.
    public var fetchMaxWait: Duration = .milliseconds(500)
    /// Default 1 byte.
    public var fetchMinBytes = 1
    /// Maximum bytes of one fetch response (`fetch.max.bytes`). Default 50 MiB.
    public var fetchMaxBytes = 50 << 20
    /// Maximum bytes per partition per fetch (`max.partition.fetch.bytes`). Default 1 MiB.
    public var maxPartitionFetchBytes = 1 << 20
    /// The group session timeout (`session.timeout.ms`). Default 45 s.
    public var sessionTimeout: Duration = .seconds(45)
    /// How long the coordinator waits for members to rejoin, and the longest the application
    /// may spend between two requests for records before the consumer leaves the group
    /// (`max.poll.interval.ms`). Default 300 s.
    public var rebalanceTimeout: Duration = .seconds(300)
    /// A background task heartbeats the group coordinator at this interval, whatever the
    /// application is doing (`heartbeat.interval.ms`). Default 3 s.
    public var heartbeatInterval: Duration = .seconds(3)
    /// Assignment strategies offered, preferred first (`partition.assignment.strategy`). Default range, cooperative-sticky.
    public var assignmentStrategies: [PartitionAssignmentStrategy] = [.range, .cooperativeSticky]
    /// Pause before retrying after a failed request (`retry.backoff.ms`). Default 100 ms.
    public var retryBackoff: Duration = .milliseconds(100)
    /// Connect timeout per broker. Default 10 s.
    public var connectTimeout: Duration = .seconds(10)
    /// Metadata older than this is asked again. Default 5 min.
    public var metadataMaxAge: Duration = .seconds(300)
    /// End the record sequences once every assigned partition has been read up to its high
    /// watermark (kcat's `-e`). Default `false`: wait for new records forever.
    public var stopAtEndOfLog = false
    /// TLS and SASL (`security.protocol`, `sasl.*`, `ssl.*`). Default plaintext, unauthenticated.
    public var security: ClientSecurity = .plaintext

    /// The defaults, bootstrapping from `bootstrapServers`, in group `groupId` if given.
    public init(bootstrapServers: [String] = ["127.0.0.1:9092"], groupId: String? = nil) {
        self.bootstrapServers = bootstrapServers
        self.groupId = groupId
    }
}

/// Where a partition without a usable offset starts.
public enum OffsetReset: Sendable, Hashable {
    /// The log start offset.
    case earliest
    /// The log end offset: only records produced from now on.
    case latest
    /// No reset: fetching such a partition throws.
    case none
}

/// A position to move a partition to with ``Consumer/seek(_:to:)``.
public enum SeekPosition: Sendable, Hashable {
    /// This offset.
    case offset(Int64)
    /// The log start offset.
    case beginning
    /// The log end offset.
    case end
    /// The first offset whose timestamp is at or after this (milliseconds since the epoch), or
    /// the end if there is none.
    case timestamp(Int64)
}

/// One record as the consumer hands it out.
public struct ConsumerRecord: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// Milliseconds since the epoch (create time or log append time, as the topic says).
    public var timestamp: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [RecordHeader]

    public var topicPartition: TopicPartition { TopicPartition(topic, partition) }
    /// The value as UTF-8 text (invalid bytes replaced).
    public var valueString: String? { value.map { String(decoding: $0, as: UTF8.self) } }
    /// The key as UTF-8 text (invalid bytes replaced).
    public var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }
}

/// A micro-batch: a contiguous run of records of one partition, in offset order, from one fetch
/// (a large fetch comes as several, one per run of record batches decoded together). Process
/// it, then commit it with ``Consumer/commit(_:)``.
public struct ConsumerBatch: Sendable, Hashable {
    /// The partition the records come from.
    public var topicPartition: TopicPartition
    /// The records, in offset order (never empty).
    public var records: [ConsumerRecord]
    /// The partition's high watermark when it was fetched: `highWatermark - lastOffset - 1` is the lag.
    public var highWatermark: Int64

    /// Offset of the first record.
    public var firstOffset: Int64 { records.first!.offset }
    /// Offset of the last record.
    public var lastOffset: Int64 { records.last!.offset }
    /// The offset to commit once the batch is processed.
    public var nextOffset: Int64 { lastOffset + 1 }
}
