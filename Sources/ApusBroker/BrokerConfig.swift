import ApusProperties
import ApusStorage

/// The broker's settings, read from Kafka's `server.properties` names.
///
/// Defaults serve a new user with no flags: listen on 127.0.0.1:9092, data in `./data`, node 0,
/// topics auto-created with one partition.
public struct BrokerConfig: Sendable, Equatable {
    /// `log.dirs` (the first directory is used) or `log.dir`.
    public var dataDirectory = "./data"
    /// `listeners`: where the broker accepts connections and with which security protocol.
    public var listeners = [Listener(name: "PLAINTEXT", securityProtocol: .plaintext, host: "127.0.0.1", port: 9092)]
    /// `advertised.listeners`: the addresses clients are told, by listener name; a listener
    /// without one advertises its own address (127.0.0.1 for a wildcard host).
    public var advertisedListeners: [Listener] = []
    /// TLS, SASL and ACL settings.
    public var security = SecurityConfig()
    /// `listener.name.<listener>.<property>`: TLS and SASL settings of one listener over the
    /// broker-wide ``security`` (``SecurityConfig/listenerProperties``), by listener name in
    /// upper case, in the order they were given.
    public var listenerSecurityOverrides: [String: [ListenerSetting]] = [:]
    /// `node.id` (or `broker.id`).
    public var nodeId: Int32 = 0
    /// `num.partitions`: partitions of auto-created topics and of CreateTopics with -1.
    public var numPartitions: Int32 = 1
    /// `auto.create.topics.enable`.
    public var autoCreateTopics = true
    /// `message.max.bytes`: the largest record batch accepted (topic override: `max.message.bytes`).
    public var messageMaxBytes = 1_048_588
    /// `socket.request.max.bytes`: the largest request frame; larger ones close the connection.
    public var socketRequestMaxBytes = 104_857_600
    /// Log defaults from `log.segment.bytes`, `log.retention.*`, `log.flush.interval.*`, `log.index.interval.bytes`.
    public var logDefaults = LogConfig()
    /// `log.retention.check.interval.ms`: how often retention runs.
    public var retentionCheckIntervalMs: Int64 = 300_000
    /// `log.flush.scheduler.interval.ms`: how often `flush.ms` is checked.
    public var flushSchedulerIntervalMs: Int64 = 1000
    /// Prometheus endpoint (`--metrics`, or `apus.metrics.listener`); nil disables it.
    public var metricsHost: String? = "127.0.0.1"
    public var metricsPort = 9644
    /// Event loops (threads) that own partitions and connections; `num.network.threads` style.
    public var eventLoopCount = System.coreCountForBroker
    /// The group coordinator's `group.*`, `offset.*` and `offsets.topic.*` settings.
    public var groupCoordinator = GroupCoordinatorConfig()

    public init() {}

    /// The broker property names understood, for `--set` validation and DescribeConfigs.
    public static let knownProperties: Set<String> = Set([
        "log.dirs", "log.dir", "listeners", "advertised.listeners", "node.id", "broker.id", "num.partitions",
        "auto.create.topics.enable", "log.segment.bytes", "log.segment.ms", "log.roll.ms", "log.roll.hours",
        "log.retention.ms", "log.retention.minutes", "log.retention.hours", "log.retention.bytes",
        "log.flush.interval.messages", "log.flush.interval.ms", "log.index.interval.bytes",
        "message.max.bytes", "socket.request.max.bytes", "log.retention.check.interval.ms",
        "log.flush.scheduler.interval.ms", "log.message.timestamp.type", "apus.metrics.listener",
        "num.network.threads", "group.initial.rebalance.delay.ms", "group.min.session.timeout.ms",
        "group.max.session.timeout.ms", "group.max.size", "offset.metadata.max.bytes", "offsets.topic.num.partitions",
        "offsets.topic.segment.bytes", "offsets.retention.minutes", "offsets.retention.check.interval.ms",
        "listener.security.protocol.map", "apus.log.writeback.bytes",
    ]).union(SecurityConfig.knownProperties)

