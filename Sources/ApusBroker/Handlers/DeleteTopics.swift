import ApusProtocol
import ApusSecurity
import NIOCore

/// DeleteTopics (key 20): deletes topics and their logs, by name. Needs Delete on the topic.
enum DeleteTopicsHandler: APIHandler {
    typealias Request = DeleteTopicsRequest
    static let versions: ClosedRange<Int16> = 0...4

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<DeleteTopicsResponse?> {
        let names = request.topicNames + request.topics.compactMap(\.name)
        let futures = names.map { name -> EventLoopFuture<DeleteTopicsResponse.DeletableTopicResult> in
            guard context.isAuthorized(.delete, .topic, name) else {
                return context.eventLoop.makeSucceededFuture(.init(name: name, errorCode: KafkaErrorCode.topicAuthorizationFailed.rawValue))
            }
            return context.broker.topics.deleteTopic(name: name).hop(to: context.eventLoop).map {
                .init(name: name, errorCode: 0)
            }.recover { error in
                let (code, message) = kafkaError(error)
                return .init(name: name, errorCode: code.rawValue, errorMessage: message)
            }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: context.eventLoop).map { DeleteTopicsResponse(responses: $0) }
    }
}
