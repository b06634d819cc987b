import ApusProtocol
import ApusSecurity
import Foundation
import NIOCore
import Testing
@testable import ApusBroker

/// A broker with a SASL_PLAINTEXT listener (first) and the given extra settings.
private func withSaslBroker(
    mechanisms: String = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", settings: [(String, String)] = [], dataDirectory: String? = nil,
    users: [String: String] = ["alice": "alice-secret", "admin": "admin-secret"],
    _ body: (Broker, Int) async throws -> Void
) async throws {
    let directory = dataDirectory ?? NSTemporaryDirectory() + "apus-security-test-" + UUID().uuidString
    let store = ScramCredentialStore(dataDirectory: directory)
    for (user, password) in users {
        for mechanism in ScramMechanism.allCases {
            try store.upsert(user: user, credential: .make(mechanism: mechanism, password: password))
        }
    }
    try await withBroker(
        settings: [("listeners", "SASL_PLAINTEXT://127.0.0.1:0"), ("sasl.enabled.mechanisms", mechanisms)] + settings,
        dataDirectory: directory, body)
}

/// SaslHandshake v1 and SaslAuthenticate rounds with the SCRAM client; returns the last error.
private func scramLogin(_ client: TestClient, user: String, password: String, mechanism: ScramMechanism = .sha256) throws -> KafkaErrorCode {
    let handshake = try client.call(SaslHandshakeRequest(mechanism: mechanism.rawValue), version: 1)
    guard handshake.errorCode == 0 else { return KafkaErrorCode(rawValue: handshake.errorCode) ?? .unknownServerError }
    var scram = ScramClient(mechanism: mechanism, username: user, password: password)
    let first = try client.call(SaslAuthenticateRequest(authBytes: ByteBuffer(bytes: scram.firstMessage())), version: 2)
    guard first.errorCode == 0 else { return KafkaErrorCode(rawValue: first.errorCode) ?? .unknownServerError }
    let serverFirst = Array(first.authBytes.readableBytesView)
    let final = try client.call(SaslAuthenticateRequest(authBytes: ByteBuffer(bytes: try scram.finalMessage(serverFirst: serverFirst))), version: 2)
    guard final.errorCode == 0 else { return KafkaErrorCode(rawValue: final.errorCode) ?? .unknownServerError }
    try scram.verify(serverFinal: Array(final.authBytes.readableBytesView))
    return .noError
}

private func plainLogin(_ client: TestClient, user: String, password: String) throws -> KafkaErrorCode {
    let handshake = try client.call(SaslHandshakeRequest(mechanism: "PLAIN"), version: 1)
    guard handshake.errorCode == 0 else { return KafkaErrorCode(rawValue: handshake.errorCode) ?? .unknownServerError }
    let response = try client.call(SaslAuthenticateRequest(authBytes: ByteBuffer(bytes: PlainMessage.encode(username: user, password: password))), version: 1)
    return KafkaErrorCode(rawValue: response.errorCode) ?? .unknownServerError
}

@Suite(.serialized) struct SecurityTests {
    @Test func listenersParseSeveralNamesAndTheProtocolMap() throws {
        var config = BrokerConfig()
        try config.apply([
            ("listeners", "CLIENT://0.0.0.0:9093,PLAINTEXT://127.0.0.1:9092,SASL_SSL://:9094"),
            ("listener.security.protocol.map", "CLIENT:SASL_PLAINTEXT"),
            ("advertised.listeners", "CLIENT://broker.example:19093"),
        ])
        #expect(config.listeners.map(\.name) == ["CLIENT", "PLAINTEXT", "SASL_SSL"])
        #expect(config.listeners.map(\.securityProtocol) == [.saslPlaintext, .plaintext, .saslSsl])
        #expect(config.listeners[2].host == "0.0.0.0" && config.listeners[2].port == 9094)
        #expect(config.advertisedAddress(of: config.listeners[0], boundPort: 9093) == ("broker.example", 19093))
        #expect(config.advertisedAddress(of: config.listeners[1], boundPort: 9092) == ("127.0.0.1", 9092))
        // SASL_SSL without key material cannot start.
        #expect(throws: ConfigError.self) { try config.validate() }
        var unknown = BrokerConfig()
        #expect(throws: ConfigError.self) { try unknown.apply([("listeners", "CLIENT://127.0.0.1:9093")]) }
        #expect(throws: ConfigError.self) { try unknown.apply([("sasl.enabled.mechanisms", "GSSAPI")]) }
        #expect(throws: ConfigError.self) { try unknown.apply([("super.users", "admin")]) }
        #expect(throws: ConfigError.self) { try unknown.apply([("authorizer.class.name", "com.example.Mine")]) }
    }

