import ApusSecurity

/// The broker's security settings, under Kafka's names: TLS key material, SASL mechanisms,
/// the authorizer and its super users. Listeners themselves are in ``BrokerConfig/listeners``.
///
/// The defaults are the single-node development mode: no TLS material, SCRAM mechanisms
/// enabled for SASL listeners (there are none by default), no authorizer.
public struct SecurityConfig: Sendable, Equatable {
    /// `ssl.client.auth`: whether TLS listeners ask clients for a certificate.
    public enum ClientAuth: String, Sendable {
        /// No certificate is asked for.
        case none
        /// A certificate is asked for; one presented must be signed by the truststore, and a
        /// client that presents none is served as `User:ANONYMOUS`.
        case requested
        /// A certificate signed by the truststore is demanded, or the handshake fails.
        case required
    }

    /// `ssl.keystore.location`: one PEM file with the certificate chain and the private key
    /// (Kafka's `ssl.keystore.type=PEM`). Required when a listener uses TLS.
    public var keystoreLocation: String?
    /// `ssl.key.password`: the password of an encrypted private key.
    public var keyPassword: String?
    /// `ssl.truststore.location`: PEM certificates of the CAs that sign client certificates.
    public var truststoreLocation: String?
    /// `ssl.client.auth`: `required` demands a client certificate signed by the truststore,
    /// `requested` checks one if presented.
    public var clientAuth = ClientAuth.none
    /// `ssl.principal.mapping.rules`: how a client certificate's name becomes a principal.
    public var principalMappingRules = PrincipalMappingRules.default
    /// `sasl.enabled.mechanisms`: what SASL listeners accept.
    public var saslEnabledMechanisms: [SaslMechanism] = [.scramSha256, .scramSha512]
    /// `authorizer.class.name` set: ACLs are checked on every request.
    public var authorizerEnabled = false
    /// `super.users`: principals allowed everything (`User:admin;User:ops`).
    public var superUsers: Set<KafkaPrincipal> = []
    /// `allow.everyone.if.no.acl.found`: what a resource with no ACL at all allows.
    public var allowEveryoneIfNoAclFound = false

    public init() {}

    /// The Kafka authorizer class names that turn ACLs on.
    static let authorizerClassNames: Set<String> = [
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer", "kafka.security.authorizer.AclAuthorizer",
        "kafka.security.auth.SimpleAclAuthorizer",
    ]

    static let knownProperties: Set<String> = [
        "ssl.keystore.type", "ssl.keystore.location", "ssl.key.password", "ssl.keystore.password",
        "ssl.truststore.type", "ssl.truststore.location", "ssl.client.auth", "ssl.principal.mapping.rules",
        "sasl.enabled.mechanisms", "authorizer.class.name", "super.users", "allow.everyone.if.no.acl.found",
    ]

    /// The properties one listener may set for itself as `listener.name.<listener>.<property>`,
    /// over the broker-wide value (Kafka's listener-scoped TLS and SASL settings). The
    /// authorizer and super users are the broker's alone.
    static let listenerProperties: Set<String> = [
        "ssl.keystore.type", "ssl.keystore.location", "ssl.key.password", "ssl.keystore.password",
        "ssl.truststore.type", "ssl.truststore.location", "ssl.client.auth", "ssl.principal.mapping.rules",
        "sasl.enabled.mechanisms",
    ]

    /// Applies one property; returns false when the key is not a security property.
    mutating func apply(key: String, value: String) throws(ConfigError) -> Bool {
        switch key {
        case "ssl.keystore.type", "ssl.truststore.type":
            guard value.uppercased() == "PEM" else { throw ConfigError("\(key)=\(value): only PEM is supported") }
        case "ssl.keystore.location": keystoreLocation = value.isEmpty ? nil : value
        case "ssl.key.password", "ssl.keystore.password": keyPassword = value.isEmpty ? nil : value
        case "ssl.truststore.location": truststoreLocation = value.isEmpty ? nil : value
        case "ssl.client.auth":
            guard let parsed = ClientAuth(rawValue: value.lowercased()) else {
                throw ConfigError("\(key)=\(value): expected none, requested or required")
            }
            clientAuth = parsed
        case "ssl.principal.mapping.rules":
            do { principalMappingRules = try PrincipalMappingRules(parsing: value) } catch {
                throw ConfigError("\(key): \(error)")
            }
        case "sasl.enabled.mechanisms":
            var mechanisms: [SaslMechanism] = []
            for name in value.split(separator: ",").map({ String($0).trimmed.uppercased() }) where !name.isEmpty {
                guard let mechanism = SaslMechanism(rawValue: name) else {
                    throw ConfigError("\(key)=\(value): unsupported mechanism \(name); use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
                }
                mechanisms.append(mechanism)
            }
            saslEnabledMechanisms = mechanisms
        case "authorizer.class.name":
            guard value.isEmpty || Self.authorizerClassNames.contains(value) else {
                throw ConfigError("\(key)=\(value): use org.apache.kafka.metadata.authorizer.StandardAuthorizer (ACLs), or empty for none")
            }
            authorizerEnabled = !value.isEmpty
        case "super.users":
            var users: Set<KafkaPrincipal> = []
            for text in value.split(separator: ";").map({ String($0).trimmed }) where !text.isEmpty {
                guard let principal = KafkaPrincipal(parsing: text) else {
                    throw ConfigError("\(key)=\(value): \(text) is not a principal like User:admin")
                }
                users.insert(principal)
            }
            superUsers = users
        case "allow.everyone.if.no.acl.found":
            guard let flag = Bool(value.lowercased()) else { throw ConfigError("\(key)=\(value): expected true or false") }
            allowEveryoneIfNoAclFound = flag
        default:
            return false
        }
        return true
    }
}
