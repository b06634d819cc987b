import ApusProtocol
import ApusSecurity
import NIOCore

/// DeleteAcls (key 31): removes what each filter matches and answers, per filter, the
/// bindings removed. Needs Alter on the cluster; SECURITY_DISABLED without an authorizer.
enum DeleteAclsHandler: APIHandler {
    typealias Request = DeleteAclsRequest
    static let versions: ClosedRange<Int16> = 0...3

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<DeleteAclsResponse?> {
        let security = context.broker.security
        func all(_ code: KafkaErrorCode, _ message: String?) -> DeleteAclsResponse {
            DeleteAclsResponse(filterResults: request.filters.map { _ in .init(errorCode: code.rawValue, errorMessage: message) })
        }
        guard security.authorizerEnabled else {
            return context.eventLoop.makeSucceededFuture(all(.securityDisabled, "no authorizer is configured (authorizer.class.name)"))
        }
        guard context.isAuthorizedOnCluster(.alter) else {
            return context.eventLoop.makeSucceededFuture(all(.clusterAuthorizationFailed, nil))
        }
        let filters = request.filters.map { filter in
            AclBindingFilter(
                resourceType: AclResourceType(rawValue: filter.resourceTypeFilter) ?? .unknown, name: filter.resourceNameFilter,
                patternType: context.apiVersion >= 1 ? AclPatternType(rawValue: filter.patternTypeFilter) ?? .unknown : .literal,
                principal: filter.principalFilter, host: filter.hostFilter,
                operation: AclOperation(rawValue: filter.operation) ?? .unknown,
                permission: AclPermissionType(rawValue: filter.permissionType) ?? .unknown)
        }
        let validFilters = filters.filter { $0.invalidReason == nil }
        let deleted: [[AclBinding]]
        do {
            deleted = try security.deleteAcls(validFilters) ?? []
        } catch {
            context.logger.error("cannot persist ACLs", metadata: ["error": "\(error)"])
            return context.eventLoop.makeSucceededFuture(all(.kafkaStorageError, "cannot persist the ACLs: \(error)"))
        }
        var next = deleted.makeIterator()
        let results = filters.map { filter -> DeleteAclsResponse.DeleteAclsFilterResult in
            if let reason = filter.invalidReason {
                return .init(errorCode: KafkaErrorCode.invalidRequest.rawValue, errorMessage: reason)
            }
            return .init(errorCode: 0, matchingAcls: (next.next() ?? []).map { binding in
                .init(
                    errorCode: 0, resourceType: binding.pattern.resourceType.rawValue, resourceName: binding.pattern.name,
                    patternType: binding.pattern.patternType.rawValue, principal: binding.entry.principal, host: binding.entry.host,
                    operation: binding.entry.operation.rawValue, permissionType: binding.entry.permission.rawValue)
            })
        }
        context.logger.info("ACLs deleted", metadata: ["count": "\(deleted.map(\.count).reduce(0, +))", "by": "\(context.principal)"])
        return context.eventLoop.makeSucceededFuture(DeleteAclsResponse(filterResults: results))
    }
}
