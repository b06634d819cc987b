import ApusProtocol
import ApusSecurity
import NIOCore

/// DeleteAcls (key 31): removes what each filter matches and answers, per filter, the
/// bindings removed. Needs Alter on the cluster; SECURITY_DISABLED without an authorizer.
enum DeleteAclsHandler: APIHandler {
    typealias Request = DeleteAclsRequest
    static let versions: ClosedRange<Int16> = 0...3

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<DeleteAclsResponse?> {
        func all(_ code: KafkaErrorCode, _ message: String?) -> DeleteAclsResponse {
            DeleteAclsResponse(filterResults: request.filters.map { _ in .init(errorCode: code.rawValue, errorMessage: message) })
        }
        if let refusal = context.aclChangeRefusal {
            return context.eventLoop.makeSucceededFuture(all(refusal.code, refusal.message))
        }
        let filters = request.filters.map { filter in
            AclBindingFilter(
                resourceType: filter.resourceTypeFilter, name: filter.resourceNameFilter, patternType: filter.patternTypeFilter,
                principal: filter.principalFilter, host: filter.hostFilter, operation: filter.operation,
                permission: filter.permissionType, apiVersion: context.apiVersion)
        }
        let validFilters = filters.filter { $0.invalidReason == nil }
        let deleted: [[AclBinding]]
        do {
            deleted = try context.broker.security.deleteAcls(validFilters)
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
