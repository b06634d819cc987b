import ApusProtocol
import ApusSecurity
import ApusStorage
import NIOCore

/// OffsetFetch (key 9): a group's committed offsets; -1 (with no error) for a partition without
/// one, and for every partition of an unknown group. v2+ accept null topics for all committed
/// offsets; v8 asks for several groups at once. RequireStable (v7+) needs nothing here: without
/// transactions no offset is ever pending.
enum OffsetFetchHandler: APIHandler {
    typealias Request = OffsetFetchRequest
    static let versions: ClosedRange<Int16> = 0...8

    /// One group's answer: the group-level error and the offsets by topic.
    struct GroupOffsets: Sendable {
        var error: KafkaErrorCode
        var topics: [(name: String, partitions: [(index: Int32, offset: CommittedOffset?)])]
    }

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<OffsetFetchResponse?> {
        if context.apiVersion >= 8 {
            let lookups = request.groups.map { group in
                fetch(group.groupId, requested: group.topics?.map { ($0.name, $0.partitionIndexes) }, context: context)
            }
            return EventLoopFuture.whenAllSucceed(lookups, on: context.eventLoop).map { results in
                OffsetFetchResponse(groups: zip(request.groups, results).map { group, result in
                    .init(groupId: group.groupId, topics: result.topics.map { topic in
                        .init(name: topic.name, partitions: topic.partitions.map { partition in
                            .init(
                                partitionIndex: partition.index, committedOffset: partition.offset?.offset ?? -1,
                                committedLeaderEpoch: partition.offset?.leaderEpoch ?? -1, metadata: partition.offset?.metadata ?? "",
                                errorCode: 0)
                        })
                    }, errorCode: result.error.rawValue)
                })
            }
        }
        let perPartitionErrors = context.apiVersion < 2
        return fetch(request.groupId, requested: request.topics?.map { ($0.name, $0.partitionIndexes) }, context: context).map { result in
            OffsetFetchResponse(topics: result.topics.map { topic in
                .init(name: topic.name, partitions: topic.partitions.map { partition in
                    .init(
                        partitionIndex: partition.index, committedOffset: partition.offset?.offset ?? -1,
                        committedLeaderEpoch: partition.offset?.leaderEpoch ?? -1, metadata: partition.offset?.metadata ?? "",
                        errorCode: perPartitionErrors ? result.error.rawValue : 0)
                })
            }, errorCode: result.error.rawValue)
        }
    }

    /// The offsets of `requested` (topic, partitions), or of every committed partition when nil.
    /// Needs Describe on the group (GROUP_AUTHORIZATION_FAILED); topics the client may not
    /// Describe are left out of "all topics" and answer no offset when named.
    static func fetch(_ groupId: String, requested: [(String, [Int32])]?, context: RequestContext) -> EventLoopFuture<GroupOffsets> {
        guard context.isAuthorized(.describe, .group, groupId) else {
            return context.eventLoop.makeSucceededFuture(GroupOffsets(
                error: .groupAuthorizationFailed, topics: (requested ?? []).map { name, indexes in (name, indexes.map { ($0, nil) }) }))
        }
        return context.broker.groups.committedOffsets(groupId: groupId).hop(to: context.eventLoop).map { error, committed in
            if let requested {
                return GroupOffsets(error: error, topics: requested.map { name, indexes in
                    let visible = context.isAuthorized(.describe, .topic, name)
                    return (name, indexes.map { ($0, visible ? committed[TopicPartition(topic: name, partition: $0)] : nil) })
                })
            }
            let byTopic = Dictionary(grouping: committed.keys.sorted(), by: \.topic).filter { context.isAuthorized(.describe, .topic, $0.key) }
            return GroupOffsets(error: error, topics: byTopic.keys.sorted().map { name in
                (name, byTopic[name]!.map { ($0.partition, committed[$0]) })
            })
        }
    }
}
