import ApusProtocol
import ApusSecurity
import NIOCore

/// CreatePartitions (key 37): grows topics to a larger partition count. Needs Alter on the topic.
enum CreatePartitionsHandler: APIHandler {
    typealias Request = CreatePartitionsRequest
    static let versions: ClosedRange<Int16> = 0...3

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<CreatePartitionsResponse?> {
        let nodeId = context.broker.config.nodeId
        let futures = request.topics.map { topic -> EventLoopFuture<CreatePartitionsResponse.CreatePartitionsTopicResult> in
            guard context.isAuthorized(.alter, .topic, topic.name) else {
                return context.eventLoop.makeSucceededFuture(.init(name: topic.name, errorCode: KafkaErrorCode.topicAuthorizationFailed.rawValue))
            }
            if let assignments = topic.assignments, !assignments.allSatisfy({ $0.brokerIds == [nodeId] }) {
                return context.eventLoop.makeSucceededFuture(.init(
                    name: topic.name, errorCode: KafkaErrorCode.invalidReplicaAssignment.rawValue,
                    errorMessage: "new partitions can only be placed on broker \(nodeId)"))
            }
            return context.broker.topics.createPartitions(name: topic.name, total: topic.count, validateOnly: request.validateOnly)
                .hop(to: context.eventLoop)
                .map { .init(name: topic.name, errorCode: 0) }
                .recover { error in
                    let (code, message) = kafkaError(error)
                    return .init(name: topic.name, errorCode: code.rawValue, errorMessage: message)
                }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: context.eventLoop).map { CreatePartitionsResponse(results: $0) }
    }
}
