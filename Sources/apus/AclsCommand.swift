import ApusClient
import ApusSecurity
import ArgumentParser
import Foundation

/// `apus acls add|list|remove`: ACLs as kafka-acls.sh manages them (CreateAcls, DescribeAcls,
/// DeleteAcls). The broker needs an authorizer (`authorizer.class.name`); without one it
/// answers SECURITY_DISABLED.
struct AclsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acls", abstract: "Add, list and remove ACLs, as kafka-acls.sh.",
        discussion: """
            Principals are TYPE:NAME (User:alice); hosts default to * (any). Operations take Kafka's names: \
            All, Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, \
            IdempotentWrite, CreateTokens, DescribeTokens.
            """,
        subcommands: [Add.self, List.self, Remove.self])

    /// `--topic`, `--group` (repeatable), `--cluster` and `--resource-pattern-type`.
    struct Resources: ParsableArguments {
        @Option(name: .customLong("topic"), help: "A topic (or topic name prefix, with --resource-pattern-type prefixed); repeatable.")
        var topics: [String] = []
        @Option(name: .customLong("group"), help: "A consumer group (or prefix); repeatable.") var groups: [String] = []
        @Flag(name: .customLong("cluster"), help: "The cluster resource.") var cluster = false
        @Option(name: .customLong("resource-pattern-type"), help: "add: literal or prefixed (default literal); list and remove: any, match, literal or prefixed (default any).")
        var patternType: String?

        var isEmpty: Bool { topics.isEmpty && groups.isEmpty && !cluster }

        func patternType(allowed: [AclPatternType], default fallback: AclPatternType) throws -> AclPatternType {
            guard let patternType else { return fallback }
            guard let type = AclPatternType(name: patternType), allowed.contains(type) else {
                throw ValidationError("--resource-pattern-type must be \(allowed.map { $0.name.lowercased() }.joined(separator: ", ")), not '\(patternType)'")
            }
            return type
        }

        /// The resources named, with `patternType` (the cluster is always literal `kafka-cluster`).
        func patterns(_ patternType: AclPatternType) -> [ResourcePattern] {
            topics.map { ResourcePattern(resourceType: .topic, name: $0, patternType: patternType) }
                + groups.map { ResourcePattern(resourceType: .group, name: $0, patternType: patternType) }
                + (cluster ? [ResourcePattern(resourceType: .cluster, name: ResourcePattern.clusterName, patternType: .literal)] : [])
        }
    }

    /// Who, from where, doing what: `--allow-principal`, `--deny-principal`, `--allow-host`,
    /// `--deny-host`, `--operation`.
    struct Entries: ParsableArguments {
        @Option(name: .customLong("allow-principal"), help: "A principal to allow, TYPE:NAME (User:alice, User:* for all); repeatable.")
        var allowPrincipals: [String] = []
        @Option(name: .customLong("deny-principal"), help: "A principal to deny; repeatable.") var denyPrincipals: [String] = []
        @Option(name: .customLong("allow-host"), help: "A host allowed principals may connect from; repeatable (default *).") var allowHosts: [String] = []
        @Option(name: .customLong("deny-host"), help: "A host denied principals are denied from; repeatable (default *).") var denyHosts: [String] = []
        @Option(name: .customLong("operation"), help: "An operation (Read, Write, Describe, …); repeatable.") var operationNames: [String] = []

        func validate() throws {
            for principal in allowPrincipals + denyPrincipals where KafkaPrincipal(parsing: principal) == nil {
                throw ValidationError("principal '\(principal)' is not TYPE:NAME, e.g. User:alice")
            }
            if !allowHosts.isEmpty && allowPrincipals.isEmpty { throw ValidationError("--allow-host needs --allow-principal") }
            if !denyHosts.isEmpty && denyPrincipals.isEmpty { throw ValidationError("--deny-host needs --deny-principal") }
            _ = try operations()
        }

        func operations() throws -> [AclOperation] {
            try operationNames.map { name in
                guard let operation = AclOperation(name: name), ![.unknown, .any].contains(operation) else {
                    throw ValidationError("operation '\(name)' is not one of \(AclsCommand.operationNames)")
                }
                return operation
            }
        }

        /// (principal, host, permission) for every allowed and denied principal and host.
        func grants(defaultHost: String?) -> [(principal: String, host: String?, permission: AclPermissionType)] {
            func hosts(_ given: [String]) -> [String?] { given.isEmpty ? [defaultHost] : given }
            return allowPrincipals.flatMap { p in hosts(allowHosts).map { (p, $0, AclPermissionType.allow) } }
                + denyPrincipals.flatMap { p in hosts(denyHosts).map { (p, $0, AclPermissionType.deny) } }
        }
    }

    static var operationNames: String {
        AclOperation.allCases.filter { ![.unknown, .any].contains($0) }.map(\.name).joined(separator: ", ")
    }

    /// The operations kafka-acls.sh accepts per resource type.
    static let operationsByResourceType: [AclResourceType: Set<AclOperation>] = [
        .topic: [.read, .write, .create, .delete, .alter, .describe, .describeConfigs, .alterConfigs, .all],
        .group: [.read, .describe, .delete, .all],
        .cluster: [.create, .clusterAction, .describeConfigs, .alterConfigs, .idempotentWrite, .alter, .describe, .createTokens, .describeTokens, .all],
    ]

    static func render(_ bindings: [AclBinding]) -> String {
        Table.render(
            header: ["RESOURCE-TYPE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION"],
            rows: bindings.map {
                [$0.pattern.resourceType.name, $0.pattern.name, $0.pattern.patternType.name, $0.entry.principal, $0.entry.host,
                 $0.entry.operation.name, $0.entry.permission.name]
            })
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add ACLs: every principal and host given, for every operation, on every resource given.",
            discussion: """
                --producer allows Write, Describe and Create on the topics and IdempotentWrite on the cluster; \
                --consumer allows Read and Describe on the topics and Read on the groups.
                """)
        @OptionGroup var broker: BrokerOptions
        @OptionGroup var resources: Resources
        @OptionGroup var entries: Entries
        @Flag(help: "The ACLs a producer needs on the --topic resources.") var producer = false
        @Flag(help: "The ACLs a consumer needs on the --topic and --group resources.") var consumer = false

        func validate() throws {
            if entries.allowPrincipals.isEmpty && entries.denyPrincipals.isEmpty {
                throw ValidationError("give --allow-principal or --deny-principal")
            }
            _ = try resources.patternType(allowed: [.literal, .prefixed], default: .literal)
            if resources.isEmpty { throw ValidationError("give a resource: --topic, --group or --cluster") }
            if (producer || consumer) && resources.topics.isEmpty { throw ValidationError("--producer and --consumer need --topic") }
            if consumer && resources.groups.isEmpty { throw ValidationError("--consumer needs --group") }
            _ = try bindings()
        }

        func bindings() throws -> [AclBinding] {
            let patternType = try resources.patternType(allowed: [.literal, .prefixed], default: .literal)
            let given = try entries.operations()
            var wanted: [(ResourcePattern, [AclOperation])] = []
            if producer || consumer {
                var topicOperations: [AclOperation] = []
                if producer { topicOperations += [.write, .describe, .create] }
                if consumer { topicOperations += [.read, .describe] }
                for topic in resources.topics {
                    wanted.append((ResourcePattern(resourceType: .topic, name: topic, patternType: patternType), topicOperations))
                }
                if consumer {
                    for group in resources.groups { wanted.append((ResourcePattern(resourceType: .group, name: group, patternType: patternType), [.read])) }
                }
                if producer {
                    wanted.append((ResourcePattern(resourceType: .cluster, name: ResourcePattern.clusterName, patternType: .literal), [.idempotentWrite]))
                }
            }
            if !given.isEmpty || !(producer || consumer) {
                for pattern in resources.patterns(patternType) {
                    let operations = given.isEmpty ? [AclOperation.all] : given
                    let allowed = AclsCommand.operationsByResourceType[pattern.resourceType] ?? []
                    if let wrong = operations.first(where: { !allowed.contains($0) }) {
                        throw ValidationError(
                            "\(pattern.resourceType.name) resources do not take operation \(wrong.name); they take "
                                + AclOperation.allCases.filter(allowed.contains).map(\.name).joined(separator: ", "))
                    }
                    wanted.append((pattern, operations))
                }
            }
            var result: [AclBinding] = []
            for (pattern, operations) in wanted {
                for grant in entries.grants(defaultHost: AccessControlEntry.wildcardHost) {
                    for operation in operations {
                        let binding = AclBinding(
                            pattern: pattern,
                            entry: AccessControlEntry(principal: grant.principal, host: grant.host!, operation: operation, permission: grant.permission))
                        if !result.contains(binding) { result.append(binding) }
                    }
                }
            }
            return result
        }

        func run() async throws {
            try await CommandFailure.report {
                let bindings = try bindings()
                let admin = try await broker.admin()
                defer { Task { await admin.close() } }
                try await admin.createAcls(bindings)
                print("Added \(bindings.count) ACL(s):")
                print(AclsCommand.render(bindings.sorted(by: Admin.displayOrder)))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List ACLs (all, or those of the resources and principals given).")
        @OptionGroup var broker: BrokerOptions
        @OptionGroup var resources: Resources
        @Option(name: .customLong("principal"), help: "Only ACLs of this principal (TYPE:NAME); repeatable.") var principals: [String] = []

        func validate() throws {
            _ = try resources.patternType(allowed: [.any, .match, .literal, .prefixed], default: .any)
            for principal in principals where KafkaPrincipal(parsing: principal) == nil {
                throw ValidationError("principal '\(principal)' is not TYPE:NAME, e.g. User:alice")
            }
        }

        func run() async throws {
            try await CommandFailure.report {
                let patternType = try resources.patternType(allowed: [.any, .match, .literal, .prefixed], default: .any)
                let patterns: [(AclResourceType, String?)] =
                    resources.isEmpty ? [(.any, nil)] : resources.patterns(patternType).map { ($0.resourceType, $0.name) }
                let principalFilters: [String?] = principals.isEmpty ? [nil] : principals
                let admin = try await broker.admin()
                defer { Task { await admin.close() } }
                var bindings: [AclBinding] = []
                for (type, name) in patterns {
                    for principal in principalFilters {
                        let filter = AclBindingFilter(
                            resourceType: type, name: name, patternType: type == .cluster ? .any : patternType, principal: principal)
                        for binding in try await admin.describeAcls(filter) where !bindings.contains(binding) { bindings.append(binding) }
                    }
                }
                print(AclsCommand.render(bindings.sorted(by: Admin.displayOrder)))
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove the ACLs of the resources given: all of them, or only those of the principals, hosts and operations given.")
        @OptionGroup var broker: BrokerOptions
        @OptionGroup var resources: Resources
        @OptionGroup var entries: Entries

        func validate() throws {
            _ = try resources.patternType(allowed: [.any, .match, .literal, .prefixed], default: .any)
            if resources.isEmpty { throw ValidationError("give a resource: --topic, --group or --cluster") }
        }

        func filters() throws -> [AclBindingFilter] {
            let patternType = try resources.patternType(allowed: [.any, .match, .literal, .prefixed], default: .any)
            let operations: [AclOperation] = try entries.operations().isEmpty ? [.any] : entries.operations()
            let grants: [(principal: String?, host: String?, permission: AclPermissionType)] =
                entries.allowPrincipals.isEmpty && entries.denyPrincipals.isEmpty
                ? [(nil, nil, .any)] : entries.grants(defaultHost: nil).map { ($0.principal, $0.host, $0.permission) }
            return resources.patterns(patternType).flatMap { pattern in
                grants.flatMap { grant in
                    operations.map { operation in
                        AclBindingFilter(
                            resourceType: pattern.resourceType, name: pattern.name,
                            patternType: pattern.resourceType == .cluster ? .any : patternType,
                            principal: grant.principal, host: grant.host, operation: operation, permission: grant.permission)
                    }
                }
            }
        }

        func run() async throws {
            try await CommandFailure.report {
                let filters = try filters()
                let admin = try await broker.admin()
                defer { Task { await admin.close() } }
                let removed = try await admin.deleteAcls(filters)
                if removed.isEmpty {
                    print("No ACLs matched.")
                } else {
                    print("Removed \(removed.count) ACL(s):")
                    print(AclsCommand.render(removed))
                }
            }
        }
    }
}
