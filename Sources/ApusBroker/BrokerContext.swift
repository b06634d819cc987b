import ApusProtocol
import Logging
import NIOCore
import Synchronization

/// What every handler shares: the configuration, the cluster identity, the topics, metrics.
/// Passed to handlers instead of globals.
public final class BrokerContext: Sendable {
    public let config: BrokerConfig
    public let clusterId: String
    public let topics: TopicManager
    public let metrics: BrokerMetrics
    public let logger: Logger
    /// Producer ids for idempotent producers.
    let producerIds: ProducerIdManager
    /// The consumer-group coordinator (all groups, owned by one event loop).
    public let groups: GroupCoordinator
    private let boundPortValue = Atomic<Int>(0)

    init(config: BrokerConfig, clusterId: String, topics: TopicManager, groups: GroupCoordinator, metrics: BrokerMetrics, logger: Logger) throws {
        self.producerIds = try ProducerIdManager(dataDirectory: config.dataDirectory)
        self.groups = groups
        self.config = config
        self.clusterId = clusterId
        self.topics = topics
        self.metrics = metrics
        self.logger = logger
    }

    /// The port the listener actually bound (differs from the configured one when that was 0).
    public internal(set) var boundPort: Int {
        get { boundPortValue.load(ordering: .acquiring) }
        set { boundPortValue.store(newValue, ordering: .releasing) }
    }

    /// The address written into Metadata and FindCoordinator responses.
    public var advertisedAddress: (host: String, port: Int) {
        let (host, port) = config.advertisedAddress
        return (host, config.advertisedPort ?? (config.listenPort == 0 ? boundPort : port))
    }
}
