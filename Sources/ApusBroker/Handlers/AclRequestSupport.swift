import ApusProtocol
import ApusSecurity

extension RequestContext {
    /// Why a CreateAcls or DeleteAcls request may not change anything: no authorizer is
    /// configured (SECURITY_DISABLED), or the client may not Alter the cluster.
    var aclChangeRefusal: (code: KafkaErrorCode, message: String?)? {
        guard broker.security.authorizerEnabled else {
            return (.securityDisabled, "no authorizer is configured (authorizer.class.name)")
        }
        guard isAuthorizedOnCluster(.alter) else { return (.clusterAuthorizationFailed, nil) }
        return nil
    }
}

extension AclBindingFilter {
    /// A filter from the wire fields of DescribeAcls and DeleteAcls. Version 0 has no pattern
    /// type field: its filters match literal bindings. Unknown codes become `.unknown`, which
    /// `invalidReason` reports.
    init(
        resourceType: Int8, name: String?, patternType: Int8, principal: String?, host: String?, operation: Int8,
        permission: Int8, apiVersion: Int16
    ) {
        self.init(
            resourceType: AclResourceType(rawValue: resourceType) ?? .unknown, name: name,
            patternType: apiVersion >= 1 ? AclPatternType(rawValue: patternType) ?? .unknown : .literal,
            principal: principal, host: host, operation: AclOperation(rawValue: operation) ?? .unknown,
            permission: AclPermissionType(rawValue: permission) ?? .unknown)
    }
}
