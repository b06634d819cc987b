import ApusProtocol
import ApusSecurity
import NIOCore

/// One SCRAM credential of a user as ``Admin/describeScramCredentials(users:)`` reports it:
/// the mechanism and iteration count (the broker never tells salts or keys).
public struct ScramCredentialInfo: Sendable, Hashable {
    public var mechanism: ScramMechanism
    public var iterations: Int

    public init(mechanism: ScramMechanism, iterations: Int) {
        self.mechanism = mechanism
        self.iterations = iterations
    }
}

/// ACLs (CreateAcls, DescribeAcls, DeleteAcls) and SCRAM users (AlterUserScramCredentials,
/// DescribeUserScramCredentials). A broker without an authorizer answers the ACL calls with
/// SECURITY_DISABLED; a principal without ALTER (or DESCRIBE) on the cluster gets
/// CLUSTER_AUTHORIZATION_FAILED. Both are thrown as ``KafkaClientError/broker(_:_:)``.
extension Admin {
    // MARK: ACLs

    /// Adds ACL bindings (adding one that exists already is no error).
    public func createAcls(_ bindings: [AclBinding]) async throws {
        guard !bindings.isEmpty else { return }
        let response = try await cluster.send(CreateAclsRequest(creations: bindings.map { binding in
            .init(
                resourceType: binding.pattern.resourceType.rawValue, resourceName: binding.pattern.name,
                resourcePatternType: binding.pattern.patternType.rawValue, principal: binding.entry.principal, host: binding.entry.host,
                operation: binding.entry.operation.rawValue, permissionType: binding.entry.permission.rawValue)
        }), maximumVersion: 3)
        guard response.results.count == bindings.count else {
            throw KafkaClientError.protocolViolation("CreateAcls answered \(response.results.count) results for \(bindings.count) bindings")
        }
        for (binding, result) in zip(bindings, response.results) {
            try Self.check(result.errorCode, result.errorMessage, "creating ACL \(Self.describe(binding))")
        }
    }

    /// The ACL bindings that match `filter` (``AclBindingFilter/any`` for all).
    public func describeAcls(_ filter: AclBindingFilter) async throws -> [AclBinding] {
        let response = try await cluster.send(DescribeAclsRequest(
            resourceTypeFilter: filter.resourceType.rawValue, resourceNameFilter: filter.name, patternTypeFilter: filter.patternType.rawValue,
            principalFilter: filter.principal, hostFilter: filter.host, operation: filter.operation.rawValue,
            permissionType: filter.permission.rawValue), maximumVersion: 3)
        try Self.check(response.errorCode, response.errorMessage, "describing ACLs")
        return response.resources.flatMap { resource in
            resource.acls.map { acl in
                Self.binding(
                    resourceType: resource.resourceType, name: resource.resourceName, patternType: resource.patternType,
                    principal: acl.principal, host: acl.host, operation: acl.operation, permission: acl.permissionType)
            }
        }.sorted(by: Self.displayOrder)
    }

    /// Deletes the ACL bindings that match any of `filters`; returns the bindings deleted.
    @discardableResult
    public func deleteAcls(_ filters: [AclBindingFilter]) async throws -> [AclBinding] {
        guard !filters.isEmpty else { return [] }
        let response = try await cluster.send(DeleteAclsRequest(filters: filters.map { filter in
            .init(
                resourceTypeFilter: filter.resourceType.rawValue, resourceNameFilter: filter.name,
                patternTypeFilter: filter.patternType.rawValue, principalFilter: filter.principal, hostFilter: filter.host,
                operation: filter.operation.rawValue, permissionType: filter.permission.rawValue)
        }), maximumVersion: 3)
        var deleted: [AclBinding] = []
        for result in response.filterResults {
            try Self.check(result.errorCode, result.errorMessage, "deleting ACLs")
            for acl in result.matchingAcls {
                let binding = Self.binding(
                    resourceType: acl.resourceType, name: acl.resourceName, patternType: acl.patternType,
                    principal: acl.principal, host: acl.host, operation: acl.operation, permission: acl.permissionType)
                try Self.check(acl.errorCode, acl.errorMessage, "deleting ACL \(Self.describe(binding))")
                if !deleted.contains(binding) { deleted.append(binding) }
            }
        }
        return deleted.sorted(by: Self.displayOrder)
    }

