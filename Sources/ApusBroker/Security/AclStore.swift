import ApusSecurity
import ApusStorage
import Foundation

/// The broker's ACLs, in `<data dir>/security/acls.json`, one object per binding with Kafka's
/// names (`{"resourceType": "Topic", "name": "orders", "patternType": "LITERAL",
/// "principal": "User:alice", "host": "*", "operation": "Read", "permission": "Allow"}`).
/// Written atomically and durably by CreateAcls and DeleteAcls.
struct AclStore: Sendable {
    let path: String

    init(dataDirectory: String) {
        path = dataDirectory + "/security/acls.json"
    }

    private struct File: Codable {
        struct Entry: Codable {
            var resourceType: String
            var name: String
            var patternType: String
            var principal: String
            var host: String
            var operation: String
            var permission: String
        }
        var version = 1
        var acls: [Entry] = []
    }

    func load() throws -> [AclBinding] {
        guard let file = try SecurityFile.read(File.self, from: path, kind: "ACL file") else { return [] }
        return try file.acls.map { entry in
            guard let resourceType = AclResourceType(name: entry.resourceType),
                let patternType = AclPatternType(name: entry.patternType),
                let operation = AclOperation(name: entry.operation), let permission = AclPermissionType(name: entry.permission)
            else { throw ConfigError("\(path): malformed ACL entry \(entry)") }
            return AclBinding(
                pattern: ResourcePattern(resourceType: resourceType, name: entry.name, patternType: patternType),
                entry: AccessControlEntry(principal: entry.principal, host: entry.host, operation: operation, permission: permission))
        }
    }

    func save(_ bindings: [AclBinding]) throws {
        let file = File(acls: bindings.map { binding in
            .init(
                resourceType: binding.pattern.resourceType.name, name: binding.pattern.name,
                patternType: binding.pattern.patternType.name, principal: binding.entry.principal, host: binding.entry.host,
                operation: binding.entry.operation.name, permission: binding.entry.permission.name)
        })
        try SecurityFile.write(file, to: path)
    }
}
