import ApusProtocol
import ApusSecurity
import NIOCore

/// DescribeAcls (key 29): the bindings a filter matches, grouped by resource. Needs Describe
/// on the cluster; SECURITY_DISABLED without an authorizer.
enum DescribeAclsHandler: APIHandler {
    typealias Request = DescribeAclsRequest
    static let versions: ClosedRange<Int16> = 0...3

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<DescribeAclsResponse?> {
        let filter = AclBindingFilter(
            resourceType: request.resourceTypeFilter, name: request.resourceNameFilter, patternType: request.patternTypeFilter,
            principal: request.principalFilter, host: request.hostFilter, operation: request.operation,
            permission: request.permissionType, apiVersion: context.apiVersion)
        var response = DescribeAclsResponse()
        if let reason = filter.invalidReason {
            response.errorCode = KafkaErrorCode.invalidRequest.rawValue
            response.errorMessage = reason
        } else if !context.isAuthorizedOnCluster(.describe) {
            response.errorCode = KafkaErrorCode.clusterAuthorizationFailed.rawValue
        } else if context.broker.security.authorizerEnabled {
            let bindings = context.broker.security.describeAcls(filter)
            var resources: [ResourcePattern: [DescribeAclsResponse.AclDescription]] = [:]
            var order: [ResourcePattern] = []
            for binding in bindings {
                if resources[binding.pattern] == nil { order.append(binding.pattern) }
                resources[binding.pattern, default: []].append(.init(
                    principal: binding.entry.principal, host: binding.entry.host, operation: binding.entry.operation.rawValue,
                    permissionType: binding.entry.permission.rawValue))
            }
            response.resources = order.map { pattern in
                .init(
                    resourceType: pattern.resourceType.rawValue, resourceName: pattern.name, patternType: pattern.patternType.rawValue,
                    acls: resources[pattern] ?? [])
            }
        } else {
            response.errorCode = KafkaErrorCode.securityDisabled.rawValue
            response.errorMessage = "no authorizer is configured (authorizer.class.name)"
        }
        return context.eventLoop.makeSucceededFuture(response)
    }
}
