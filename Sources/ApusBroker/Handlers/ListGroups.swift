import ApusProtocol
import ApusSecurity
import NIOCore

/// ListGroups (key 16): every group with its protocol type; v4+ filter by state, v5+ by type
/// (all groups here are "classic").
enum ListGroupsHandler: APIHandler {
    typealias Request = ListGroupsRequest
    static let versions: ClosedRange<Int16> = 0...5

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<ListGroupsResponse?> {
        let version = context.apiVersion
        return context.broker.groups.list(states: version >= 4 ? request.statesFilter : [], types: version >= 5 ? request.typesFilter : [])
            .hop(to: context.eventLoop).map { error, groups in
                // Describe on the cluster lists every group; otherwise those the client may Describe.
                let visible = context.isAuthorizedOnCluster(.describe) ? groups : groups.filter { context.isAuthorized(.describe, .group, $0.groupId) }
                return ListGroupsResponse(errorCode: error.rawValue, groups: visible)
            }
    }
}
