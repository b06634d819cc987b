/// An immutable snapshot of ACLs that answers authorization questions with the semantics of Kafka's
/// AclAuthorizer and StandardAuthorizer:
///
/// - a super user is always allowed;
/// - the ACLs that apply to a resource are the literal ones with its name, the literal ones named
///   "*", and the prefixed ones whose prefix its name starts with;
/// - when no ACL at all applies to the resource, the answer is `allowEveryoneIfNoAclFound`;
/// - an entry applies to a request when its principal is the request's or "User:*", its host is the
///   request's or "*", and its operation is the request's or All;
/// - a DENY that applies wins over any ALLOW;
/// - an ALLOW of Read, Write, Delete or Alter also allows Describe, and an ALLOW of AlterConfigs also
///   allows DescribeConfigs (a DENY implies nothing).
///
/// Bindings are indexed by resource type, then by literal name (a dictionary) and prefix (a list),
/// so a check looks at the ACLs of the resource and the prefixes, not at every binding.
public struct AclAuthorizer: Sendable {
    /// The ACLs of one resource type.
    private struct ResourceTypeAcls: Sendable {
        var literal: [String: [AccessControlEntry]] = [:]
        var prefixed: [(prefix: String, entries: [AccessControlEntry])] = []
    }

    public let bindings: [AclBinding]
    public let superUsers: Set<KafkaPrincipal>
    public let allowEveryoneIfNoAclFound: Bool
    private let index: [AclResourceType: ResourceTypeAcls]

    /// - Parameters:
    ///   - bindings: the ACLs; bindings whose pattern type is neither LITERAL nor PREFIXED never apply.
    ///   - superUsers: Kafka's `super.users`.
    ///   - allowEveryoneIfNoAclFound: Kafka's `allow.everyone.if.no.acl.found`.
    public init(bindings: [AclBinding], superUsers: Set<KafkaPrincipal> = [], allowEveryoneIfNoAclFound: Bool = false) {
        self.bindings = bindings
        self.superUsers = superUsers
        self.allowEveryoneIfNoAclFound = allowEveryoneIfNoAclFound
        var index = [AclResourceType: ResourceTypeAcls]()
        var prefixed = [AclResourceType: [String: [AccessControlEntry]]]()
        for binding in bindings {
            switch binding.pattern.patternType {
            case .literal:
                index[binding.pattern.resourceType, default: ResourceTypeAcls()]
                    .literal[binding.pattern.name, default: []].append(binding.entry)
            case .prefixed:
                prefixed[binding.pattern.resourceType, default: [:]][binding.pattern.name, default: []].append(binding.entry)
            default:
                continue
            }
        }
        for (resourceType, byPrefix) in prefixed {
            index[resourceType, default: ResourceTypeAcls()].prefixed = byPrefix.map { ($0.key, $0.value) }
        }
        self.index = index
    }

    /// Whether `principal`, connected from `host`, may do `operation` on the resource `name` of
    /// `resourceType`.
    public func authorize(
        principal: KafkaPrincipal, host: String, operation: AclOperation, resourceType: AclResourceType, name: String
    ) -> Bool {
        if superUsers.contains(principal) { return true }
        guard let acls = index[resourceType] else { return allowEveryoneIfNoAclFound }
        let principalText = principal.description
        var found = false
        var allowed = false
        // Returns false when a matching DENY settles the answer.
        func consider(_ entries: [AccessControlEntry]) -> Bool {
            for entry in entries {
                found = true
                guard entry.host == host || entry.host == AccessControlEntry.wildcardHost,
                      entry.principal == principalText || entry.principal == AccessControlEntry.wildcardPrincipal
                else { continue }
                switch entry.permission {
                case .deny:
                    if entry.operation == operation || entry.operation == .all { return false }
                case .allow:
                    if !allowed && Self.allowOf(entry.operation, grants: operation) { allowed = true }
                default:
                    continue
                }
            }
            return true
        }
        if let entries = acls.literal[name], !consider(entries) { return false }
        if let entries = acls.literal[ResourcePattern.wildcardResource], !consider(entries) { return false }
        for (prefix, entries) in acls.prefixed where name.hasPrefix(prefix) {
            if !consider(entries) { return false }
        }
        return found ? allowed : allowEveryoneIfNoAclFound
    }

    /// Whether an ALLOW of `granted` allows `requested`: the same operation, All, or an operation that
    /// implies the requested Describe or DescribeConfigs.
    private static func allowOf(_ granted: AclOperation, grants requested: AclOperation) -> Bool {
        if granted == requested || granted == .all { return true }
        switch requested {
        case .describe: return granted == .read || granted == .write || granted == .delete || granted == .alter
        case .describeConfigs: return granted == .alterConfigs
        default: return false
        }
    }

    /// KIP-679's authorizeByResourceType, as Kafka's Authorizer does it: whether `principal` may do
    /// `operation` on at least one resource of `resourceType`. True for a super user and when the
    /// operation is allowed on an arbitrary resource name (which covers `allowEveryoneIfNoAclFound`
    /// with no ACLs); otherwise true when an applicable ALLOW (operation equal or All, no implied
    /// operations) exists that no applicable DENY covers: a DENY on "*" or on the empty prefix covers
    /// everything, a literal DENY covers the literal ALLOW of the same name, and a prefixed DENY
    /// covers every ALLOW whose name starts with its prefix.
    public func authorizeAny(principal: KafkaPrincipal, host: String, operation: AclOperation, resourceType: AclResourceType) -> Bool {
        if authorize(principal: principal, host: host, operation: operation, resourceType: resourceType, name: "hardcode") {
            return true
        }
        guard let acls = index[resourceType] else { return false }
        let principalText = principal.description
        func applies(_ entry: AccessControlEntry) -> Bool {
            (entry.host == host || entry.host == AccessControlEntry.wildcardHost)
                && (entry.principal == AccessControlEntry.wildcardPrincipal
                    || KafkaPrincipal(parsing: entry.principal)?.description == principalText)
                && (entry.operation == operation || entry.operation == .all)
        }
        var deniedLiterals = Set<String>()
        var deniedPrefixes = Set<String>()
        var allowedLiterals = [String]()
        var allowedPrefixes = [String]()
        for (name, entries) in acls.literal {
            for entry in entries where applies(entry) {
                switch entry.permission {
                case .deny:
                    if name == ResourcePattern.wildcardResource { return false }
                    deniedLiterals.insert(name)
                case .allow:
                    allowedLiterals.append(name)
                default:
                    continue
                }
            }
        }
        for (prefix, entries) in acls.prefixed {
            for entry in entries where applies(entry) {
                switch entry.permission {
                case .deny:
                    if prefix.isEmpty { return false }
                    deniedPrefixes.insert(prefix)
                case .allow:
                    allowedPrefixes.append(prefix)
                default:
                    continue
                }
            }
        }
        if allowedLiterals.contains(ResourcePattern.wildcardResource) { return true }
        func coveredByDeniedPrefix(_ name: String) -> Bool {
            var prefix = ""
            for character in name {
                prefix.append(character)
                if deniedPrefixes.contains(prefix) { return true }
            }
            return false
        }
        for name in allowedLiterals where !deniedLiterals.contains(name) && !coveredByDeniedPrefix(name) {
            return true
        }
        for prefix in allowedPrefixes where !coveredByDeniedPrefix(prefix) {
            return true
        }
        return false
    }
}
