import ApusProtocol
import ApusSecurity
import NIOCore

/// LeaveGroup (key 13): members leave and the group rebalances. v0-2 name one member (its error
/// is the top-level error); v3+ a batch, possibly by group.instance.id only, with one error each.
enum LeaveGroupHandler: APIHandler {
    typealias Request = LeaveGroupRequest
    static let versions: ClosedRange<Int16> = 0...4

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<LeaveGroupResponse?> {
        let batched = context.apiVersion >= 3
        guard context.isAuthorized(.read, .group, request.groupId) else {
            return context.eventLoop.makeSucceededFuture(LeaveGroupResponse(errorCode: KafkaErrorCode.groupAuthorizationFailed.rawValue))
        }
        let members: [(memberId: String, groupInstanceId: String?)] =
            batched ? request.members.map { ($0.memberId, $0.groupInstanceId) } : [(request.memberId, nil)]
        return context.broker.groups.leave(groupId: request.groupId, members: members).hop(to: context.eventLoop).map { topLevel, errors in
            guard batched else { return LeaveGroupResponse(errorCode: (errors.first ?? topLevel).rawValue) }
            return LeaveGroupResponse(
                errorCode: topLevel.rawValue,
                members: topLevel == .noError
                    ? zip(members, errors).map { .init(memberId: $0.0.memberId, groupInstanceId: $0.0.groupInstanceId, errorCode: $0.1.rawValue) }
                    : [])
        }
    }
}
