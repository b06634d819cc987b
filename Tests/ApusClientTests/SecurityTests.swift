import ApusBroker
import ApusClient
import ApusProtocol
import ApusSecurity
import Foundation
import Testing

/// Client security against an embedded broker: TLS, mutual TLS, SASL PLAIN and SCRAM, ACLs and
/// SCRAM users through the admin client.
@Suite(.serialized) struct SecurityTests {
    static func security(
        _ securityProtocol: ClientSecurity.SecurityProtocol, _ mechanism: SaslMechanism? = nil, user: String = "alice",
        password: String = "alice-secret", ca: String? = nil
    ) -> ClientSecurity {
        ClientSecurity(
            securityProtocol: securityProtocol, tls: .init(caLocation: ca),
            sasl: mechanism.map { .init(mechanism: $0, username: user, password: password) })
    }

    static func admin(_ address: String, _ security: ClientSecurity) -> Admin {
        var configuration = AdminConfiguration(bootstrapServers: [address])
        configuration.security = security
        configuration.connectTimeout = .seconds(5)
        return Admin(configuration: configuration)
    }

    /// Produces `count` records to `topic` and reads them back, both over `address` with `security`.
    static func roundTrip(_ address: String, _ security: ClientSecurity, topic: String, count: Int = 20) async throws {
        var producerConfiguration = ProducerConfiguration(bootstrapServers: [address])
        producerConfiguration.security = security
        producerConfiguration.linger = .milliseconds(2)
        let producer = Producer(configuration: producerConfiguration)
        for i in 0..<count { _ = try await producer.submit(ProducerRecord(topic: topic, value: "record-\(i)")) }
        await producer.flush()
        await producer.close()
        var consumerConfiguration = ConsumerConfiguration(bootstrapServers: [address])
        consumerConfiguration.security = security
        consumerConfiguration.stopAtEndOfLog = true
        consumerConfiguration.fetchMaxWait = .milliseconds(100)
        let consumer = Consumer(configuration: consumerConfiguration)
        try await consumer.assign(topic: topic, from: .beginning)
        let values = try await drain(consumer).compactMap(\.valueString)
        await consumer.close()
        #expect(values == (0..<count).map { "record-\($0)" })
    }

    @Test func scramSha512OverSaslSslProducesAndConsumes() async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        try await withEmbeddedBroker(settings: [
            ("listeners", "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0"), ("ssl.keystore.location", certificates.serverKeystorePath),
            ("sasl.enabled.mechanisms", "SCRAM-SHA-512"), ("num.partitions", "1"),
        ]) { broker in
            let address = try #require(broker.address(listener: "SASL_SSL"))
            // No authorizer: anyone may create users, here over the plaintext listener.
            let plaintext = Self.admin(try #require(broker.address(listener: "PLAINTEXT")), .plaintext)
            try await plaintext.upsertScramCredential(user: "alice", mechanism: .sha512, password: "alice-secret", iterations: 8192)
            #expect(try await plaintext.describeScramCredentials()["alice"] == [ScramCredentialInfo(mechanism: .sha512, iterations: 8192)])
            await plaintext.close()

            let security = Self.security(.saslSsl, .scramSha512, ca: certificates.caPath)
            let admin = Self.admin(address, security)
            try await admin.createTopic("secured")
            await admin.close()
            try await Self.roundTrip(address, security, topic: "secured")
        }
    }

    @Test func saslPlaintextWithPlainAndScramSha256() async throws {
        try await withEmbeddedBroker(settings: [
            ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"), ("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-256"), ("num.partitions", "1"),
        ]) { broker in
            // Offline, as `apus users add --data-dir` does; the broker notices the file.
            try ScramCredentialStore(dataDirectory: broker.dataDirectory)
                .upsert(user: "alice", credential: .make(mechanism: .sha256, password: "alice-secret"))
            let address = try #require(broker.address(listener: "SASL_PLAINTEXT"))
            try await Self.roundTrip(address, Self.security(.saslPlaintext, .plain), topic: "plain")
            try await Self.roundTrip(address, Self.security(.saslPlaintext, .scramSha256), topic: "scram")
        }
    }