    /// Applies `properties` (Kafka names) over the current values.
    public mutating func apply(_ properties: [(String, String)]) throws(ConfigError) {
        var retentionMs: Int64?, retentionMinutes: Int64?, retentionHours: Int64?
        var rollMs: Int64?, rollHours: Int64?
        var listenersValue: String?, advertisedValue: String?, protocolMapValue: String?
        for (key, rawValue) in properties {
            let value = rawValue.trimmed
            func integer(min: Int64 = 0) throws(ConfigError) -> Int64 {
                guard let n = Int64(value), n >= min else { throw ConfigError("\(key)=\(value): expected an integer ≥ \(min)") }
                return n
            }
            switch key {
            case "log.dirs", "log.dir":
                guard let first = value.split(separator: ",").first else { throw ConfigError("\(key) is empty") }
                dataDirectory = String(first).trimmed
            case "listeners": listenersValue = value
            case "advertised.listeners": advertisedValue = value
            case "listener.security.protocol.map": protocolMapValue = value
            case "node.id", "broker.id": nodeId = Int32(clamping: try integer())
            case "num.partitions": numPartitions = Int32(clamping: try integer(min: 1))
            case "auto.create.topics.enable":
                guard let flag = Bool(value.lowercased()) else { throw ConfigError("\(key)=\(value): expected true or false") }
                autoCreateTopics = flag
            case "log.segment.bytes": logDefaults.segmentBytes = Int(try integer(min: 14))
            case "log.roll.ms", "log.segment.ms": rollMs = try integer(min: 1)
            case "log.roll.hours": rollHours = try integer(min: 1)
            case "log.retention.ms": retentionMs = try integer(min: -1)
            case "log.retention.minutes": retentionMinutes = try integer(min: -1)
            case "log.retention.hours": retentionHours = try integer(min: -1)
            case "log.retention.bytes": logDefaults.retentionBytes = try integer(min: -1)
            case "log.flush.interval.messages": logDefaults.flushMessages = try integer(min: 1)
            case "log.flush.interval.ms": logDefaults.flushMs = try integer()
            case "log.index.interval.bytes": logDefaults.indexIntervalBytes = Int(try integer())
            case "apus.log.writeback.bytes": logDefaults.writebackBytes = Int(try integer(min: 0))
            case "message.max.bytes":
                messageMaxBytes = Int(try integer())
                logDefaults.maxMessageBytes = messageMaxBytes
            case "socket.request.max.bytes": socketRequestMaxBytes = Int(try integer(min: 1))
            case "log.retention.check.interval.ms": retentionCheckIntervalMs = try integer(min: 1)
            case "log.flush.scheduler.interval.ms": flushSchedulerIntervalMs = try integer(min: 1)
            case "log.message.timestamp.type":
                guard value == "CreateTime" || value == "LogAppendTime" else {
                    throw ConfigError("\(key)=\(value): expected CreateTime or LogAppendTime")
                }
                logDefaults.logAppendTime = value == "LogAppendTime"
            case "apus.metrics.listener":
                if value.isEmpty || value == "none" { metricsHost = nil } else {
                    let (host, port) = try Self.parseHostPort(value, key: key)
                    (metricsHost, metricsPort) = (host, port)
                }
            case "num.network.threads": eventLoopCount = Int(try integer(min: 1))
            case "group.initial.rebalance.delay.ms": groupCoordinator.initialRebalanceDelayMs = Int32(clamping: try integer())
            case "group.min.session.timeout.ms": groupCoordinator.minSessionTimeoutMs = Int32(clamping: try integer())
            case "group.max.session.timeout.ms": groupCoordinator.maxSessionTimeoutMs = Int32(clamping: try integer())
            case "group.max.size": groupCoordinator.maxSize = Int32(clamping: try integer(min: 1))
            case "offset.metadata.max.bytes": groupCoordinator.offsetMetadataMaxBytes = Int(try integer())
            case "offsets.topic.num.partitions": groupCoordinator.offsetsTopicPartitions = Int32(clamping: try integer(min: 1))
            case "offsets.topic.segment.bytes": groupCoordinator.offsetsTopicSegmentBytes = Int(try integer(min: 14))
            case "offsets.retention.minutes":
                let minutes = try integer(min: 1)
                guard minutes <= Int64.max / 60_000 else { throw ConfigError("\(key)=\(value): too large") }
                groupCoordinator.offsetsRetentionMs = minutes * 60_000
            case "offsets.retention.check.interval.ms": groupCoordinator.offsetsRetentionCheckIntervalMs = try integer(min: 1)
            case _ where key.hasPrefix(Self.listenerPrefix):
                let (listener, property) = try Self.listenerSetting(key)
                var probe = SecurityConfig()
                _ = try probe.apply(key: property, value: value)  // the value must be valid on its own
                listenerSecurityOverrides[listener, default: []].append(ListenerSetting(property: property, value: value))
            default:
                guard try security.apply(key: key, value: value) else { throw ConfigError("unknown property \(key)") }
            }
        }
        // Listeners last: the protocol map may come after them.
        let protocolMap = try protocolMapValue.map { value throws(ConfigError) in try Listener.parseProtocolMap(value) } ?? [:]
        if let listenersValue { listeners = try Listener.parseList(listenersValue, key: "listeners", protocolMap: protocolMap) }
        if let advertisedValue {
            advertisedListeners = try Listener.parseList(advertisedValue, key: "advertised.listeners", protocolMap: protocolMap)
            for advertised in advertisedListeners where !listeners.contains(where: { $0.name == advertised.name }) {
                throw ConfigError("advertised.listeners names \(advertised.name), which is not in listeners")
            }
        }
        // Kafka's precedence: ms over minutes over hours.
        if let ms = retentionMs ?? retentionMinutes.map({ $0 < 0 ? -1 : $0 * 60_000 })
            ?? retentionHours.map({ $0 < 0 ? -1 : $0 * 3_600_000 })
        {
            logDefaults.retentionMs = ms
        }
        if let ms = rollMs ?? rollHours.map({ $0 * 3_600_000 }) { logDefaults.segmentMs = ms }
    }

