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
    /// TLS material, credentials, ACLs and the authorization check.
    public let security: BrokerSecurity
    private let boundPorts: Mutex<[String: Int]> = Mutex([:])

    init(
        config: BrokerConfig, clusterId: String, topics: TopicManager, groups: GroupCoordinator, metrics: BrokerMetrics,
        security: BrokerSecurity, logger: Logger
    ) throws {
        self.security = security
        self.producerIds = try ProducerIdManager(dataDirectory: config.dataDirectory)
        self.groups = groups
        self.config = config
        self.clusterId = clusterId
        self.topics = topics
        self.metrics = metrics
        self.logger = logger
    }

    /// The port a listener actually bound (differs from the configured one when that was 0).
    public func boundPort(of listenerName: String) -> Int? { boundPorts.withLock { $0[listenerName] } }

    func setBoundPort(_ port: Int, of listenerName: String) { boundPorts.withLock { $0[listenerName] = port } }

    /// The address a listener advertises in Metadata and FindCoordinator responses.
    public func advertisedAddress(of listener: Listener) -> (host: String, port: Int) {
        config.advertisedAddress(of: listener, boundPort: boundPort(of: listener.name) ?? listener.port)
    }
}