    private static func binding(
        resourceType: Int8, name: String, patternType: Int8, principal: String, host: String, operation: Int8, permission: Int8
    ) -> AclBinding {
        AclBinding(
            pattern: ResourcePattern(
                resourceType: AclResourceType(rawValue: resourceType) ?? .unknown, name: name,
                patternType: AclPatternType(rawValue: patternType) ?? .unknown),
            entry: AccessControlEntry(
                principal: principal, host: host, operation: AclOperation(rawValue: operation) ?? .unknown,
                permission: AclPermissionType(rawValue: permission) ?? .unknown))
    }

    /// The order ACL listings use: resource type, name, pattern type, principal, host,
    /// operation, permission.
    public static func displayOrder(_ a: AclBinding, _ b: AclBinding) -> Bool {
        let left = (a.pattern.resourceType.rawValue, a.pattern.name, a.pattern.patternType.rawValue, a.entry.principal, a.entry.host)
        let right = (b.pattern.resourceType.rawValue, b.pattern.name, b.pattern.patternType.rawValue, b.entry.principal, b.entry.host)
        if left != right { return left < right }
        return (a.entry.operation.rawValue, a.entry.permission.rawValue) < (b.entry.operation.rawValue, b.entry.permission.rawValue)
    }

    private static func describe(_ binding: AclBinding) -> String {
        "\(binding.entry.permission.name) \(binding.entry.principal) \(binding.entry.operation.name) on "
            + "\(binding.pattern.resourceType.name) \(binding.pattern.patternType.name) '\(binding.pattern.name)' from host \(binding.entry.host)"
    }

    // MARK: SCRAM users

    /// Creates or replaces `user`'s credential for `mechanism`. As Kafka's admin client does, the
    /// client picks a random salt and sends only the salt and the salted password
    /// (PBKDF2 of the password, `iterations` rounds): the password never leaves this process.
    public func upsertScramCredential(user: String, mechanism: ScramMechanism, password: String, iterations: Int = 4096) async throws {
        let salt = ScramCredential.randomSalt()
        let saltedPassword = mechanism.saltedPassword(password: password, salt: salt, iterations: iterations)
        let response = try await cluster.send(AlterUserScramCredentialsRequest(upsertions: [
            .init(
                name: user, mechanism: mechanism.kafkaType, iterations: Int32(clamping: iterations), salt: ByteBuffer(bytes: salt),
                saltedPassword: ByteBuffer(bytes: saltedPassword))
        ]), maximumVersion: 0)
        for result in response.results {
            try Self.check(result.errorCode, result.errorMessage, "setting the \(mechanism.rawValue) credential of user '\(result.user)'")
        }
    }

    /// Deletes `user`'s credential for `mechanism` (RESOURCE_NOT_FOUND if there is none).
    public func deleteScramCredential(user: String, mechanism: ScramMechanism) async throws {
        let response = try await cluster.send(AlterUserScramCredentialsRequest(deletions: [
            .init(name: user, mechanism: mechanism.kafkaType)
        ]), maximumVersion: 0)
        for result in response.results {
            try Self.check(result.errorCode, result.errorMessage, "deleting the \(mechanism.rawValue) credential of user '\(result.user)'")
        }
    }

    /// The SCRAM mechanisms and iteration counts of `users` (all users with credentials when
    /// nil). A named user without credentials is left out.
    public func describeScramCredentials(users: [String]? = nil) async throws -> [String: [ScramCredentialInfo]] {
        let response = try await cluster.send(
            DescribeUserScramCredentialsRequest(users: users.map { $0.map { .init(name: $0) } }), maximumVersion: 0)
        try Self.check(response.errorCode, response.errorMessage, "describing SCRAM credentials")
        var result: [String: [ScramCredentialInfo]] = [:]
        for user in response.results {
            if user.errorCode == KafkaErrorCode.resourceNotFound.rawValue { continue }
            try Self.check(user.errorCode, user.errorMessage, "describing the SCRAM credentials of user '\(user.user)'")
            result[user.user] = user.credentialInfos.compactMap { info in
                ScramMechanism(kafkaType: info.mechanism).map { ScramCredentialInfo(mechanism: $0, iterations: Int(info.iterations)) }
            }.sorted { $0.mechanism.kafkaType < $1.mechanism.kafkaType }
        }
        return result
    }
}
