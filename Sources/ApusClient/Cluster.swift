import ApusProtocol
import Logging
import NIOCore

/// A topic-partition: the unit of ordering, assignment and offsets.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The topic name.
    public var topic: String
    /// The partition index within the topic.
    public var partition: Int32

    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (a: TopicPartition, b: TopicPartition) -> Bool {
        (a.topic, a.partition) < (b.topic, b.partition)
    }

    public var description: String { "\(topic)/\(partition)" }
}

/// What the client knows about one topic from the last metadata answer.
struct TopicLayout: Sendable {
    var name: String
    /// Leader node id per partition index (-1: no leader right now).
    var leaders: [Int32: Int32]
    var partitionCount: Int { leaders.count }
}

/// The client's view of the cluster: bootstrap addresses, one connection per broker (made on
/// first use, made again after it breaks) and cached topic metadata, refreshed on demand, on
/// errors that mean it is stale, and after `metadataMaxAge`.
///
/// Shared by the producer, consumer and admin; an actor, so concurrent callers see one cache.
actor Cluster {
    let bootstrapServers: [String]
    let clientId: String
    let connectTimeout: Duration
    let metadataMaxAge: Duration
    let security: ClientSecurity
    let logger: Logger

    private var connections: [Int32: KafkaConnection] = [:]
    private var bootstrapConnection: KafkaConnection?
    private var brokers: [Int32: String] = [:]
    private var topics: [String: TopicLayout] = [:]
    private var refreshedAt: [String: ContinuousClock.Instant] = [:]
    private var closed = false
    /// A failure no reconnect can mend (refused credentials, unusable TLS files): once seen,
    /// every call throws it instead of connecting again.
    private var fatalFailure: KafkaClientError?

    init(
        bootstrapServers: [String], clientId: String, connectTimeout: Duration, metadataMaxAge: Duration,
        security: ClientSecurity = .plaintext, logger: Logger
    ) {
        self.bootstrapServers = bootstrapServers
        self.clientId = clientId
        self.connectTimeout = connectTimeout
        self.metadataMaxAge = metadataMaxAge
        self.security = security
        self.logger = logger
    }

    /// Connects to `address` with this cluster's settings; remembers a fatal failure.
    private func connect(to address: String) async throws -> KafkaConnection {
        if let fatalFailure { throw fatalFailure }
        do {
            return try await KafkaConnection.connect(to: address, clientId: clientId, connectTimeout: connectTimeout, security: security)
        } catch let error as KafkaClientError {
            switch error {
            case .authenticationFailed, .invalidTLSConfiguration:
                logger.debug("fatal connect failure", metadata: ["address": "\(address)", "error": "\(error)"])
                fatalFailure = error
            default: break
            }
            throw error
        }
    }

    /// A live connection to any broker: a known one first, else the bootstrap addresses in turn.
    func anyConnection() async throws -> KafkaConnection {
        guard !closed else { throw KafkaClientError.closed }
        if let fatalFailure { throw fatalFailure }
        if let live = connections.values.first(where: \.isActive) { return live }
        if let live = bootstrapConnection, live.isActive { return live }
        var failures: [String] = []
        var lastError: Error?
        // Known brokers from earlier metadata, then the bootstrap list.
        for address in Array(brokers.values).sorted() + bootstrapServers where !failures.contains(address) {
            do {
                let connection = try await connect(to: address)
                bootstrapConnection = connection
                return connection
            } catch let error as KafkaClientError {
                if case .invalidAddress = error { throw error }
                if fatalFailure != nil { throw error }
                logger.debug("bootstrap connect failed", metadata: ["address": "\(address)", "error": "\(error)"])
                failures.append(address)
                lastError = error
            }
        }
        if bootstrapServers.count == 1, let lastError { throw lastError }
        throw KafkaClientError.noBrokerReachable(bootstrapServers)
    }

    /// A live connection to broker `node`, made if needed.
    func connection(to node: Int32) async throws -> KafkaConnection {
        guard !closed else { throw KafkaClientError.closed }
        if let existing = connections[node], existing.isActive { return existing }
        if brokers[node] == nil { _ = try await refresh(topics: []) }
        guard let address = brokers[node] else { return try await anyConnection() }
        let connection = try await connect(to: address)
        if let raced = connections[node], raced.isActive {
            await connection.close()
            return raced
        }
        connections[node] = connection
        return connection
    }

    /// Forgets a connection that failed, so the next call reconnects.
    func connectionFailed(_ connection: KafkaConnection) async {
        for (node, existing) in connections where existing === connection { connections[node] = nil }
        if bootstrapConnection === connection { bootstrapConnection = nil }
        await connection.close()
    }

    /// Sends `request` to `node` (or any broker), dropping the connection if it broke.
    func send<Request: RequestMessage>(_ request: Request, to node: Int32? = nil, maximumVersion: Int16 = .max) async throws -> Request.Response {
        let connection = if let node { try await self.connection(to: node) } else { try await anyConnection() }
        do {
            return try await connection.send(request, maximumVersion: maximumVersion)
        } catch {
            await connectionFailed(connection)
            throw error
        }
    }

    /// Asks for metadata of `topics` (nil: all topics) and updates the cache.
    @discardableResult
    func refresh(topics names: [String]?, autoCreate: Bool = false) async throws -> MetadataResponse {
        let request = MetadataRequest(
            topics: names.map { $0.map { MetadataRequest.MetadataRequestTopic(name: $0) } }, allowAutoTopicCreation: autoCreate)
        let response = try await send(request, maximumVersion: 12)
        for broker in response.brokers { brokers[broker.nodeId] = "\(broker.host):\(broker.port)" }
        let now = ContinuousClock.now
        for topic in response.topics {
            guard let name = topic.name else { continue }
            if topic.errorCode == KafkaErrorCode.noError.rawValue {
                var leaders: [Int32: Int32] = [:]
                for partition in topic.partitions { leaders[partition.partitionIndex] = partition.leaderId }
                topics[name] = TopicLayout(name: name, leaders: leaders)
                refreshedAt[name] = now
            } else {
                topics[name] = nil
            }
        }
        return response
    }

    /// The layout of `topic`, from the cache while fresh. Throws `unknownTopic` if it does not
    /// exist (after asking the broker to create it, when `autoCreate`).
    func layout(of topic: String, autoCreate: Bool = false) async throws -> TopicLayout {
        if let cached = topics[topic], let at = refreshedAt[topic], ContinuousClock.now - at < metadataMaxAge,
            !cached.leaders.values.contains(-1)
        {
            return cached
        }
        var attempt = 0
        while true {
            let response = try await refresh(topics: [topic], autoCreate: autoCreate)
            let answer = response.topics.first { $0.name == topic }
            if let layout = topics[topic], !layout.leaders.values.contains(-1) { return layout }
            let code = answer.flatMap { KafkaErrorCode(rawValue: $0.errorCode) }
            // Auto-created topics answer LEADER_NOT_AVAILABLE once; wait a little for them.
            attempt += 1
            if code == .unknownTopicOrPartition && !autoCreate { throw KafkaClientError.unknownTopic(topic) }
            if attempt >= 20 {
                if let code, code != .noError { throw KafkaClientError.broker(code, "metadata of \(topic)") }
                throw KafkaClientError.unknownTopic(topic)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The leader of a partition (refreshing metadata if unknown).
    func leader(of partition: TopicPartition) async throws -> Int32 {
        let layout = try await layout(of: partition.topic)
        guard let leader = layout.leaders[partition.partition] else {
            throw KafkaClientError.unknownPartition(partition.topic, partition.partition)
        }
        return leader
    }

    /// Marks a topic's metadata stale (after NOT_LEADER and the like).
    func invalidate(topic: String) {
        refreshedAt[topic] = nil
    }

    /// The coordinator of a consumer group.
    func coordinator(of group: String) async throws -> Int32 {
        var attempt = 0
        while true {
            let response = try await send(FindCoordinatorRequest(key: group, keyType: 0, coordinatorKeys: [group]))
            let (code, node, host, port) = response.coordinators.first.map { ($0.errorCode, $0.nodeId, $0.host, $0.port) }
                ?? (response.errorCode, response.nodeId, response.host, response.port)
            if code == 0 {
                brokers[node] = "\(host):\(port)"
                return node
            }
            let error = KafkaErrorCode(rawValue: code) ?? .unknownServerError
            attempt += 1
            guard error.isRetriable, attempt < 50 else { throw KafkaClientError.broker(error, "finding the coordinator of \(group)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Closes every connection.
    func close() async {
        closed = true
        for connection in connections.values { await connection.close() }
        connections.removeAll()
        await bootstrapConnection?.close()
        bootstrapConnection = nil
    }
}

/// Failures that no retry mends: the client's credentials or TLS settings were refused or
/// cannot be used. Producers and consumers hand them to the caller at once.
func isFatalClientError(_ error: Error) -> Bool {
    switch error as? KafkaClientError {
    case .authenticationFailed?, .invalidTLSConfiguration?: true
    default: false
    }
}

/// Connection-level failures: the request may be sent again on a new connection.
func isConnectionError(_ error: Error) -> Bool {
    guard let error = error as? KafkaClientError else { return error is ChannelError || error is IOError }
    switch error {
    case .connectionClosed, .connectionFailed, .noBrokerReachable: return true
    default: return false
    }
}
