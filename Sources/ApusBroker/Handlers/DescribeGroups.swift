import ApusProtocol
import NIOCore

/// DescribeGroups (key 15): state, protocol type, chosen protocol and members of each group;
/// member metadata and assignments only in Stable. An unknown group is "Dead" with error 0, as
/// Kafka answers.
enum DescribeGroupsHandler: APIHandler {
    typealias Request = DescribeGroupsRequest
    static let versions: ClosedRange<Int16> = 0...5

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<DescribeGroupsResponse?> {
        context.broker.groups.describe(groupIds: request.groups).hop(to: context.eventLoop).map { DescribeGroupsResponse(groups: $0) }
    }
}