    @Test func listenerScopedSettingsApplyToTheirListenerOnly() throws {
        var config = BrokerConfig()
        try config.apply([
            ("listeners", "INTERNAL://127.0.0.1:9093,EXTERNAL://0.0.0.0:9094"),
            ("listener.security.protocol.map", "INTERNAL:SASL_PLAINTEXT,EXTERNAL:SASL_PLAINTEXT"),
            ("sasl.enabled.mechanisms", "SCRAM-SHA-512"),
            ("listener.name.internal.sasl.enabled.mechanisms", "SCRAM-SHA-256"),
            ("listener.name.internal.sasl.enabled.mechanisms", "PLAIN"),  // the later wins
        ])
        try config.validate()
        #expect(config.security(for: config.listeners[0]).saslEnabledMechanisms == [.plain])
        #expect(config.security(for: config.listeners[1]).saslEnabledMechanisms == [.scramSha512])
        #expect(config.security.saslEnabledMechanisms == [.scramSha512])
        // Only TLS and SASL settings are per listener, and each value is checked when given.
        #expect(throws: ConfigError.self) { try config.apply([("listener.name.internal.super.users", "User:ops")]) }
        #expect(throws: ConfigError.self) { try config.apply([("listener.name.internal.ssl.client.auth", "maybe")]) }
        #expect(throws: ConfigError.self) { try config.apply([("listener.name.ssl.keystore.location", "/k.pem")]) }
        // A listener's own setting can leave it unable to start, and a name must be a listener.
        var empty = config
        try empty.apply([("listener.name.external.sasl.enabled.mechanisms", "")])
        #expect(throws: ConfigError("a SASL listener needs at least one mechanism in sasl.enabled.mechanisms (listener EXTERNAL)")) {
            try empty.validate()
        }
        var stray = config
        try stray.apply([("listener.name.replication.sasl.enabled.mechanisms", "PLAIN")])
        #expect(throws: ConfigError("listener.name.replication.*: listeners has no listener named REPLICATION")) { try stray.validate() }
    }

    /// SaslHandshake offers each listener its own mechanisms.
    @Test func eachListenerOffersItsOwnSaslMechanisms() async throws {
        try await withSaslBroker(settings: [
            ("listeners", "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0"),
            ("listener.security.protocol.map", "INTERNAL:SASL_PLAINTEXT,EXTERNAL:SASL_PLAINTEXT"),
            ("sasl.enabled.mechanisms", "SCRAM-SHA-512"), ("listener.name.internal.sasl.enabled.mechanisms", "PLAIN"),
        ]) { broker, _ in
            let inside = try TestClient(port: try #require(broker.context.boundPort(of: "INTERNAL")))
            #expect(try plainLogin(inside, user: "alice", password: "alice-secret") == .noError)
            let external = try TestClient(port: try #require(broker.context.boundPort(of: "EXTERNAL")))
            let refused = try external.call(SaslHandshakeRequest(mechanism: "PLAIN"), version: 1)
            #expect(refused.errorCode == KafkaErrorCode.unsupportedSaslMechanism.rawValue)
            #expect(refused.mechanisms == ["SCRAM-SHA-512"])
            #expect(try scramLogin(external, user: "alice", password: "alice-secret", mechanism: .sha512) == .noError)
        }
    }

    @Test func sslClientAuthTakesKafkasThreeValuesAndNeedsATruststoreToAskForCertificates() throws {
        for value in ["none", "requested", "REQUIRED"] {
            var config = BrokerConfig()
            try config.apply([("ssl.client.auth", value)])
            #expect(config.security.clientAuth.rawValue == value.lowercased())
            if value == "none" {
                try config.validate()
            } else {
                #expect(throws: ConfigError("ssl.client.auth=\(value.lowercased()) needs ssl.truststore.location (the CA certificates of clients)")) {
                    try config.validate()
                }
            }
        }
        var config = BrokerConfig()
        #expect(throws: ConfigError("ssl.client.auth=optional: expected none, requested or required")) {
            try config.apply([("ssl.client.auth", "optional")])
        }
    }

    @Test func saslListenerRefusesRequestsBeforeAuthenticationButAnswersApiVersions() async throws {
        try await withSaslBroker { _, port in
            let client = try TestClient(port: port)
            let versions = try client.call(ApiVersionsRequest(), version: 3)
            #expect(versions.apiKeys.contains { $0.apiKey == ApiKey.saslAuthenticate.rawValue && $0.maxVersion == 2 })
            try client.sendRaw(client.frame(MetadataRequest(topics: nil), version: 9).bytes)
            #expect(client.isClosedByPeer())
        }
    }

    @Test func scramSha256AndSha512LoginsSucceedAndOpenTheOtherApis() async throws {
        try await withSaslBroker { _, port in
            for mechanism in ScramMechanism.allCases {
                let client = try TestClient(port: port)
                #expect(try scramLogin(client, user: "alice", password: "alice-secret", mechanism: mechanism) == .noError)
                let metadata = try client.call(MetadataRequest(topics: nil), version: 9)
                #expect(metadata.brokers.first?.port == Int32(port))
            }
        }
    }

    @Test func wrongPasswordIsRefusedAndTheConnectionCloses() async throws {
        try await withSaslBroker { _, port in
            let client = try TestClient(port: port)
            #expect(try scramLogin(client, user: "alice", password: "wrong") == .saslAuthenticationFailed)
            #expect(client.isClosedByPeer())
            let unknownUser = try TestClient(port: port)
            #expect(try scramLogin(unknownUser, user: "mallory", password: "x") == .saslAuthenticationFailed)
            let plain = try TestClient(port: port)
            #expect(try plainLogin(plain, user: "alice", password: "wrong") == .saslAuthenticationFailed)
        }
    }

    @Test func plainChecksThePasswordAgainstTheStoredScramCredential() async throws {
        try await withSaslBroker { _, port in
            let client = try TestClient(port: port)
            #expect(try plainLogin(client, user: "alice", password: "alice-secret") == .noError)
            #expect(try client.call(MetadataRequest(topics: nil), version: 9).brokers.count == 1)
        }
    }

    @Test func disabledMechanismAnswersUnsupportedWithTheEnabledOnes() async throws {
        try await withSaslBroker(mechanisms: "SCRAM-SHA-512") { _, port in
            let client = try TestClient(port: port)
            let handshake = try client.call(SaslHandshakeRequest(mechanism: "PLAIN"), version: 1)
            #expect(handshake.errorCode == KafkaErrorCode.unsupportedSaslMechanism.rawValue)
            #expect(handshake.mechanisms == ["SCRAM-SHA-512"])
        }
    }

    @Test func handshakeV0RunsTheExchangeInBareTokens() async throws {
        try await withSaslBroker { _, port in
            let client = try TestClient(port: port)
            #expect(try client.call(SaslHandshakeRequest(mechanism: "PLAIN"), version: 0).errorCode == 0)
            let token = PlainMessage.encode(username: "alice", password: "alice-secret")
            try client.sendRaw(withUnsafeBytes(of: Int32(token.count).bigEndian, Array.init) + token)
            #expect(try client.receiveExactly(4) == [0, 0, 0, 0])  // an empty reply: accepted
            #expect(try client.call(MetadataRequest(topics: nil), version: 9).brokers.count == 1)
        }
    }

    /// KIP-430: Metadata v8+ and DescribeGroups v3+ report, when asked, the operations the client
    /// may do on each topic, the cluster and each group, as bit fields over the operations that
    /// apply to the resource type; not asked, the field is Int32.min.
    @Test func authorizedOperationsAreReportedWhenAsked() async throws {
        let settings = [
            ("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"), ("super.users", "User:admin"),
        ]
        func bits(_ operations: AclOperation...) -> Int32 { operations.reduce(0) { $0 | (1 << Int32($1.rawValue)) } }
        try await withSaslBroker(settings: settings) { _, port in
            let admin = try TestClient(port: port)
            #expect(try scramLogin(admin, user: "admin", password: "admin-secret") == .noError)
            try createTopic(admin, "ledger")
            let grant = try admin.call(CreateAclsRequest(creations: [
                .init(resourceType: AclResourceType.topic.rawValue, resourceName: "ledger", resourcePatternType: AclPatternType.literal.rawValue,
                      principal: "User:alice", host: "*", operation: AclOperation.read.rawValue, permissionType: AclPermissionType.allow.rawValue),
                .init(resourceType: AclResourceType.group.rawValue, resourceName: "auditors", resourcePatternType: AclPatternType.literal.rawValue,
                      principal: "User:alice", host: "*", operation: AclOperation.describe.rawValue, permissionType: AclPermissionType.allow.rawValue),
            ]), version: 3)
            #expect(grant.results.map(\.errorCode) == [0, 0])
            let alice = try TestClient(port: port)
            #expect(try scramLogin(alice, user: "alice", password: "alice-secret") == .noError)
            let asked = MetadataRequest(topics: [.init(name: "ledger")], includeClusterAuthorizedOperations: true, includeTopicAuthorizedOperations: true)
            // Read implies Describe; nothing on the cluster.
            let forAlice = try alice.call(asked, version: 10)
            #expect(forAlice.topics.first?.topicAuthorizedOperations == bits(.read, .describe))
            #expect(forAlice.clusterAuthorizedOperations == 0)
            let forAdmin = try admin.call(asked, version: 10)
            #expect(forAdmin.topics.first?.topicAuthorizedOperations == 3576)  // all eight topic operations
            #expect(forAdmin.clusterAuthorizedOperations == bits(.create, .clusterAction, .describeConfigs, .alterConfigs, .idempotentWrite, .alter, .describe))
            let notAsked = try alice.call(MetadataRequest(topics: [.init(name: "ledger")]), version: 12)
            #expect(notAsked.topics.first?.topicAuthorizedOperations == Int32.min)
            let groups = try alice.call(DescribeGroupsRequest(groups: ["auditors"], includeAuthorizedOperations: true), version: 5)
            #expect(groups.groups.first?.errorCode == 0)
            #expect(groups.groups.first?.authorizedOperations == bits(.describe))
            let groupsNotAsked = try alice.call(DescribeGroupsRequest(groups: ["auditors"]), version: 5)
            #expect(groupsNotAsked.groups.first?.authorizedOperations == Int32.min)
        }
    }

    /// Two writers of the credentials file (the broker and `apus users --data-dir`, here two
    /// threads with stores of their own) that change it at once lose none of each other's users.
    @Test func concurrentCredentialChangesAreAllKept() async throws {
        let directory = NSTemporaryDirectory() + "apus-credentials-race-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let credential = ScramCredential.make(mechanism: .sha256, password: "secret", iterations: 4096)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<2 {
                group.addTask {
                    let store = ScramCredentialStore(dataDirectory: directory)
                    for user in 0..<25 { try store.upsert(user: "writer\(writer)-user\(user)", credential: credential) }
                    try store.delete(user: "writer\(writer)-user0", mechanism: nil)
                }
            }
            try await group.waitForAll()
        }
        let users = try ScramCredentialStore(dataDirectory: directory).load()
        #expect(users.count == 48)
        #expect(users["writer0-user24"] != nil && users["writer1-user24"] != nil && users["writer0-user0"] == nil)
    }

    /// What a crash in the middle of a credentials or ACL write leaves (`*.tmp` beside the
    /// file) is removed when the broker starts; the files themselves are kept and read.
    @Test func aBrokerStartRemovesTheLeftoversOfInterruptedWrites() async throws {
        let directory = NSTemporaryDirectory() + "apus-security-leftovers-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let security = directory + "/security"
        let leftovers = [
            security + "/scram-credentials.json.4242.17.tmp", security + "/acls.json.4242.18.tmp",
        ]
        try await withSaslBroker(dataDirectory: directory) { _, _ in }
        for path in leftovers { try Data("{\"half\": ".utf8).write(to: URL(fileURLWithPath: path)) }
        let kept = try FileManager.default.contentsOfDirectory(atPath: security).filter { !$0.hasSuffix(".tmp") }.sorted()
        try await withBroker(settings: [("listeners", "SASL_PLAINTEXT://127.0.0.1:0")], dataDirectory: directory) { _, port in
            #expect(leftovers.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
            #expect(try FileManager.default.contentsOfDirectory(atPath: security).sorted() == kept)
            let client = try TestClient(port: port)
            #expect(try scramLogin(client, user: "alice", password: "alice-secret") == .noError)
        }
    }

    @Test func aclsDecideProduceAndSurviveARestart() async throws {
        let directory = NSTemporaryDirectory() + "apus-security-acl-" + UUID().uuidString
        let settings = [
            ("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"), ("super.users", "User:admin"),
        ]
        try await withSaslBroker(settings: settings, dataDirectory: directory) { _, port in
            let admin = try TestClient(port: port)
            #expect(try scramLogin(admin, user: "admin", password: "admin-secret") == .noError)
            try createTopic(admin, "orders")
            let alice = try TestClient(port: port)
            #expect(try scramLogin(alice, user: "alice", password: "alice-secret") == .noError)
            // No ACL: denied (allow.everyone.if.no.acl.found is false).
            var produced = try alice.call(produceRequest(topic: "orders", records: try batch(["a"])), version: 9)
            #expect(produced.responses.first?.partitionResponses.first?.errorCode == KafkaErrorCode.topicAuthorizationFailed.rawValue)
            let metadata = try alice.call(MetadataRequest(topics: nil), version: 9)
            #expect(metadata.topics.isEmpty)  // alice may Describe nothing
            // alice may not grant herself anything.
            let selfGrant = try alice.call(CreateAclsRequest(creations: [.init(
                resourceType: AclResourceType.topic.rawValue, resourceName: "orders", resourcePatternType: AclPatternType.literal.rawValue,
                principal: "User:alice", host: "*", operation: AclOperation.write.rawValue, permissionType: AclPermissionType.allow.rawValue)]),
                version: 3)
            #expect(selfGrant.results.first?.errorCode == KafkaErrorCode.clusterAuthorizationFailed.rawValue)
            // The super user grants Write on the prefix "ord".
            let grant = try admin.call(CreateAclsRequest(creations: [.init(
                resourceType: AclResourceType.topic.rawValue, resourceName: "ord", resourcePatternType: AclPatternType.prefixed.rawValue,
                principal: "User:alice", host: "*", operation: AclOperation.write.rawValue, permissionType: AclPermissionType.allow.rawValue)]),
                version: 3)
            #expect(grant.results.first?.errorCode == 0)
            produced = try alice.call(produceRequest(topic: "orders", records: try batch(["a"])), version: 9)
            #expect(produced.responses.first?.partitionResponses.first?.errorCode == 0)
            // Write implies Describe: alice now sees the topic; Read is still denied.
            #expect(try alice.call(MetadataRequest(topics: nil), version: 9).topics.map(\.name) == ["orders"])
            let fetched = try alice.call(fetchRequest(topic: "orders", offset: 0), version: 12)
            #expect(fetched.responses.first?.partitions.first?.errorCode == KafkaErrorCode.topicAuthorizationFailed.rawValue)
            // Group APIs: no Read on the group.
            let join = try alice.call(FindCoordinatorRequest(key: "billing", keyType: 0), version: 3)
            #expect(join.errorCode == KafkaErrorCode.groupAuthorizationFailed.rawValue)
        }
        // After a restart the ACL is still there.
        try await withSaslBroker(settings: settings, dataDirectory: directory, users: [:]) { _, port in
            let admin = try TestClient(port: port)
            #expect(try scramLogin(admin, user: "admin", password: "admin-secret") == .noError)
            let described = try admin.call(DescribeAclsRequest(
                resourceTypeFilter: AclResourceType.any.rawValue, resourceNameFilter: nil, patternTypeFilter: AclPatternType.any.rawValue,
                principalFilter: nil, hostFilter: nil, operation: AclOperation.any.rawValue, permissionType: AclPermissionType.any.rawValue),
                version: 3)
            #expect(described.errorCode == 0)
            #expect(described.resources.map(\.resourceName) == ["ord"])
            #expect(described.resources.first?.acls.first?.principal == "User:alice")
            let deleted = try admin.call(DeleteAclsRequest(filters: [.init(
                resourceTypeFilter: AclResourceType.topic.rawValue, resourceNameFilter: "ord", patternTypeFilter: AclPatternType.prefixed.rawValue,
                principalFilter: nil, hostFilter: nil, operation: AclOperation.any.rawValue, permissionType: AclPermissionType.any.rawValue)]),
                version: 3)
            #expect(deleted.filterResults.first?.matchingAcls.count == 1)
        }
    }

    @Test func aclApisAnswerSecurityDisabledWithoutAnAuthorizer() async throws {
        try await withBroker { _, port in
            let client = try TestClient(port: port)
            let described = try client.call(DescribeAclsRequest(
                resourceTypeFilter: AclResourceType.any.rawValue, resourceNameFilter: nil, patternTypeFilter: AclPatternType.any.rawValue,
                principalFilter: nil, hostFilter: nil, operation: AclOperation.any.rawValue, permissionType: AclPermissionType.any.rawValue),
                version: 3)
            #expect(described.errorCode == KafkaErrorCode.securityDisabled.rawValue)
        }
    }

    @Test func scramCredentialsAreManagedOverTheProtocolAndNeverStoredInClear() async throws {
        let directory = NSTemporaryDirectory() + "apus-security-users-" + UUID().uuidString
        try await withSaslBroker(dataDirectory: directory, users: ["admin": "admin-secret"]) { _, port in
            let admin = try TestClient(port: port)
            #expect(try scramLogin(admin, user: "admin", password: "admin-secret") == .noError)
            let salt: [UInt8] = Array("0123456789abcdef".utf8)
            let salted = ScramMechanism.sha512.saltedPassword(password: "bob-secret", salt: salt, iterations: 8192)
            let altered = try admin.call(AlterUserScramCredentialsRequest(deletions: [], upsertions: [
                .init(name: "bob", mechanism: ScramMechanism.sha512.kafkaType, iterations: 8192, salt: ByteBuffer(bytes: salt), saltedPassword: ByteBuffer(bytes: salted)),
                .init(name: "weak", mechanism: ScramMechanism.sha256.kafkaType, iterations: 100, salt: ByteBuffer(bytes: salt), saltedPassword: ByteBuffer(bytes: salted)),
            ]), version: 0)
            #expect(altered.results.map(\.errorCode) == [0, KafkaErrorCode.unacceptableCredential.rawValue])
            let described = try admin.call(DescribeUserScramCredentialsRequest(users: [.init(name: "bob"), .init(name: "nobody")]), version: 0)
            #expect(described.results.first?.credentialInfos.map(\.iterations) == [8192])
            #expect(described.results.last?.errorCode == KafkaErrorCode.resourceNotFound.rawValue)
            let bob = try TestClient(port: port)
            #expect(try scramLogin(bob, user: "bob", password: "bob-secret", mechanism: .sha512) == .noError)
        }
        let file = try String(contentsOfFile: directory + "/security/scram-credentials.json", encoding: .utf8)
        #expect(file.contains("\"bob\"") && !file.contains("bob-secret") && !file.contains("admin-secret"))
    }
}
