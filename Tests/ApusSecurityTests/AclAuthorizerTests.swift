import Testing
import ApusSecurity

@Suite struct AclAuthorizerTests {
    let alice = KafkaPrincipal(name: "alice")
    let bob = KafkaPrincipal(name: "bob")

    func acl(
        _ name: String, pattern patternType: AclPatternType = .literal, type resourceType: AclResourceType = .topic,
        principal: String = "User:alice", host: String = "*", _ operation: AclOperation, _ permission: AclPermissionType = .allow
    ) -> AclBinding {
        AclBinding(
            pattern: ResourcePattern(resourceType: resourceType, name: name, patternType: patternType),
            entry: AccessControlEntry(principal: principal, host: host, operation: operation, permission: permission))
    }

    func may(_ authorizer: AclAuthorizer, _ principal: KafkaPrincipal, _ operation: AclOperation, _ name: String,
             _ resourceType: AclResourceType = .topic, host: String = "10.0.0.1") -> Bool {
        authorizer.authorize(principal: principal, host: host, operation: operation, resourceType: resourceType, name: name)
    }

    @Test func allowGrantsOnlyThatPrincipalOperationAndResource() {
        let authorizer = AclAuthorizer(bindings: [acl("orders", .read)])
        #expect(may(authorizer, alice, .read, "orders"))
        #expect(!may(authorizer, bob, .read, "orders"))
        #expect(!may(authorizer, alice, .write, "orders"))
        #expect(!may(authorizer, alice, .read, "payments"))
        #expect(!may(authorizer, alice, .read, "orders", .group))
    }

    @Test func denyBeatsAllow() {
        let authorizer = AclAuthorizer(bindings: [
            acl("orders", .all),
            acl("orders", principal: "User:*", .write, .deny),
        ])
        #expect(may(authorizer, alice, .read, "orders"))
        #expect(!may(authorizer, alice, .write, "orders"))
    }

    @Test func denyOfAllDeniesEveryOperation() {
        let authorizer = AclAuthorizer(bindings: [acl("orders", .read), acl("*", .all, .deny)])
        #expect(!may(authorizer, alice, .read, "orders"))
        #expect(!may(authorizer, alice, .describe, "orders"))
    }

    @Test func wildcardPrincipalHostAndResourceMatchEveryone() {
        let authorizer = AclAuthorizer(bindings: [acl("*", principal: "User:*", host: "*", .read)])
        #expect(may(authorizer, alice, .read, "orders"))
        #expect(may(authorizer, bob, .read, "anything", host: "192.168.1.1"))
        #expect(may(authorizer, KafkaPrincipal(type: "Group", name: "x"), .read, "orders"))
        #expect(!may(authorizer, bob, .write, "orders"))
    }

    @Test func hostMustMatchUnlessWildcard() {
        let authorizer = AclAuthorizer(bindings: [acl("orders", host: "10.0.0.1", .read)])
        #expect(may(authorizer, alice, .read, "orders", host: "10.0.0.1"))
        #expect(!may(authorizer, alice, .read, "orders", host: "10.0.0.2"))
    }

    @Test func denyFromOneHostOnlyDeniesThatHost() {
        let authorizer = AclAuthorizer(bindings: [acl("orders", .read), acl("orders", host: "10.0.0.9", .read, .deny)])
        #expect(may(authorizer, alice, .read, "orders", host: "10.0.0.1"))
        #expect(!may(authorizer, alice, .read, "orders", host: "10.0.0.9"))
    }

    @Test func prefixedPatternCoversNamesStartingWithIt() {
        let authorizer = AclAuthorizer(bindings: [acl("orders-", pattern: .prefixed, .write), acl("orders-eu", pattern: .prefixed, .write, .deny)])
        #expect(may(authorizer, alice, .write, "orders-us"))
        #expect(may(authorizer, alice, .write, "orders-"))
        #expect(!may(authorizer, alice, .write, "orders"))
        #expect(!may(authorizer, alice, .write, "orders-eu-1"))
    }

    @Test func allowOfReadWriteDeleteOrAlterImpliesDescribe() {
        for operation in [AclOperation.read, .write, .delete, .alter] {
            let authorizer = AclAuthorizer(bindings: [acl("orders", operation)])
            #expect(may(authorizer, alice, .describe, "orders"))
        }
        let create = AclAuthorizer(bindings: [acl("orders", .create)])
        #expect(!may(create, alice, .describe, "orders"))
        let describe = AclAuthorizer(bindings: [acl("orders", .describe)])
        #expect(!may(describe, alice, .read, "orders"))
    }

    @Test func allowOfAlterConfigsImpliesDescribeConfigs() {
        let authorizer = AclAuthorizer(bindings: [acl("orders", .alterConfigs)])
        #expect(may(authorizer, alice, .describeConfigs, "orders"))
        #expect(!may(authorizer, alice, .describe, "orders"))
    }

    @Test func denyOfReadDoesNotImplyDenyOfDescribe() {
        let authorizer = AclAuthorizer(bindings: [acl("orders", .describe), acl("orders", .read, .deny)])
        #expect(may(authorizer, alice, .describe, "orders"))
        #expect(!may(authorizer, alice, .read, "orders"))
    }

