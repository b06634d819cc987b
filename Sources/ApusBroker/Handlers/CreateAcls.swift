import ApusProtocol
import ApusSecurity
import NIOCore

/// CreateAcls (key 30): adds ACL bindings, persisted before the answer. Needs Alter on the
/// cluster; SECURITY_DISABLED without an authorizer; an invalid binding answers
/// INVALID_REQUEST with the reason.
enum CreateAclsHandler: APIHandler {
    typealias Request = CreateAclsRequest
    static let versions: ClosedRange<Int16> = 0...3

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<CreateAclsResponse?> {
        func all(_ code: KafkaErrorCode, _ message: String?) -> CreateAclsResponse {
            CreateAclsResponse(results: request.creations.map { _ in .init(errorCode: code.rawValue, errorMessage: message) })
        }
        if let refusal = context.aclChangeRefusal {
            return context.eventLoop.makeSucceededFuture(all(refusal.code, refusal.message))
        }
        var results: [CreateAclsResponse.AclCreationResult] = []
        var valid: [AclBinding] = []
        for creation in request.creations {
            let binding = AclBinding(
                pattern: ResourcePattern(
                    resourceType: AclResourceType(rawValue: creation.resourceType) ?? .unknown, name: creation.resourceName,
                    patternType: context.apiVersion >= 1 ? AclPatternType(rawValue: creation.resourcePatternType) ?? .unknown : .literal),
                entry: AccessControlEntry(
                    principal: creation.principal, host: creation.host,
                    operation: AclOperation(rawValue: creation.operation) ?? .unknown,
                    permission: AclPermissionType(rawValue: creation.permissionType) ?? .unknown))
            if let reason = binding.invalidReason {
                results.append(.init(errorCode: KafkaErrorCode.invalidRequest.rawValue, errorMessage: reason))
            } else {
                valid.append(binding)
                results.append(.init(errorCode: 0, errorMessage: nil))
            }
        }
        do {
            try context.broker.security.createAcls(valid)
        } catch {
            context.logger.error("cannot persist ACLs", metadata: ["error": "\(error)"])
            return context.eventLoop.makeSucceededFuture(all(.kafkaStorageError, "cannot persist the ACLs: \(error)"))
        }
        context.logger.info("ACLs created", metadata: ["count": "\(valid.count)", "by": "\(context.principal)"])
        return context.eventLoop.makeSucceededFuture(CreateAclsResponse(results: results))
    }
}
