/// The resources an ACL is about: a resource type, and a name matched literally ("*" meaning every
/// resource of the type) or as a prefix.
public struct ResourcePattern: Hashable, Sendable, Codable {
    public var resourceType: AclResourceType
    public var name: String
    public var patternType: AclPatternType

    public init(resourceType: AclResourceType, name: String, patternType: AclPatternType = .literal) {
        self.resourceType = resourceType
        self.name = name
        self.patternType = patternType
    }

    /// The literal resource name that means every resource of a type.
    public static let wildcardResource = "*"
    /// The only name of the cluster resource.
    public static let clusterName = "kafka-cluster"
}

/// Who may (or may not) do what from where: a principal ("User:alice", or "User:*" for everyone),
/// a host ("*" for every host), an operation and a permission.
public struct AccessControlEntry: Hashable, Sendable, Codable {
    public var principal: String
    public var host: String
    public var operation: AclOperation
    public var permission: AclPermissionType

    public init(principal: String, host: String = "*", operation: AclOperation, permission: AclPermissionType) {
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission = permission
    }

    /// The principal that means every principal.
    public static let wildcardPrincipal = "User:*"
    /// The host that means every host.
    public static let wildcardHost = "*"
}

/// One ACL: an entry applied to a resource pattern.
public struct AclBinding: Hashable, Sendable, Codable {
    public var pattern: ResourcePattern
    public var entry: AccessControlEntry

    public init(pattern: ResourcePattern, entry: AccessControlEntry) {
        self.pattern = pattern
        self.entry = entry
    }

    /// nil when CreateAcls may store this binding; otherwise Kafka's reason (sent with
    /// INVALID_REQUEST): every type must be concrete (not ANY, MATCH or UNKNOWN), the resource name
    /// and host non-empty, the principal "Type:name", and the cluster resource named "kafka-cluster".
    public var invalidReason: String? {
        switch pattern.patternType {
        case .literal, .prefixed: break
        default: return "Invalid patternType \(pattern.patternType.name)"
        }
        switch pattern.resourceType {
        case .unknown, .any: return "Invalid resourceType \(pattern.resourceType.name)"
        default: break
        }
        switch entry.operation {
        case .unknown, .any: return "Invalid operation \(entry.operation.name)"
        default: break
        }
        switch entry.permission {
        case .allow, .deny: break
        default: return "Invalid permissionType \(entry.permission.name)"
        }
        if pattern.name.isEmpty {
            return "Resource name should not be empty"
        }
        if pattern.resourceType == .cluster && pattern.name != ResourcePattern.clusterName {
            return "The only valid name for the CLUSTER resource is \(ResourcePattern.clusterName)"
        }
        if KafkaPrincipal(parsing: entry.principal) == nil {
            return "Could not parse principal from `\(entry.principal)` (no colon is present separating the principal type from the principal name)"
        }
        if entry.host.isEmpty {
            return "Host should not be empty"
        }
        return nil
    }
}

/// Which ACLs DescribeAcls returns and DeleteAcls removes. A nil string and the ANY values match
/// anything; see `matches(_:)`.
public struct AclBindingFilter: Hashable, Sendable {
    public var resourceType: AclResourceType
    public var name: String?
    public var patternType: AclPatternType
    public var principal: String?
    public var host: String?
    public var operation: AclOperation
    public var permission: AclPermissionType

    public init(
        resourceType: AclResourceType = .any, name: String? = nil, patternType: AclPatternType = .any,
        principal: String? = nil, host: String? = nil, operation: AclOperation = .any, permission: AclPermissionType = .any
    ) {
        self.resourceType = resourceType
        self.name = name
        self.patternType = patternType
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission = permission
    }

    /// The filter that matches every binding.
    public static let any = AclBindingFilter()

    /// Kafka's ResourcePatternFilter and AccessControlEntryFilter: ANY and nil match anything.
    /// Pattern type LITERAL or PREFIXED matches only that type with exactly that name; ANY matches
    /// any type with exactly that name; MATCH matches the bindings that apply to a resource of that
    /// name: literal ones with the same name or "*", and prefixed ones whose prefix the name starts with.
    /// Principal and host compare as plain strings ("User:*" matches only "User:*").
    public func matches(_ binding: AclBinding) -> Bool {
        matchesPattern(binding.pattern) && matchesEntry(binding.entry)
    }

    private func matchesPattern(_ pattern: ResourcePattern) -> Bool {
        if resourceType != .any && resourceType != pattern.resourceType { return false }
        if patternType != .any && patternType != .match && patternType != pattern.patternType { return false }
        guard let name else { return true }
        if patternType == .any || patternType == pattern.patternType { return name == pattern.name }
        switch pattern.patternType {
        case .literal: return name == pattern.name || pattern.name == ResourcePattern.wildcardResource
        case .prefixed: return name.hasPrefix(pattern.name)
        default: return false
        }
    }

    private func matchesEntry(_ entry: AccessControlEntry) -> Bool {
        if let principal, principal != entry.principal { return false }
        if let host, host != entry.host { return false }
        if operation != .any && operation != entry.operation { return false }
        return permission == .any || permission == entry.permission
    }

    /// nil when DescribeAcls or DeleteAcls may use this filter; otherwise why not (a field is UNKNOWN).
    public var invalidReason: String? {
        if resourceType == .unknown { return "The filter's resource type is UNKNOWN" }
        if patternType == .unknown { return "The filter's pattern type is UNKNOWN" }
        if operation == .unknown { return "The filter's operation is UNKNOWN" }
        if permission == .unknown { return "The filter's permission type is UNKNOWN" }
        return nil
    }
}
