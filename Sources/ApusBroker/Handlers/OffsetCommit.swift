import ApusProtocol
import ApusSecurity
import ApusStorage
import NIOCore

/// OffsetCommit (key 8): stores a group's committed offsets in `__consumer_offsets` and answers
/// once the records are in the log. Per partition: metadata over `offset.metadata.max.bytes`
/// gets OFFSET_METADATA_TOO_LARGE and an unknown partition UNKNOWN_TOPIC_OR_PARTITION; the
/// group's checks (member, generation, state) apply to all. v0 (no generation) commits as a
/// non-member (generation -1). A retention time (v2-4, other than -1) sets when the offsets
/// expire, instead of `offsets.retention.minutes`, as in Kafka.
enum OffsetCommitHandler: APIHandler {
    typealias Request = OffsetCommitRequest
    static let versions: ClosedRange<Int16> = 0...8

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<OffsetCommitResponse?> {
        let version = context.apiVersion
        let groups = context.broker.groups
        let now = currentTimeMillis()
        let expireTimestamp = (2...4).contains(version) && request.retentionTimeMs != -1 ? now &+ request.retentionTimeMs : nil
        var partitionErrors: [[KafkaErrorCode?]] = []
        var offsets: [TopicPartition: CommittedOffset] = [:]
        let groupAllowed = context.isAuthorized(.read, .group, request.groupId)
        for topic in request.topics {
            let topicAllowed = context.isAuthorized(.read, .topic, topic.name)
            partitionErrors.append(topic.partitions.map { partition in
                guard groupAllowed else { return .groupAuthorizationFailed }
                guard topicAllowed else { return .topicAuthorizationFailed }
                if (partition.committedMetadata?.utf8.count ?? 0) > groups.config.offsetMetadataMaxBytes { return .offsetMetadataTooLarge }
                guard context.broker.topics.partition(topic.name, partition.partitionIndex) != nil else { return .unknownTopicOrPartition }
                offsets[TopicPartition(topic: topic.name, partition: partition.partitionIndex)] = CommittedOffset(
                    offset: partition.committedOffset, leaderEpoch: version >= 6 ? partition.committedLeaderEpoch : -1,
                    metadata: partition.committedMetadata ?? "", commitTimestamp: now, expireTimestamp: expireTimestamp)
                return nil
            })
        }
        let errors = partitionErrors
        guard groupAllowed else {
            return context.eventLoop.makeSucceededFuture(OffsetCommitResponse(topics: zip(request.topics, errors).map { topic, errors in
                .init(name: topic.name, partitions: zip(topic.partitions, errors).map { partition, error in
                    .init(partitionIndex: partition.partitionIndex, errorCode: (error ?? .noError).rawValue)
                })
            }))
        }
        return groups.commitOffsets(
            groupId: request.groupId, generationId: version >= 1 ? request.generationIdOrMemberEpoch : -1,
            memberId: version >= 1 ? request.memberId : "", groupInstanceId: version >= 7 ? request.groupInstanceId : nil,
            offsets: offsets
        ).hop(to: context.eventLoop).map { groupError in
            OffsetCommitResponse(topics: zip(request.topics, errors).map { topic, errors in
                .init(name: topic.name, partitions: zip(topic.partitions, errors).map { partition, error in
                    .init(partitionIndex: partition.partitionIndex, errorCode: (groupError != .noError ? groupError : error ?? .noError).rawValue)
                })
            })
        }
    }
}