    /// One `listener.name.<listener>.<property>=<value>` setting.
    public struct ListenerSetting: Sendable, Equatable {
        public var property: String
        public var value: String
    }

    static let listenerPrefix = "listener.name."

    /// Splits `listener.name.<listener>.<property>` into the listener's name (upper case, as
    /// `listeners` names it) and a property that may be set per listener.
    private static func listenerSetting(_ key: String) throws(ConfigError) -> (String, String) {
        let rest = key.dropFirst(listenerPrefix.count)
        guard let dot = rest.firstIndex(of: "."), dot != rest.startIndex else {
            throw ConfigError("\(key): expected listener.name.<listener>.<property>")
        }
        let property = String(rest[rest.index(after: dot)...])
        guard SecurityConfig.listenerProperties.contains(property) else {
            throw ConfigError(
                "\(key): \(property) cannot be set per listener; these can: "
                    + SecurityConfig.listenerProperties.sorted().joined(separator: ", "))
        }
        return (rest[..<dot].uppercased(), property)
    }

    /// The TLS and SASL settings of `listener`: the broker-wide ones with its
    /// `listener.name.<listener>.*` settings over them.
    public func security(for listener: Listener) -> SecurityConfig {
        var scoped = security
        for setting in listenerSecurityOverrides[listener.name.uppercased()] ?? [] {
            _ = try? scoped.apply(key: setting.property, value: setting.value)  // each was checked when given
        }
        return scoped
    }

    /// Reads a `server.properties` text as Java does (``JavaProperties``: `key=value`,
    /// `key: value` or `key value` lines, comments, continuation lines, escapes), in file
    /// order; ``apply(_:)`` trims the values, as Kafka's config parsing does.
    public static func parseProperties(_ text: String) -> [(String, String)] {
        JavaProperties.parse(text).map { ($0.key, $0.value) }
    }

    /// Parses `HOST:PORT` (an empty host means 0.0.0.0, as in Kafka).
    public static func parseHostPort(_ value: String, key: String) throws(ConfigError) -> (String, Int) {
        guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]),
            (0...65535).contains(port)
        else { throw ConfigError("\(key)=\(value): expected HOST:PORT") }
        var host = String(value[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    /// The first listener's host (where `--listen` points).
    public var listenHost: String {
        get { listeners[0].host }
        set { listeners[0].host = newValue }
    }
    /// The first listener's port (0 picks a free one).
    public var listenPort: Int {
        get { listeners[0].port }
        set { listeners[0].port = newValue }
    }

    /// The address a listener advertises in Metadata and FindCoordinator responses, given the
    /// port it actually bound.
    public func advertisedAddress(of listener: Listener, boundPort: Int) -> (host: String, port: Int) {
        if let advertised = advertisedListeners.first(where: { $0.name == listener.name }) {
            return (advertised.host, advertised.port == 0 ? boundPort : advertised.port)
        }
        let host = listener.host == "0.0.0.0" || listener.host == "::" ? "127.0.0.1" : listener.host
        return (host, listener.port == 0 ? boundPort : listener.port)
    }

    /// The first listener's advertised address.
    public var advertisedAddress: (host: String, port: Int) { advertisedAddress(of: listeners[0], boundPort: listeners[0].port) }

    /// Whether the settings can run: TLS listeners need key material, SASL listeners mechanisms.
    public func validate() throws(ConfigError) {
        for name in listenerSecurityOverrides.keys.sorted() where !listeners.contains(where: { $0.name.uppercased() == name }) {
            throw ConfigError("\(Self.listenerPrefix)\(name.lowercased()).*: listeners has no listener named \(name)")
        }
        for listener in listeners {
            let scoped = security(for: listener)
            let named = listenerSecurityOverrides[listener.name.uppercased()] == nil ? "" : " (listener \(listener.name))"
            if listener.securityProtocol.usesTLS && scoped.keystoreLocation == nil {
                throw ConfigError("a TLS listener (SSL or SASL_SSL) needs ssl.keystore.location (a PEM file with certificate and key)\(named)")
            }
            if listener.securityProtocol.usesSASL && scoped.saslEnabledMechanisms.isEmpty {
                throw ConfigError("a SASL listener needs at least one mechanism in sasl.enabled.mechanisms\(named)")
            }
            if scoped.clientAuth != .none && scoped.truststoreLocation == nil {
                throw ConfigError("ssl.client.auth=\(scoped.clientAuth.rawValue) needs ssl.truststore.location (the CA certificates of clients)\(named)")
            }
        }
    }
}

/// A configuration value that cannot be used; the message says which and why.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension StringProtocol {
    /// Trimmed as Kafka trims settings and list entries (``JavaProperties/trimmed(_:)``).
    var trimmed: String { JavaProperties.trimmed(self) }
}

import NIOCore

extension System {
    /// One event loop per core, at least one.
    public static var coreCountForBroker: Int { max(1, System.coreCount) }
}
