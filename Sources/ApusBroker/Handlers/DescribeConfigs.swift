import ApusProtocol
import ApusSecurity
import ApusStorage
import NIOCore

/// DescribeConfigs (key 32): a topic's effective configuration (overrides and defaults), or
/// the broker's.
enum DescribeConfigsHandler: APIHandler {
    typealias Request = DescribeConfigsRequest
    static let versions: ClosedRange<Int16> = 0...4

    /// Kafka's resource types and config sources.
    static let topicResource: Int8 = 2
    static let brokerResource: Int8 = 4
    static let sourceTopic: Int8 = 1
    static let sourceStaticBroker: Int8 = 4
    static let sourceDefault: Int8 = 5

    struct Entry {
        var name: String
        var value: String?
        var configSource: Int8
        var configType: Int8
    }

    /// A topic's effective configs: every LogConfig property, marked as override or default.
    static func topicEntries(config: LogConfig, overrides: [String: String]) -> [Entry] {
        var values = config.properties
        for (name, fixed) in TopicManager.fixedConfigs { values[name] = overrides[name] ?? fixed.default }
        return values.sorted { $0.key < $1.key }.map { name, value in
            Entry(
                name: name, value: value, configSource: overrides[name] != nil ? sourceTopic : sourceDefault,
                configType: Int64(value) == nil ? 2 : 5)  // STRING or LONG
        }
    }

    static func brokerEntries(_ context: BrokerContext) -> [Entry] {
        let config = context.config
        let listeners = config.listeners.map { "\($0.name)://\($0.host):\(context.boundPort(of: $0.name) ?? $0.port)" }
        let advertised = config.listeners.map { listener in
            let (host, port) = context.advertisedAddress(of: listener)
            return "\(listener.name)://\(host):\(port)"
        }
        let values: [(String, String)] = [
            ("node.id", "\(config.nodeId)"), ("log.dirs", config.dataDirectory),
            ("listeners", listeners.joined(separator: ",")),
            ("advertised.listeners", advertised.joined(separator: ",")),
            ("sasl.enabled.mechanisms", config.security.saslEnabledMechanisms.map(\.rawValue).joined(separator: ",")),
            ("allow.everyone.if.no.acl.found", "\(config.security.allowEveryoneIfNoAclFound)"),
            ("num.partitions", "\(config.numPartitions)"), ("auto.create.topics.enable", "\(config.autoCreateTopics)"),
            ("message.max.bytes", "\(config.messageMaxBytes)"), ("socket.request.max.bytes", "\(config.socketRequestMaxBytes)"),
            ("log.segment.bytes", "\(config.logDefaults.segmentBytes)"), ("log.retention.ms", "\(config.logDefaults.retentionMs)"),
            ("log.retention.bytes", "\(config.logDefaults.retentionBytes)"),
            ("log.flush.interval.messages", "\(config.logDefaults.flushMessages)"),
            ("log.flush.interval.ms", "\(config.logDefaults.flushMs)"),
            ("apus.log.writeback.bytes", "\(config.logDefaults.writebackBytes)"),
            ("offsets.retention.minutes", "\(config.groupCoordinator.offsetsRetentionMs / 60_000)"),
        ]
        // Each listener's own settings, passwords left out as the broker-wide ones are.
        let listenerValues = config.listenerSecurityOverrides.sorted { $0.key < $1.key }.flatMap { listener, settings in
            let latest = Dictionary(settings.map { ($0.property, $0.value) }, uniquingKeysWith: { _, later in later })
            return latest.filter { !$0.key.hasSuffix(".password") }.sorted { $0.key < $1.key }
                .map { ("\(BrokerConfig.listenerPrefix)\(listener.lowercased()).\($0.key)", $0.value) }
        }
        return (values + listenerValues).map { Entry(name: $0.0, value: $0.1, configSource: sourceStaticBroker, configType: 2) }
    }

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<DescribeConfigsResponse?> {
        let version = context.apiVersion
        let results = request.resources.map { resource -> DescribeConfigsResponse.DescribeConfigsResult in
            var result = DescribeConfigsResponse.DescribeConfigsResult(
                errorCode: 0, resourceType: resource.resourceType, resourceName: resource.resourceName)
            let entries: [Entry]
            switch resource.resourceType {
            case topicResource:
                guard context.isAuthorized(.describeConfigs, .topic, resource.resourceName) else {
                    result.errorCode = KafkaErrorCode.topicAuthorizationFailed.rawValue
                    return result
                }
                guard let topic = context.broker.topics.topic(resource.resourceName) else {
                    result.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                    result.errorMessage = "topic '\(resource.resourceName)' does not exist"
                    return result
                }
                entries = topicEntries(config: topic.config, overrides: topic.overrides)
            case brokerResource:
                guard context.isAuthorizedOnCluster(.describeConfigs) else {
                    result.errorCode = KafkaErrorCode.clusterAuthorizationFailed.rawValue
                    return result
                }
                guard resource.resourceName.isEmpty || resource.resourceName == "\(context.broker.config.nodeId)" else {
                    result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                    result.errorMessage = "broker \(resource.resourceName) is not this broker"
                    return result
                }
                entries = brokerEntries(context.broker)
            default:
                result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                result.errorMessage = "resource type \(resource.resourceType) is not supported"
                return result
            }
            let wanted = resource.configurationKeys.map(Set.init)
            result.configs = entries.filter { wanted?.contains($0.name) ?? true }.map { entry in
                .init(
                    name: entry.name, value: entry.value, readOnly: resource.resourceType == brokerResource,
                    isDefault: entry.configSource == sourceDefault, configSource: entry.configSource, isSensitive: false,
                    synonyms: request.includeSynonyms && version >= 1
                        ? [.init(name: entry.name, value: entry.value, source: entry.configSource)] : [],
                    configType: entry.configType, documentation: nil)
            }
            return result
        }
        return context.eventLoop.makeSucceededFuture(DescribeConfigsResponse(results: results))
    }
}
