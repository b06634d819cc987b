import ApusProtocol
import ApusSecurity
import NIOCore

/// DescribeGroups (key 15): state, protocol type, chosen protocol and members of each group;
/// member metadata and assignments only in Stable. An unknown group is "Dead" with error 0, as
/// Kafka answers. When asked (v3+, KIP-430), each group carries the operations the client may do
/// on it.
enum DescribeGroupsHandler: APIHandler {
    typealias Request = DescribeGroupsRequest
    static let versions: ClosedRange<Int16> = 0...5

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<DescribeGroupsResponse?> {
        let allowed = request.groups.filter { context.isAuthorized(.describe, .group, $0) }
        return context.broker.groups.describe(groupIds: allowed).hop(to: context.eventLoop).map { described in
            let byId = Dictionary(described.map { ($0.groupId, $0) }, uniquingKeysWith: { first, _ in first })
            return DescribeGroupsResponse(groups: request.groups.map { groupId in
                guard var group = byId[groupId] else {
                    return .init(errorCode: KafkaErrorCode.groupAuthorizationFailed.rawValue, groupId: groupId)
                }
                if request.includeAuthorizedOperations {
                    group.authorizedOperations = context.authorizedOperations(.group, groupId)
                }
                return group
            })
        }
    }
}
