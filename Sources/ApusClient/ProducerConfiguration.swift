import ApusRecord

/// How a ``Producer`` batches, compresses, acknowledges and retries. Every field has the default
/// shown, which matches the Java client's where one exists, except `batchSize` (librdkafka's).
public struct ProducerConfiguration: Sendable {
    /// Brokers to bootstrap from (`HOST:PORT`); the first one that answers is used. Default `127.0.0.1:9092`.
    public var bootstrapServers: [String] = ["127.0.0.1:9092"]
    /// The client id brokers see in their logs and metrics. Default `apus-producer`.
    public var clientId = "apus-producer"
    /// How long a batch may wait for more records before it is sent (`linger.ms`). Default 5 ms.
    public var linger: Duration = .milliseconds(5)
    /// A batch is sent as soon as it holds this many bytes of records (`batch.size`). Default
    /// 1,000,000, librdkafka's rather than the Java client's 16 KiB: a partition has one batch in
    /// flight (the Java client pipelines five), and its next batch grows while that one is out,
    /// so this cap decides how fast one partition can go (16 KiB batches measured 50 MB/s here,
    /// Docs/performance.md). At low rates `linger` decides, and batches stay small.
    public var batchSize = 1_000_000
    /// Bytes of records that may wait to be sent or acknowledged; `send` waits when it is full
    /// (`buffer.memory`). Default 32 MiB.
    public var bufferMemory = 32 << 20
    /// Compression of each batch: `.none`, `.gzip` or `.lz4`. Default `.none`.
    public var compression: CompressionCodec = .none
    /// Which acknowledgement the producer waits for. Default `.all`.
    public var acks: Acks = .all
    /// Idempotent delivery: a producer id and per-partition sequence numbers, so retries never
    /// duplicate or reorder records (`enable.idempotence`). Default `true`; needs `acks = .all`.
    public var idempotent = true
    /// Produce requests in flight per broker (`max.in.flight.requests.per.connection`; at most 5 with
    /// idempotence). A partition has at most one batch in flight, so its order is kept. Default 5.
    public var maxInFlightRequestsPerConnection = 5
    /// How long a record may take from `send` to acknowledgement, retries included, before it
    /// fails (`delivery.timeout.ms`). Default 120 s.
    public var deliveryTimeout: Duration = .seconds(120)
    /// Pause between retries of a failed batch (`retry.backoff.ms`). Default 100 ms.
    public var retryBackoff: Duration = .milliseconds(100)
    /// How long the broker may take to replicate before it answers (`request.timeout.ms`). Default 30 s.
    public var requestTimeout: Duration = .seconds(30)
    /// Connect timeout per broker. Default 10 s.
    public var connectTimeout: Duration = .seconds(10)
    /// Metadata older than this is asked again (`metadata.max.age.ms`). Default 5 min.
    public var metadataMaxAge: Duration = .seconds(300)
    /// Whether producing to a missing topic asks the broker to create it (if the broker allows
    /// it: `auto.create.topics.enable`). Default `true`.
    public var allowAutoTopicCreation = true
    /// TLS and SASL (`security.protocol`, `sasl.*`, `ssl.*`). Default plaintext, unauthenticated.
    public var security: ClientSecurity = .plaintext

    /// The defaults, bootstrapping from `bootstrapServers`.
    public init(bootstrapServers: [String] = ["127.0.0.1:9092"]) {
        self.bootstrapServers = bootstrapServers
    }

    /// Acknowledgements a producer waits for.
    public enum Acks: Int16, Sendable {
        /// The leader appended the batch (`acks=1`).
        case leader = 1
        /// Every in-sync replica has it (`acks=all`, -1).
        case all = -1
    }
}

/// A record to send: where it goes and what it holds.
public struct ProducerRecord: Sendable, Hashable {
    /// The topic.
    public var topic: String
    /// A fixed partition, or nil to let the partitioner choose (murmur2 of the key; sticky for null keys).
    public var partition: Int32?
    /// The key, or nil.
    public var key: [UInt8]?
    /// The value, or nil (a tombstone).
    public var value: [UInt8]?
    /// Headers, in order.
    public var headers: [RecordHeader]
    /// Create time in milliseconds since the epoch; nil means now.
    public var timestamp: Int64?

    public init(
        topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: [UInt8]?, headers: [RecordHeader] = [],
        timestamp: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    /// A record with UTF-8 key and value.
    public init(topic: String, partition: Int32? = nil, key: String? = nil, value: String, headers: [RecordHeader] = []) {
        self.init(topic: topic, partition: partition, key: key.map { Array($0.utf8) }, value: Array(value.utf8), headers: headers)
    }
}

/// Where an acknowledged record was written.
public struct RecordMetadata: Sendable, Hashable, CustomStringConvertible {
    /// The topic.
    public var topic: String
    /// The partition it went to.
    public var partition: Int32
    /// Its offset in the partition.
    public var offset: Int64
    /// Its timestamp (create time, or the broker's append time if the topic uses LogAppendTime).
    public var timestamp: Int64

    public var topicPartition: TopicPartition { TopicPartition(topic, partition) }
    public var description: String { "\(topic)/\(partition)@\(offset)" }
}
