import ApusProtocol
import ApusSecurity
import ApusStorage
import NIOCore

/// ListOffsets (key 2): earliest (-2), latest (-1), the record with the largest timestamp (-3,
/// v7), or the first offset whose timestamp is at or after a given time (from the time index).
enum ListOffsetsHandler: APIHandler {
    typealias Request = ListOffsetsRequest
    static let versions: ClosedRange<Int16> = 0...7

    typealias PartitionResponse = ListOffsetsResponse.ListOffsetsPartitionResponse

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<ListOffsetsResponse?> {
        let version = context.apiVersion
        let topicFutures = request.topics.map { topic -> EventLoopFuture<ListOffsetsResponse.ListOffsetsTopicResponse> in
            let describable = context.isAuthorized(.describe, .topic, topic.name)
            let partitions = topic.partitions.map { requested -> EventLoopFuture<PartitionResponse> in
                guard describable else {
                    return context.eventLoop.makeSucceededFuture(.init(
                        partitionIndex: requested.partitionIndex, errorCode: KafkaErrorCode.topicAuthorizationFailed.rawValue,
                        timestamp: -1, offset: -1, leaderEpoch: -1))
                }
                guard let partition = context.broker.topics.partition(topic.name, requested.partitionIndex) else {
                    return context.eventLoop.makeSucceededFuture(.init(
                        partitionIndex: requested.partitionIndex, errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue,
                        timestamp: -1, offset: -1, leaderEpoch: -1))
                }
                let timestamp = requested.timestamp
                return partition.execute { log -> (Int64, Int64) in
                    switch timestamp {
                    case -1: return (-1, log.highWatermark)
                    case -2: return (-1, log.logStartOffset)
                    case -3:
                        guard let found = try log.maxTimestampAndOffset() else { return (-1, -1) }
                        return (found.timestamp, found.offset)
                    default:
                        guard let found = try log.offset(forTimestamp: timestamp) else { return (-1, -1) }
                        return (found.timestamp, found.offset)
                    }
                }.map { (time, offset) in
                    PartitionResponse(
                        partitionIndex: requested.partitionIndex, errorCode: 0,
                        oldStyleOffsets: version == 0 && offset >= 0 ? [offset] : [],
                        timestamp: time, offset: offset, leaderEpoch: 0)
                }.recover { error in
                    PartitionResponse(
                        partitionIndex: requested.partitionIndex, errorCode: kafkaError(error).code.rawValue,
                        timestamp: -1, offset: -1, leaderEpoch: -1)
                }
            }
            return EventLoopFuture.whenAllSucceed(partitions, on: context.eventLoop).map {
                .init(name: topic.name, partitions: $0)
            }
        }
        return EventLoopFuture.whenAllSucceed(topicFutures, on: context.eventLoop).map { ListOffsetsResponse(topics: $0) }
    }
}
