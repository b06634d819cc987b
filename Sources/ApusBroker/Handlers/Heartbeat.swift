import ApusProtocol
import ApusSecurity
import NIOCore

/// Heartbeat (key 12): keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.
enum HeartbeatHandler: APIHandler {
    typealias Request = HeartbeatRequest
    static let versions: ClosedRange<Int16> = 0...4

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<HeartbeatResponse?> {
        guard context.isAuthorized(.read, .group, request.groupId) else {
            return context.eventLoop.makeSucceededFuture(HeartbeatResponse(errorCode: KafkaErrorCode.groupAuthorizationFailed.rawValue))
        }
        return context.broker.groups.heartbeat(
            groupId: request.groupId, generationId: request.generationId, memberId: request.memberId,
            groupInstanceId: context.apiVersion >= 3 ? request.groupInstanceId : nil
        ).hop(to: context.eventLoop).map { HeartbeatResponse(errorCode: $0.rawValue) }
    }
}