    @Test func mutualTLSAuthenticatesWithTheClientCertificate() async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        try await withEmbeddedBroker(settings: [
            ("listeners", "SSL://127.0.0.1:0"), ("ssl.keystore.location", certificates.serverKeystorePath),
            ("ssl.truststore.location", certificates.caPath), ("ssl.client.auth", "required"), ("num.partitions", "1"),
        ]) { broker in
            let address = try #require(broker.address(listener: "SSL"))
            for keyPath in [certificates.clientKeyPath, certificates.encryptedClientKeyPath] {
                let security = try ClientSecurity(properties: [
                    "security.protocol": "SSL", "ssl.ca.location": certificates.caPath,
                    "ssl.certificate.location": certificates.clientCertificatePath, "ssl.key.location": keyPath,
                ].merging(keyPath == certificates.encryptedClientKeyPath ? ["ssl.key.password": certificates.clientKeyPassword] : [:]) { a, _ in a })
                let admin = Self.admin(address, security)
                try await admin.createTopic("mtls-\(keyPath.hasSuffix("encrypted.key") ? "encrypted" : "plain")")
                await admin.close()
            }
            try await Self.roundTrip(address, try ClientSecurity(properties: [
                "security.protocol": "SSL", "ssl.ca.location": certificates.caPath,
                "ssl.certificate.location": certificates.clientCertificatePath, "ssl.key.location": certificates.clientKeyPath,
            ]), topic: "mtls-plain")

            // Without a client certificate the broker refuses the handshake.
            let anonymous = Self.admin(address, Self.security(.ssl, ca: certificates.caPath))
            await #expect {
                try await anonymous.ping()
            } throws: { error in
                guard case KafkaClientError.connectionFailed(_, let why) = error else { return false }
                return why.hasPrefix("TLS handshake failed: ")
            }
            await anonymous.close()
        }
    }

    @Test func aBrokerSignedByAnotherCAFailsVerificationPlainly() async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        try await withEmbeddedBroker(settings: [
            ("listeners", "SSL://127.0.0.1:0"), ("ssl.keystore.location", certificates.serverKeystorePath),
        ]) { broker in
            let address = try #require(broker.address(listener: "SSL"))
            let admin = Self.admin(address, Self.security(.ssl, ca: certificates.otherCAPath))
            await #expect(throws: KafkaClientError.connectionFailed(address, "TLS handshake failed: certificate verify failed")) {
                try await admin.ping()
            }
            await admin.close()
            // The right CA works, and "localhost" matches the certificate's DNS name too.
            let localhost = "localhost:" + address.split(separator: ":").last!
            let good = Self.admin(localhost, Self.security(.ssl, ca: certificates.caPath))
            try await good.ping()
            await good.close()
        }
    }

    @Test func aWrongPasswordIsAnAuthenticationFailureTheProducerAndConsumerReportAtOnce() async throws {
        try await withEmbeddedBroker(settings: [
            ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"), ("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512"),
        ]) { broker in
            try ScramCredentialStore(dataDirectory: broker.dataDirectory)
                .upsert(user: "alice", credential: .make(mechanism: .sha512, password: "alice-secret"))
            let address = try #require(broker.address(listener: "SASL_PLAINTEXT"))
            for mechanism in [SaslMechanism.scramSha512, .plain] {
                let admin = Self.admin(address, Self.security(.saslPlaintext, mechanism, password: "wrong"))
                await #expect {
                    try await admin.ping()
                } throws: { error in
                    guard case KafkaClientError.authenticationFailed(let why) = error else { return false }
                    return why.contains("SASL_AUTHENTICATION_FAILED")
                }
                await admin.close()
            }

            var producerConfiguration = ProducerConfiguration(bootstrapServers: [address])
            producerConfiguration.security = Self.security(.saslPlaintext, .scramSha512, password: "wrong")
            let producer = Producer(configuration: producerConfiguration)
            let started = ContinuousClock.now
            await #expect {
                _ = try await producer.send(ProducerRecord(topic: "t", value: "v"))
            } throws: { error in
                if case KafkaClientError.authenticationFailed = error { return true } else { return false }
            }
            await producer.close()

            var consumerConfiguration = ConsumerConfiguration(bootstrapServers: [address], groupId: "g")
            consumerConfiguration.security = producerConfiguration.security
            let consumer = Consumer(configuration: consumerConfiguration)
            await #expect {
                try await consumer.subscribe(topics: ["t"])
                _ = try await consumer.nextBatch()
            } throws: { error in
                if case KafkaClientError.authenticationFailed = error { return true } else { return false }
            }
            await consumer.close()
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    @Test func aMechanismTheBrokerDoesNotEnableIsNamedWithTheOnesItDoes() async throws {
        try await withEmbeddedBroker(settings: [
            ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"), ("sasl.enabled.mechanisms", "SCRAM-SHA-256"),
        ]) { broker in
            let address = try #require(broker.address(listener: "SASL_PLAINTEXT"))
            let admin = Self.admin(address, Self.security(.saslPlaintext, .plain))
            await #expect {
                try await admin.ping()
            } throws: { error in
                guard case KafkaClientError.authenticationFailed(let why) = error else { return false }
                return why.contains("does not enable SASL mechanism PLAIN") && why.contains("SCRAM-SHA-256")
            }
            await admin.close()
        }
    }

    @Test func aclsAreCreatedDescribedAndDeletedBySuperUsersOnly() async throws {
        try await withEmbeddedBroker(settings: [
            ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"), ("sasl.enabled.mechanisms", "SCRAM-SHA-256"),
            ("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"), ("super.users", "User:admin"),
        ]) { broker in
            let store = ScramCredentialStore(dataDirectory: broker.dataDirectory)
            try store.upsert(user: "admin", credential: .make(mechanism: .sha256, password: "admin-secret"))
            let address = try #require(broker.address(listener: "SASL_PLAINTEXT"))
            let admin = Self.admin(address, Self.security(.saslPlaintext, .scramSha256, user: "admin", password: "admin-secret"))
            // Users through the admin API: the salted password, never the password.
            try await admin.upsertScramCredential(user: "alice", mechanism: .sha256, password: "alice-secret")
            #expect(try await admin.describeScramCredentials(users: ["alice", "nobody"]) == ["alice": [.init(mechanism: .sha256, iterations: 4096)]])

            let read = AclBinding(
                pattern: ResourcePattern(resourceType: .topic, name: "orders", patternType: .literal),
                entry: AccessControlEntry(principal: "User:alice", host: "*", operation: .read, permission: .allow))
            let write = AclBinding(
                pattern: ResourcePattern(resourceType: .topic, name: "orders-", patternType: .prefixed),
                entry: AccessControlEntry(principal: "User:alice", host: "*", operation: .write, permission: .allow))
            try await admin.createAcls([read, write])
            #expect(try await admin.describeAcls(.any) == [read, write])
            #expect(try await admin.describeAcls(AclBindingFilter(resourceType: .topic, name: "orders-eu", patternType: .match)) == [write])

            // alice is no super user: she may not change ACLs.
            let alice = Self.admin(address, Self.security(.saslPlaintext, .scramSha256))
            await #expect {
                _ = try await alice.describeAcls(.any)
            } throws: { error in
                if case KafkaClientError.broker(.clusterAuthorizationFailed, _) = error { return true } else { return false }
            }
            await alice.close()

            #expect(try await admin.deleteAcls([AclBindingFilter(resourceType: .topic, operation: .read)]) == [read])
            #expect(try await admin.describeAcls(.any) == [write])
            try await admin.deleteScramCredential(user: "alice", mechanism: .sha256)
            #expect(try await admin.describeScramCredentials()["alice"] == nil)
            await #expect {
                try await admin.deleteScramCredential(user: "alice", mechanism: .sha256)
            } throws: { error in
                if case KafkaClientError.broker(.resourceNotFound, _) = error { return true } else { return false }
            }
            await admin.close()
        }
    }

    @Test func aclCallsOnABrokerWithoutAnAuthorizerAnswerSecurityDisabled() async throws {
        try await withEmbeddedBroker { broker in
            let admin = Self.admin(broker.bootstrapAddress, .plaintext)
            await #expect {
                _ = try await admin.describeAcls(.any)
            } throws: { error in
                if case KafkaClientError.broker(.securityDisabled, _) = error { return true } else { return false }
            }
            await admin.close()
        }
    }
}
