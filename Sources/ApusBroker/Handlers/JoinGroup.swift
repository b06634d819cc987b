import ApusProtocol
import ApusSecurity
import NIOCore

/// JoinGroup (key 11): joins (or rejoins) a classic group and waits for the rebalance to
/// complete. v4+ gives an unknown member MEMBER_ID_REQUIRED with its id first (KIP-394); v5+
/// carries group.instance.id for static members; v0 has no rebalance timeout (the session
/// timeout is used). Only the leader gets the member list.
enum JoinGroupHandler: APIHandler {
    typealias Request = JoinGroupRequest
    static let versions: ClosedRange<Int16> = 0...7

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<JoinGroupResponse?> {
        let version = context.apiVersion
        guard context.isAuthorized(.read, .group, request.groupId) else {
            return context.eventLoop.makeSucceededFuture(GroupStateMachine.joinError(.groupAuthorizationFailed, memberId: request.memberId))
        }
        let parameters = JoinParameters(
            groupId: request.groupId, memberId: request.memberId, groupInstanceId: version >= 5 ? request.groupInstanceId : nil,
            clientId: context.clientId, clientHost: context.memberClientHost, sessionTimeoutMs: request.sessionTimeoutMs,
            rebalanceTimeoutMs: version >= 1 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs,
            protocolType: request.protocolType,
            protocols: request.protocols.map { .init(name: $0.name, metadata: $0.metadata) },
            requireKnownMemberId: version >= 4)
        return context.broker.groups.join(parameters).hop(to: context.eventLoop).map { $0 }
    }
}
