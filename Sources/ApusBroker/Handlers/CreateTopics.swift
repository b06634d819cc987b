import ApusProtocol
import ApusSecurity
import NIOCore

/// CreateTopics (key 19): creates topics with their partition counts and config overrides.
/// With one broker, a replication factor above 1 is INVALID_REPLICATION_FACTOR; explicit
/// assignments must name this broker only. Needs Create on the cluster or on the topic.
enum CreateTopicsHandler: APIHandler {
    typealias Request = CreateTopicsRequest
    static let versions: ClosedRange<Int16> = 0...5

    typealias Result = CreateTopicsResponse.CreatableTopicResult

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<CreateTopicsResponse?> {
        let broker = context.broker
        let names = request.topics.map(\.name)
        let mayCreateAny = context.isAuthorizedOnCluster(.create)
        let futures = request.topics.map { topic -> EventLoopFuture<Result> in
            func failed(_ code: KafkaErrorCode, _ message: String) -> EventLoopFuture<Result> {
                context.eventLoop.makeSucceededFuture(Result(name: topic.name, errorCode: code.rawValue, errorMessage: message, numPartitions: -1, replicationFactor: -1))
            }
            guard mayCreateAny || context.isAuthorized(.create, .topic, topic.name) else {
                return failed(.topicAuthorizationFailed, "not authorized to create topic '\(topic.name)'")
            }
            if names.filter({ $0 == topic.name }).count > 1 {
                return failed(.invalidRequest, "topic '\(topic.name)' appears more than once in the request")
            }
            var partitions = topic.numPartitions == -1 ? broker.config.numPartitions : topic.numPartitions
            if !topic.assignments.isEmpty {
                guard topic.numPartitions == -1, topic.replicationFactor == -1 else {
                    return failed(.invalidRequest, "give either assignments or partitions and replication factor")
                }
                let indices = topic.assignments.map(\.partitionIndex).sorted()
                guard indices == Array(0..<Int32(indices.count)),
                    topic.assignments.allSatisfy({ $0.brokerIds == [broker.config.nodeId] })
                else { return failed(.invalidReplicaAssignment, "assignments must cover partitions 0..n-1 on broker \(broker.config.nodeId) only") }
                partitions = Int32(indices.count)
            }
            if topic.replicationFactor != -1 && topic.replicationFactor != 1 {
                return failed(.invalidReplicationFactor, "replication factor \(topic.replicationFactor) is larger than the 1 available broker")
            }
            var overrides: [String: String] = [:]
            for config in topic.configs {
                guard let value = config.value else { continue }
                overrides[config.name] = value
            }
            let (partitionCount, configOverrides) = (partitions, overrides)  // immutable copies for the closure below
            let validated: EventLoopFuture<Void>
            if request.validateOnly {
                do {
                    _ = try broker.topics.validateCreation(name: topic.name, partitions: partitions, overrides: overrides)
                    validated = context.eventLoop.makeSucceededVoidFuture()
                } catch {
                    validated = context.eventLoop.makeFailedFuture(error)
                }
            } else {
                validated = broker.topics.createTopic(name: topic.name, partitions: partitions, overrides: overrides).map { _ in () }
            }
            return validated.hop(to: context.eventLoop).map {
                let created = broker.topics.topic(topic.name)
                let config = created?.config ?? broker.config.logDefaults
                return Result(
                    name: topic.name, topicId: created?.topicId ?? .zero, errorCode: 0, errorMessage: nil,
                    numPartitions: partitionCount, replicationFactor: 1,
                    configs: DescribeConfigsHandler.topicEntries(config: config, overrides: configOverrides).map {
                        .init(name: $0.name, value: $0.value, readOnly: false, configSource: $0.configSource, isSensitive: false)
                    })
            }.recover { error in
                let (code, message) = kafkaError(error)
                return Result(name: topic.name, errorCode: code.rawValue, errorMessage: message, numPartitions: -1, replicationFactor: -1)
            }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: context.eventLoop).map { CreateTopicsResponse(topics: $0) }
    }
}
