import ApusStorage
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A running Apus broker: the Kafka listener, the partitions on their event loops, the
/// maintenance timers (retention, `flush.ms`, checkpoints) and the metrics endpoint.
///
/// `Broker.start` returns once the listener is bound; `shutdown()` stops accepting, lets
/// in-flight requests finish, closes every log cleanly and writes the checkpoints, so the next
/// start needs no recovery. Embeddable: tests start one on port 0 inside their own process.
public final class Broker: Sendable {
    public let context: BrokerContext
    private let group: MultiThreadedEventLoopGroup
    private let logManager: LogManager
    private let serverChannels: [Channel]
    private let metricsChannel: Channel?
    private let connections: ConnectionRegistry
    private let maintenance: RepeatedTask
    private let stopped = Atomic<Bool>(false)

    /// The port the first Kafka listener is bound to.
    public var port: Int { context.boundPort(of: context.config.listeners[0].name) ?? 0 }
    /// The port a listener (by name, e.g. "SASL_SSL") is bound to.
    public func port(ofListener name: String) -> Int? { context.boundPort(of: name) }
    /// The port of the metrics endpoint, if enabled.
    public var metricsPort: Int? { metricsChannel?.localAddress?.port }
    /// The address clients should bootstrap from (the first listener's).
    public var bootstrapAddress: String { "\(context.advertisedAddress(of: context.config.listeners[0]).host):\(port)" }

    private init(
        context: BrokerContext, group: MultiThreadedEventLoopGroup, logManager: LogManager, serverChannels: [Channel],
        metricsChannel: Channel?, connections: ConnectionRegistry, maintenance: RepeatedTask
    ) {
        self.context = context
        self.group = group
        self.logManager = logManager
        self.serverChannels = serverChannels
        self.metricsChannel = metricsChannel
        self.connections = connections
        self.maintenance = maintenance
    }

