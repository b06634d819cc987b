import ApusProtocol
import NIOCore

/// DeleteGroups (key 42): removes Empty groups and their committed offsets (tombstones in
/// `__consumer_offsets`); GROUP_ID_NOT_FOUND for an unknown group, NON_EMPTY_GROUP for one
/// with members.
enum DeleteGroupsHandler: APIHandler {
    typealias Request = DeleteGroupsRequest
    static let versions: ClosedRange<Int16> = 0...2

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<DeleteGroupsResponse?> {
        context.broker.groups.delete(groupIds: request.groupsNames).hop(to: context.eventLoop).map { errors in
            DeleteGroupsResponse(results: zip(request.groupsNames, errors).map { .init(groupId: $0, errorCode: $1.rawValue) })
        }
    }
}
