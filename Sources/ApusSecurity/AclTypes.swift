// Kafka's ACL enums. The raw values are Kafka's codes, the bytes CreateAcls, DescribeAcls and
// DeleteAcls carry; `name` is how Kafka prints each value.

/// The kind of resource an ACL is about.
public enum AclResourceType: Int8, Sendable, Codable, CaseIterable {
    case unknown = 0, any = 1, topic = 2, group = 3, cluster = 4, transactionalId = 5, delegationToken = 6, user = 7

    /// "Topic", "Group", "Cluster", "TransactionalId", "DelegationToken", "User" ("Unknown", "Any").
    public var name: String {
        switch self {
        case .unknown: "Unknown"
        case .any: "Any"
        case .topic: "Topic"
        case .group: "Group"
        case .cluster: "Cluster"
        case .transactionalId: "TransactionalId"
        case .delegationToken: "DelegationToken"
        case .user: "User"
        }
    }

    /// Case-insensitive; also accepts Kafka's upper snake case ("TRANSACTIONAL_ID").
    public init?(name: String) {
        guard let value = caseNamed(name, Self.self, \.name) else { return nil }
        self = value
    }

    /// The operations that apply to resources of this type, as Kafka lists them (its
    /// `AclEntry.supportedOperations`): what KIP-430's authorized-operations bit fields range over.
    public var supportedOperations: [AclOperation] {
        switch self {
        case .topic: [.read, .write, .create, .describe, .delete, .alter, .describeConfigs, .alterConfigs]
        case .group: [.read, .describe, .delete]
        case .cluster: [.create, .clusterAction, .describeConfigs, .alterConfigs, .idempotentWrite, .alter, .describe]
        case .transactionalId: [.describe, .write]
        case .delegationToken: [.describe]
        case .user: [.createTokens, .describeTokens]
        case .unknown, .any: []
        }
    }
}

/// How an ACL's resource name is matched. LITERAL and PREFIXED are what bindings carry; ANY and
/// MATCH exist only in filters.
public enum AclPatternType: Int8, Sendable, Codable, CaseIterable {
    case unknown = 0, any = 1, match = 2, literal = 3, prefixed = 4

    /// "UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED".
    public var name: String {
        switch self {
        case .unknown: "UNKNOWN"
        case .any: "ANY"
        case .match: "MATCH"
        case .literal: "LITERAL"
        case .prefixed: "PREFIXED"
        }
    }

    /// Case-insensitive.
    public init?(name: String) {
        guard let value = caseNamed(name, Self.self, \.name) else { return nil }
        self = value
    }
}

/// What an ACL allows or denies doing to a resource.
public enum AclOperation: Int8, Sendable, Codable, CaseIterable {
    case unknown = 0, any = 1, all = 2, read = 3, write = 4, create = 5, delete = 6, alter = 7, describe = 8
    case clusterAction = 9, describeConfigs = 10, alterConfigs = 11, idempotentWrite = 12
    case createTokens = 13, describeTokens = 14

    /// "Read", "Write", "DescribeConfigs", "IdempotentWrite", … as Kafka prints them.
    public var name: String {
        switch self {
        case .unknown: "Unknown"
        case .any: "Any"
        case .all: "All"
        case .read: "Read"
        case .write: "Write"
        case .create: "Create"
        case .delete: "Delete"
        case .alter: "Alter"
        case .describe: "Describe"
        case .clusterAction: "ClusterAction"
        case .describeConfigs: "DescribeConfigs"
        case .alterConfigs: "AlterConfigs"
        case .idempotentWrite: "IdempotentWrite"
        case .createTokens: "CreateTokens"
        case .describeTokens: "DescribeTokens"
        }
    }

    /// Case-insensitive; also accepts Kafka's upper snake case ("DESCRIBE_CONFIGS").
    public init?(name: String) {
        guard let value = caseNamed(name, Self.self, \.name) else { return nil }
        self = value
    }
}

/// Whether an ACL allows or denies.
public enum AclPermissionType: Int8, Sendable, Codable, CaseIterable {
    case unknown = 0, any = 1, deny = 2, allow = 3

    /// "Allow", "Deny" ("Unknown", "Any").
    public var name: String {
        switch self {
        case .unknown: "Unknown"
        case .any: "Any"
        case .deny: "Deny"
        case .allow: "Allow"
        }
    }

    /// Case-insensitive.
    public init?(name: String) {
        guard let value = caseNamed(name, Self.self, \.name) else { return nil }
        self = value
    }
}

/// The case whose name is `text`, ignoring case and underscores (so "DESCRIBE_CONFIGS" finds "DescribeConfigs").
private func caseNamed<T: CaseIterable>(_ text: String, _ type: T.Type, _ name: (T) -> String) -> T? {
    func normalized(_ text: String) -> String { text.lowercased().filter { $0 != "_" } }
    let wanted = normalized(text)
    guard !wanted.isEmpty else { return nil }
    return T.allCases.first { normalized(name($0)) == wanted }
}
