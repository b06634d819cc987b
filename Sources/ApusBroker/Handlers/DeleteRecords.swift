import ApusProtocol
import ApusSecurity
import NIOCore

/// DeleteRecords (key 21): moves partitions' log start offsets up (offset -1 means the high
/// watermark) and deletes the segments wholly below them. Needs Delete on the topic.
enum DeleteRecordsHandler: APIHandler {
    typealias Request = DeleteRecordsRequest
    static let versions: ClosedRange<Int16> = 0...2

    typealias Result = DeleteRecordsResponse.DeleteRecordsPartitionResult

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<DeleteRecordsResponse?> {
        let topicFutures = request.topics.map { topic -> EventLoopFuture<DeleteRecordsResponse.DeleteRecordsTopicResult> in
            let deletable = context.isAuthorized(.delete, .topic, topic.name)
            let partitions = topic.partitions.map { requested -> EventLoopFuture<Result> in
                guard deletable else {
                    return context.eventLoop.makeSucceededFuture(Result(
                        partitionIndex: requested.partitionIndex, lowWatermark: -1, errorCode: KafkaErrorCode.topicAuthorizationFailed.rawValue))
                }
                guard let partition = context.broker.topics.partition(topic.name, requested.partitionIndex) else {
                    return context.eventLoop.makeSucceededFuture(Result(
                        partitionIndex: requested.partitionIndex, lowWatermark: -1, errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue))
                }
                let offset = requested.offset
                return partition.execute { log in
                    try log.deleteRecords(before: offset == -1 ? log.highWatermark : offset)
                }.map { Result(partitionIndex: requested.partitionIndex, lowWatermark: $0, errorCode: 0) }
                .recover { Result(partitionIndex: requested.partitionIndex, lowWatermark: -1, errorCode: kafkaError($0).code.rawValue) }
            }
            return EventLoopFuture.whenAllSucceed(partitions, on: context.eventLoop).map { .init(name: topic.name, partitions: $0) }
        }
        return EventLoopFuture.whenAllSucceed(topicFutures, on: context.eventLoop).map { DeleteRecordsResponse(topics: $0) }
    }
}
