import Testing
import ApusSecurity

@Suite struct AclBindingTests {
    static let valid = AclBinding(
        pattern: ResourcePattern(resourceType: .topic, name: "orders", patternType: .literal),
        entry: AccessControlEntry(principal: "User:alice", host: "*", operation: .read, permission: .allow))

    @Test func kafkaCodesAreTheRawValues() {
        #expect(AclResourceType.topic.rawValue == 2 && AclResourceType.user.rawValue == 7)
        #expect(AclPatternType.prefixed.rawValue == 4 && AclPatternType.match.rawValue == 2)
        #expect(AclOperation.idempotentWrite.rawValue == 12 && AclOperation.describeTokens.rawValue == 14)
        #expect(AclPermissionType.allow.rawValue == 3 && AclPermissionType.deny.rawValue == 2)
    }

    @Test func namesRoundTripCaseInsensitivelyAndFromUpperSnakeCase() {
        for value in AclResourceType.allCases { #expect(AclResourceType(name: value.name.uppercased()) == value) }
        for value in AclPatternType.allCases { #expect(AclPatternType(name: value.name.lowercased()) == value) }
        for value in AclOperation.allCases { #expect(AclOperation(name: value.name) == value) }
        for value in AclPermissionType.allCases { #expect(AclPermissionType(name: value.name.uppercased()) == value) }
        #expect(AclOperation(name: "DESCRIBE_CONFIGS") == .describeConfigs)
        #expect(AclOperation.idempotentWrite.name == "IdempotentWrite")
        #expect(AclResourceType(name: "TRANSACTIONAL_ID") == .transactionalId)
        #expect(AclResourceType.transactionalId.name == "TransactionalId")
        #expect(AclPatternType.literal.name == "LITERAL")
        #expect(AclPermissionType.allow.name == "Allow")
        #expect(AclOperation(name: "Fly") == nil)
        #expect(AclResourceType(name: "") == nil)
    }

    @Test func concreteBindingIsValid() {
        #expect(Self.valid.invalidReason == nil)
        var prefixedCluster = Self.valid
        prefixedCluster.pattern = ResourcePattern(resourceType: .cluster, name: "kafka-cluster", patternType: .literal)
        prefixedCluster.entry.operation = .clusterAction
        #expect(prefixedCluster.invalidReason == nil)
    }

    @Test func bindingsThatCreateAclsRefusesHaveAReason() {
        func reason(_ change: (inout AclBinding) -> Void) -> String? {
            var binding = Self.valid
            change(&binding)
            return binding.invalidReason
        }
        #expect(reason { $0.pattern.patternType = .match } == "Invalid patternType MATCH")
        #expect(reason { $0.pattern.patternType = .any } != nil)
        #expect(reason { $0.pattern.patternType = .unknown } != nil)
        #expect(reason { $0.pattern.resourceType = .any } == "Invalid resourceType Any")
        #expect(reason { $0.pattern.resourceType = .unknown } != nil)
        #expect(reason { $0.entry.operation = .any } == "Invalid operation Any")
        #expect(reason { $0.entry.operation = .unknown } != nil)
        #expect(reason { $0.entry.permission = .any } == "Invalid permissionType Any")
        #expect(reason { $0.entry.permission = .unknown } != nil)
        #expect(reason { $0.pattern.name = "" } == "Resource name should not be empty")
        #expect(reason { $0.pattern.resourceType = .cluster } == "The only valid name for the CLUSTER resource is kafka-cluster")
        #expect(reason { $0.entry.principal = "alice" }?.hasPrefix("Could not parse principal from `alice`") == true)
        #expect(reason { $0.entry.host = "" } == "Host should not be empty")
    }

    static let bindings: [AclBinding] = [
        Self.valid,
        AclBinding(pattern: ResourcePattern(resourceType: .topic, name: "*"),
                   entry: AccessControlEntry(principal: "User:*", host: "*", operation: .describe, permission: .allow)),
        AclBinding(pattern: ResourcePattern(resourceType: .topic, name: "ord", patternType: .prefixed),
                   entry: AccessControlEntry(principal: "User:bob", host: "10.0.0.1", operation: .write, permission: .deny)),
        AclBinding(pattern: ResourcePattern(resourceType: .group, name: "orders"),
                   entry: AccessControlEntry(principal: "User:alice", host: "*", operation: .read, permission: .allow)),
    ]

    func matching(_ filter: AclBindingFilter) -> [AclBinding] {
        Self.bindings.filter(filter.matches)
    }

    @Test func anyFilterMatchesEverything() {
        #expect(matching(.any) == Self.bindings)
    }

    @Test func matchFilterFindsLiteralWildcardAndPrefixedBindingsThatApplyToAName() {
        let filter = AclBindingFilter(resourceType: .topic, name: "orders", patternType: .match)
        #expect(matching(filter) == Array(Self.bindings[0...2]))
        let other = AclBindingFilter(resourceType: .topic, name: "payments", patternType: .match)
        #expect(matching(other) == [Self.bindings[1]])
    }

    @Test func literalAndPrefixedFiltersMatchExactlyThatPattern() {
        #expect(matching(AclBindingFilter(resourceType: .topic, name: "orders", patternType: .literal)) == [Self.bindings[0]])
        #expect(matching(AclBindingFilter(resourceType: .topic, name: "orders", patternType: .prefixed)) == [])
        #expect(matching(AclBindingFilter(resourceType: .topic, name: "ord", patternType: .prefixed)) == [Self.bindings[2]])
        #expect(matching(AclBindingFilter(name: "orders", patternType: .any)) == [Self.bindings[0], Self.bindings[3]])
    }

    @Test func entryFieldsOfAFilterCompareExactly() {
        #expect(matching(AclBindingFilter(principal: "User:alice")) == [Self.bindings[0], Self.bindings[3]])
        #expect(matching(AclBindingFilter(principal: "User:*")) == [Self.bindings[1]])
        #expect(matching(AclBindingFilter(host: "10.0.0.1")) == [Self.bindings[2]])
        #expect(matching(AclBindingFilter(operation: .describe)) == [Self.bindings[1]])
        #expect(matching(AclBindingFilter(permission: .deny)) == [Self.bindings[2]])
    }

    @Test func filtersWithUnknownFieldsAreInvalid() {
        #expect(AclBindingFilter.any.invalidReason == nil)
        #expect(AclBindingFilter(patternType: .match).invalidReason == nil)
        #expect(AclBindingFilter(resourceType: .unknown).invalidReason != nil)
        #expect(AclBindingFilter(patternType: .unknown).invalidReason != nil)
        #expect(AclBindingFilter(operation: .unknown).invalidReason != nil)
        #expect(AclBindingFilter(permission: .unknown).invalidReason != nil)
    }
}
