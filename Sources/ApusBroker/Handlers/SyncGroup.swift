import ApusProtocol
import ApusSecurity
import NIOCore

/// SyncGroup (key 14): the leader hands in the assignment; every member waits for its share.
/// v5+ checks the protocol type and name against the group's.
enum SyncGroupHandler: APIHandler {
    typealias Request = SyncGroupRequest
    static let versions: ClosedRange<Int16> = 0...5

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<SyncGroupResponse?> {
        let version = context.apiVersion
        guard context.isAuthorized(.read, .group, request.groupId) else {
            return context.eventLoop.makeSucceededFuture(SyncGroupResponse(errorCode: KafkaErrorCode.groupAuthorizationFailed.rawValue))
        }
        var assignments: [String: ByteBuffer] = [:]
        for assignment in request.assignments { assignments[assignment.memberId] = assignment.assignment }
        let parameters = SyncParameters(
            groupId: request.groupId, generationId: request.generationId, memberId: request.memberId,
            groupInstanceId: version >= 3 ? request.groupInstanceId : nil,
            protocolType: version >= 5 ? request.protocolType : nil, protocolName: version >= 5 ? request.protocolName : nil,
            assignments: assignments)
        return context.broker.groups.sync(parameters).hop(to: context.eventLoop).map { $0 }
    }
}
