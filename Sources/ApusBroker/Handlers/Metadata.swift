import ApusProtocol
import ApusSecurity
import NIOCore

/// Metadata (key 3): this broker as the only broker, controller and leader of every partition.
/// Unknown topics are auto-created when `auto.create.topics.enable` and the request allow it;
/// while that runs they are reported as LEADER_NOT_AVAILABLE.
///
/// Authorization: listing all topics shows those the client may Describe; a named topic it
/// may not Describe answers TOPIC_AUTHORIZATION_FAILED, whether it exists or not; auto-creation
/// needs Create on the cluster or the topic. When asked (v8+, KIP-430), each topic, and the
/// cluster (v8-10), carries the operations the client may do on it.
enum MetadataHandler: APIHandler {
    typealias Request = MetadataRequest
    static let versions: ClosedRange<Int16> = 0...12

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<MetadataResponse?> {
        let broker = context.broker
        let topics = broker.topics
        // v0: an empty list means all topics; v1+: null means all, empty means none.
        let requested: [String]?
        if context.apiVersion == 0 && request.topics?.isEmpty == true {
            requested = nil
        } else {
            requested = request.topics?.map { topic in
                topic.name ?? topics.allTopics.first(where: { $0.topicId == topic.topicId })?.name ?? ""
            }
        }
        let allowCreate = broker.config.autoCreateTopics && (context.apiVersion < 4 || request.allowAutoTopicCreation)
        var creations: [EventLoopFuture<Void>] = []
        let mayCreateAny = context.isAuthorizedOnCluster(.create)
        var createDenied: Set<String> = []
        if let requested {
            for name in Set(requested) where topics.topic(name) == nil && !topics.isBusy(name) && allowCreate
                && name != OffsetsTopic.name && (try? TopicManager.validateName(name)) != nil
                && context.isAuthorized(.describe, .topic, name)
            {
                guard mayCreateAny || context.isAuthorized(.create, .topic, name) else {
                    createDenied.insert(name)
                    continue
                }
                creations.append(
                    topics.createTopic(name: name, partitions: broker.config.numPartitions, overrides: [:])
                        .map { _ in () }
                        .recover { error in
                            context.logger.warning("auto-creating topic failed", metadata: ["topic": "\(name)", "error": "\(error)"])
                        })
            }
        }
        let denied = createDenied
        return EventLoopFuture.andAllComplete(creations, on: context.eventLoop).map {
            var response = makeResponse(requested: requested, context: context, autoCreating: allowCreate, createDenied: denied)
            if request.includeTopicAuthorizedOperations {
                for index in response.topics.indices where response.topics[index].errorCode == KafkaErrorCode.noError.rawValue {
                    response.topics[index].topicAuthorizedOperations = context.authorizedOperations(.topic, response.topics[index].name ?? "")
                }
            }
            if request.includeClusterAuthorizedOperations {
                response.clusterAuthorizedOperations = context.authorizedOperations(.cluster, BrokerSecurity.clusterResourceName)
            }
            return response
        }
    }

    static func makeResponse(
        requested: [String]?, context: RequestContext, autoCreating: Bool, createDenied: Set<String> = []
    ) -> MetadataResponse {
        let broker = context.broker
        let (host, port) = context.advertisedAddress
        let nodeId = broker.config.nodeId
        var response = MetadataResponse(
            brokers: [.init(nodeId: nodeId, host: host, port: Int32(port), rack: nil)],
            clusterId: broker.clusterId, controllerId: nodeId)
        let names = requested ?? broker.topics.allTopics.map(\.name).filter { context.isAuthorized(.describe, .topic, $0) }
        for name in names {
            guard requested == nil || (context.isAuthorized(.describe, .topic, name) && !createDenied.contains(name)) else {
                response.topics.append(.init(errorCode: KafkaErrorCode.topicAuthorizationFailed.rawValue, name: name))
                continue
            }
            guard let topic = broker.topics.topic(name) else {
                let code: KafkaErrorCode
                if (try? TopicManager.validateName(name)) == nil {
                    code = .invalidTopicException
                } else if broker.topics.isBusy(name) {
                    code = .leaderNotAvailable
                } else {
                    code = .unknownTopicOrPartition
                }
                response.topics.append(.init(errorCode: code.rawValue, name: name))
                continue
            }
            response.topics.append(.init(
                errorCode: KafkaErrorCode.noError.rawValue, name: name, topicId: topic.topicId, isInternal: name == OffsetsTopic.name,
                partitions: topic.partitions.indices.map { index in
                    .init(
                        errorCode: KafkaErrorCode.noError.rawValue, partitionIndex: Int32(index), leaderId: nodeId,
                        leaderEpoch: 0, replicaNodes: [nodeId], isrNodes: [nodeId], offlineReplicas: [])
                }))
        }
        return response
    }
}
