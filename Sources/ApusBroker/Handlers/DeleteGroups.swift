import ApusProtocol
import ApusSecurity
import NIOCore

/// DeleteGroups (key 42): removes Empty groups and their committed offsets (tombstones in
/// `__consumer_offsets`); GROUP_ID_NOT_FOUND for an unknown group, NON_EMPTY_GROUP for one
/// with members.
enum DeleteGroupsHandler: APIHandler {
    typealias Request = DeleteGroupsRequest
    static let versions: ClosedRange<Int16> = 0...2

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<DeleteGroupsResponse?> {
        let allowed = request.groupsNames.filter { context.isAuthorized(.delete, .group, $0) }
        return context.broker.groups.delete(groupIds: allowed).hop(to: context.eventLoop).map { errors in
            let byId = Dictionary(zip(allowed, errors), uniquingKeysWith: { first, _ in first })
            return DeleteGroupsResponse(results: request.groupsNames.map { groupId in
                .init(groupId: groupId, errorCode: (byId[groupId] ?? .groupAuthorizationFailed).rawValue)
            })
        }
    }
}
