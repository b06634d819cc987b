import ApusClient
import ApusSecurity
import Foundation
import Testing

@Suite struct ClientSecurityTests {
    @Test func noPropertiesMeanPlaintext() throws {
        let security = try ClientSecurity(properties: [:])
        #expect(security == .plaintext)
        #expect(!security.securityProtocol.usesTLS && !security.securityProtocol.usesSASL)
    }

    @Test func saslSslReadsLibrdkafkaNames() throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let security = try ClientSecurity(properties: [
            "security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "alice", "sasl.password": "s3cret",
            "ssl.ca.location": certificates.caPath, "ssl.certificate.location": certificates.clientCertificatePath,
            "ssl.key.location": certificates.encryptedClientKeyPath, "ssl.key.password": certificates.clientKeyPassword,
            "ssl.endpoint.identification.algorithm": "none", "client.id": "ignored",
        ])
        #expect(security.securityProtocol == .saslSsl)
        #expect(security.sasl == .init(mechanism: .scramSha512, username: "alice", password: "s3cret"))
        #expect(security.tls == .init(
            caLocation: certificates.caPath, certificateLocation: certificates.clientCertificatePath,
            keyLocation: certificates.encryptedClientKeyPath, keyPassword: certificates.clientKeyPassword, verifyHostname: false))
        #expect(!security.description.contains("s3cret"))
    }

    @Test func saslWithoutAMechanismUsesPlainAndSslVerifiesHostnamesWithSystemRootsByDefault() throws {
        let sasl = try ClientSecurity(properties: ["security.protocol": "SASL_PLAINTEXT", "sasl.username": "bob", "sasl.password": "pw"])
        #expect(sasl.sasl?.mechanism == .plain)
        let ssl = try ClientSecurity(properties: ["security.protocol": "SSL"])
        #expect(ssl.tls == .init())
        #expect(ssl.tls.verifyHostname && ssl.tls.caLocation == nil)
    }

    @Test(arguments: [
        (["security.protocol": "TLS"], "security.protocol 'TLS' is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL."),
        (["sasl.usernme": "alice"], "unknown security property 'sasl.usernme'"),
        (["security.protocol": "SASL_SSL", "sasl.password": "pw"], "security.protocol SASL_SSL needs sasl.username and sasl.password."),
        (["security.protocol": "SASL_SSL", "sasl.username": "alice"], "security.protocol SASL_SSL needs sasl.password for user 'alice'."),
        (["security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "GSSAPI", "sasl.username": "a", "sasl.password": "p"],
         "sasl.mechanism 'GSSAPI' is not supported; use one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512."),
        (["sasl.username": "alice", "sasl.password": "p"], "sasl.password is set but security.protocol is PLAINTEXT"),
        (["security.protocol": "SASL_PLAINTEXT", "ssl.ca.location": "/x", "sasl.username": "a", "sasl.password": "p"],
         "ssl.ca.location is set but security.protocol is SASL_PLAINTEXT"),
        (["security.protocol": "SSL", "ssl.key.location": "/x"], "mutual TLS needs both ssl.certificate.location and ssl.key.location."),
        (["security.protocol": "SSL", "ssl.ca.location": "/nonexistent/ca.pem"], "ssl.ca.location '/nonexistent/ca.pem' is not a readable file."),
        (["security.protocol": "SSL", "ssl.endpoint.identification.algorithm": "dns"], "ssl.endpoint.identification.algorithm 'dns' is not https or none."),
    ])
    func badPropertiesAreOnePlainSentence(properties: [String: String], expected: String) {
        #expect {
            _ = try ClientSecurity(properties: properties)
        } throws: { error in
            let message = (error as? ClientSecurityError)?.message ?? ""
            return message.hasPrefix(expected) && !message.contains("\n")
        }
    }

    @Test func theJavaClientsJaasConfigGivesTheCredentials() throws {
        let security = try ClientSecurity(properties: [
            "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.jaas.config": #"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="p\"w d";"#,
        ])
        #expect(security.sasl == .init(mechanism: .scramSha256, username: "alice", password: "p\"w d"))
    }

    @Test func propertiesFilesReadAsKafkaToolsReadThem() {
        let text = """
            # Kafka client config
            security.protocol=SASL_SSL
            ! another comment
              sasl.mechanism : SCRAM-SHA-256
            sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\
                username="alice" password="x";
            sasl.username alice
            sasl.password=pa\\=ss:word

            ssl.ca.location=/etc/ca.pem\r
            """
        let properties = PropertiesFile.parse(text)
        #expect(properties == [
            "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"x\";",
            "sasl.username": "alice", "sasl.password": "pa=ss:word", "ssl.ca.location": "/etc/ca.pem",
        ])
    }
}