    @Test func withoutAnyAclForTheResourceTheFallbackDecides() {
        let bindings = [acl("orders", .read)]
        let closed = AclAuthorizer(bindings: bindings)
        let open = AclAuthorizer(bindings: bindings, allowEveryoneIfNoAclFound: true)
        #expect(!may(closed, bob, .write, "payments"))
        #expect(may(open, bob, .write, "payments"))
        #expect(may(open, bob, .alter, "kafka-cluster", .cluster))
        // An ACL on the resource, even for someone else, turns the fallback off.
        #expect(!may(open, bob, .read, "orders"))
    }

    @Test func prefixedOrWildcardAclCountsAsAnAclForTheFallback() {
        let open = AclAuthorizer(bindings: [acl("pay", pattern: .prefixed, .read), acl("*", type: .group, .read)], allowEveryoneIfNoAclFound: true)
        #expect(!may(open, bob, .read, "payments"))
        #expect(!may(open, bob, .read, "any-group", .group))
        #expect(may(open, bob, .read, "orders"))
    }

    @Test func superUserIsAllowedDespiteDeny() {
        let authorizer = AclAuthorizer(bindings: [acl("*", principal: "User:*", .all, .deny)], superUsers: [KafkaPrincipal(name: "admin")])
        #expect(may(authorizer, KafkaPrincipal(name: "admin"), .delete, "orders"))
        #expect(may(authorizer, KafkaPrincipal(name: "admin"), .clusterAction, "kafka-cluster", .cluster))
        #expect(!may(authorizer, alice, .read, "orders"))
    }

    @Test func bindingsAreKeptAsGiven() {
        let bindings = [acl("orders", .read), acl("a", pattern: .prefixed, .write)]
        #expect(AclAuthorizer(bindings: bindings).bindings == bindings)
    }

    // authorizeAny (KIP-679)

    func mayAny(_ authorizer: AclAuthorizer, _ principal: KafkaPrincipal, _ operation: AclOperation = .write,
                _ resourceType: AclResourceType = .topic) -> Bool {
        authorizer.authorizeAny(principal: principal, host: "10.0.0.1", operation: operation, resourceType: resourceType)
    }

    @Test func authorizeAnyIsTrueWithAnAllowOnAnyResourceOfTheType() {
        let authorizer = AclAuthorizer(bindings: [acl("orders", .write), acl("pay", pattern: .prefixed, principal: "User:bob", .write)])
        #expect(mayAny(authorizer, alice))
        #expect(mayAny(authorizer, bob))
        #expect(!mayAny(authorizer, KafkaPrincipal(name: "carol")))
        #expect(!mayAny(authorizer, alice, .read))
        #expect(!mayAny(authorizer, alice, .write, .group))
    }

    @Test func authorizeAnyIsFalseWhenDeniesCoverEveryAllow() {
        let literalDenied = AclAuthorizer(bindings: [acl("orders", .write), acl("orders", .write, .deny)])
        #expect(!mayAny(literalDenied, alice))
        let prefixDenied = AclAuthorizer(bindings: [acl("orders", .write), acl("orders-x", pattern: .prefixed, .write), acl("ord", pattern: .prefixed, .write, .deny)])
        #expect(!mayAny(prefixDenied, alice))
        let wildcardDenied = AclAuthorizer(bindings: [acl("*", .write), acl("*", principal: "User:*", .all, .deny)])
        #expect(!mayAny(wildcardDenied, alice))
        let otherDenied = AclAuthorizer(bindings: [acl("orders", .write), acl("payments", .write, .deny)])
        #expect(mayAny(otherDenied, alice))
        let longerPrefixDenied = AclAuthorizer(bindings: [acl("ord", pattern: .prefixed, .write), acl("orders", pattern: .prefixed, .write, .deny)])
        #expect(mayAny(longerPrefixDenied, alice))
    }

    @Test func authorizeAnyGrantsSuperUsersAndFollowsTheFallback() {
        let authorizer = AclAuthorizer(bindings: [acl("*", principal: "User:*", .all, .deny)], superUsers: [KafkaPrincipal(name: "admin")])
        #expect(mayAny(authorizer, KafkaPrincipal(name: "admin")))
        #expect(!mayAny(authorizer, alice))
        #expect(mayAny(AclAuthorizer(bindings: [], allowEveryoneIfNoAclFound: true), alice))
        #expect(!mayAny(AclAuthorizer(bindings: []), alice))
    }

    @Test func idempotentWriteViaWriteOnAnyTopic() {
        let authorizer = AclAuthorizer(bindings: [acl("events-", pattern: .prefixed, .write)])
        let idempotent = authorizer.authorize(principal: alice, host: "10.0.0.1", operation: .idempotentWrite, resourceType: .cluster, name: "kafka-cluster")
            || mayAny(authorizer, alice, .write, .topic)
        #expect(idempotent)
        #expect(!mayAny(authorizer, bob, .write, .topic))
    }
}