    /// Opens the data directory (recovering what a crash left), loads the topics and binds the
    /// listeners. `metricsRegistry` renders the Prometheus endpoint, if one is configured.
    public static func start(
        config: BrokerConfig, logger: Logger = Logger(label: "apus.broker"),
        metricsText: (@Sendable () -> String)? = nil
    ) async throws -> Broker {
        try config.validate()
        let security = try BrokerSecurity(config: config, logger: logger)
        let logManager = try LogManager(dataDirectory: config.dataDirectory, defaultConfig: config.logDefaults)
        let clusterId = try MetaProperties.loadOrCreate(directory: config.dataDirectory, nodeId: config.nodeId)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: config.eventLoopCount)
        do {
            let loops = Array(group.makeIterator())
            let topics = TopicManager(logManager: logManager, eventLoops: loops, defaults: config.logDefaults, logger: logger)
            let started = ContinuousClock.now
            try await topics.loadExisting().get()
            logger.info("logs loaded", metadata: [
                "partitions": "\(logManager.discoveredPartitions.count)", "clean_shutdown": "\(logManager.hadCleanShutdown)",
                "seconds": "\(ContinuousClock.now - started)",
            ])
            let groups = try await GroupCoordinator.make(config: config.groupCoordinator, topics: topics, logger: logger, on: loops[0]).get()
            try await groups.createOffsetsTopic().get()
            let context = try BrokerContext(
                config: config, clusterId: clusterId, topics: topics, groups: groups, metrics: BrokerMetrics(), security: security,
                logger: logger)
            let connections = ConnectionRegistry()
            var serverChannels: [Channel] = []
            for listener in config.listeners {
                do {
                    let channel = try await bind(listener, context: context, connections: connections, group: group, logger: logger)
                    serverChannels.append(channel)
                } catch {
                    for channel in serverChannels { try? await channel.close() }
                    throw error
                }
            }
            // Group requests get COORDINATOR_LOAD_IN_PROGRESS until __consumer_offsets is read back.
            groups.load().whenFailure { error in logger.error("loading __consumer_offsets failed", metadata: ["error": "\(error)"]) }
            var metricsChannel: Channel?
            if let host = config.metricsHost, let metricsText {
                metricsChannel = try await MetricsServer.start(host: host, port: config.metricsPort, group: group, render: metricsText)
            }
            let retentionEvery = max(1, config.retentionCheckIntervalMs / config.flushSchedulerIntervalMs)
            let ticks = Atomic<Int64>(0)
            let maintenance = loops[0].scheduleRepeatedTask(
                initialDelay: .milliseconds(config.flushSchedulerIntervalMs), delay: .milliseconds(config.flushSchedulerIntervalMs)
            ) { _ in
                let tick = ticks.add(1, ordering: .relaxed).newValue
                topics.runMaintenance(retention: tick % retentionEvery == 0)
                if tick % 60 == 0 { try? logManager.writeCheckpoints() }
            }
            let listeners = config.listeners.map { listener in
                let (host, port) = context.advertisedAddress(of: listener)
                return "\(listener.name)://\(listener.host):\(context.boundPort(of: listener.name) ?? listener.port) (advertised \(host):\(port))"
            }
            logger.info("broker started", metadata: [
                "listeners": "\(listeners.joined(separator: ", "))", "data_dir": "\(config.dataDirectory)", "cluster_id": "\(clusterId)",
                "node_id": "\(config.nodeId)", "authorizer": "\(config.security.authorizerEnabled)",
            ])
            for listener in config.listeners where !listener.isLoopback {
                let authenticates = listener.securityProtocol.usesSASL
                    || (listener.securityProtocol == .ssl && config.security(for: listener).clientAuth == .required)
                if !authenticates {
                    logger.warning(
                        "listening beyond loopback without authentication: anyone who can reach this address can read and write",
                        metadata: ["listener": "\(listener.name)://\(listener.host):\(listener.port)"])
                }
            }
            return Broker(
                context: context, group: group, logManager: logManager, serverChannels: serverChannels,
                metricsChannel: metricsChannel, connections: connections, maintenance: maintenance)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Binds one listener: TLS first on SSL and SASL_SSL listeners, then the Kafka framing.
    private static func bind(
        _ listener: Listener, context: BrokerContext, connections: ConnectionRegistry, group: EventLoopGroup, logger: Logger
    ) async throws -> Channel {
        let maximumFrame = context.config.socketRequestMaxBytes
        let tlsContext = context.security.tlsContext(for: listener)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 256 * 1024))
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext))
                    }
                    try channel.pipeline.syncOperations.addHandler(RequestFrameDecoder(maximumFrameSize: maximumFrame))
                    try channel.pipeline.syncOperations.addHandler(KafkaConnectionHandler(broker: context, listener: listener, logger: logger))
                }
            }
            .bind(host: listener.host, port: listener.port).get()
        context.setBoundPort(channel.localAddress?.port ?? listener.port, of: listener.name)
        return channel
    }

    /// Stops accepting, lets in-flight requests finish (up to `drainTimeout`), closes every log
    /// and writes the checkpoints and the clean-shutdown marker.
    public func shutdown(drainTimeout: TimeAmount = .seconds(10)) async throws {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let logger = context.logger
        logger.info("shutting down")
        maintenance.cancel()
        for channel in serverChannels { try? await channel.close() }
        try? await metricsChannel?.close()
        try? await context.groups.shutdown().get()
        let open = connections.all
        for channel in open { channel.pipeline.fireUserInboundEventTriggered(BrokerShutdownEvent()) }
        let drained = EventLoopFuture.andAllComplete(open.map(\.closeFuture), on: group.next())
        let timeout = group.next().scheduleTask(in: drainTimeout) { for channel in open { channel.close(promise: nil) } }
        try? await drained.get()
        timeout.cancel()
        try await context.topics.closeAll().get()
        try logManager.close()
        try await group.shutdownGracefully()
        logger.info("shut down cleanly")
    }
}

/// `meta.properties` in the data directory, as Kafka writes it: the cluster id and node id.
enum MetaProperties {
    static func loadOrCreate(directory: String, nodeId: Int32) throws -> String {
        let path = directory + "/meta.properties"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let properties = Dictionary(BrokerConfig.parseProperties(text).map { ($0, $1.trimmed) }, uniquingKeysWith: { $1 })
            if let stored = properties["node.id"], stored != "\(nodeId)" {
                throw ConfigError("\(path) belongs to node.id \(stored), not \(nodeId)")
            }
            if let clusterId = properties["cluster.id"] { return clusterId }
        }
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let clusterId = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let text = "#\n#Written by Apus\nversion=1\ncluster.id=\(clusterId)\nnode.id=\(nodeId)\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        return clusterId
    }
}

/// The open client connections, so shutdown can drain them.
final class ConnectionRegistry: Sendable {
    private let channels = Mutex<[ObjectIdentifier: Channel]>([:])

    func add(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { _ in _ = self.channels.withLock { $0.removeValue(forKey: id) } }
    }

    var all: [Channel] { channels.withLock { Array($0.values) } }
}
