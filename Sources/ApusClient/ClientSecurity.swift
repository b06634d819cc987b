import ApusSecurity
import Foundation

/// How a client secures its connections: TLS, SASL authentication, or both, as Kafka's
/// `security.protocol` says. The default is plaintext, unauthenticated.
///
/// ```swift
/// var configuration = ProducerConfiguration(bootstrapServers: ["broker:9093"])
/// configuration.security = try ClientSecurity(properties: [
///     "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
///     "sasl.username": "alice", "sasl.password": "alice-secret", "ssl.ca.location": "/etc/kafka/ca.pem",
/// ])
/// ```
public struct ClientSecurity: Sendable, Hashable, CustomStringConvertible {
    /// Kafka's `security.protocol` (defined in ApusSecurity, shared with the broker's listeners).
    public typealias SecurityProtocol = ApusSecurity.SecurityProtocol

    /// TLS settings, used when ``securityProtocol`` is `SSL` or `SASL_SSL`. Files are PEM.
    public struct TLS: Sendable, Hashable {
        /// CA certificates that may sign the broker's certificate (`ssl.ca.location`); nil: the
        /// system's trust roots.
        public var caLocation: String?
        /// The client's certificate chain, for mutual TLS (`ssl.certificate.location`).
        public var certificateLocation: String?
        /// The client's private key, for mutual TLS (`ssl.key.location`).
        public var keyLocation: String?
        /// The passphrase of an encrypted private key (`ssl.key.password`).
        public var keyPassword: String?
        /// Check that the broker's certificate names the host connected to
        /// (`ssl.endpoint.identification.algorithm=https`, the default; `none` turns it off).
        public var verifyHostname = true

        public init(
            caLocation: String? = nil, certificateLocation: String? = nil, keyLocation: String? = nil, keyPassword: String? = nil,
            verifyHostname: Bool = true
        ) {
            self.caLocation = caLocation
            self.certificateLocation = certificateLocation
            self.keyLocation = keyLocation
            self.keyPassword = keyPassword
            self.verifyHostname = verifyHostname
        }
    }

    /// SASL credentials, used when ``securityProtocol`` is `SASL_PLAINTEXT` or `SASL_SSL`.
    public struct SASL: Sendable, Hashable {
        /// `sasl.mechanism`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
        public var mechanism: SaslMechanism
        /// `sasl.username`.
        public var username: String
        /// `sasl.password`. With SCRAM it never leaves the client; with PLAIN it is sent as is,
        /// so use PLAIN only over TLS.
        public var password: String

        public init(mechanism: SaslMechanism, username: String, password: String) {
            self.mechanism = mechanism
            self.username = username
            self.password = password
        }
    }

    /// Default `PLAINTEXT`.
    public var securityProtocol: SecurityProtocol
    /// TLS settings; only read when the protocol uses TLS.
    public var tls: TLS
    /// SASL credentials; needed when the protocol uses SASL.
    public var sasl: SASL?

    /// Plaintext, no authentication: the default.
    public static let plaintext = ClientSecurity()

    public init(securityProtocol: SecurityProtocol = .plaintext, tls: TLS = TLS(), sasl: SASL? = nil) {
        self.securityProtocol = securityProtocol
        self.tls = tls
        self.sasl = sasl
    }

    /// The property names ``init(properties:)`` reads: librdkafka's (`sasl.mechanisms` is its
    /// spelling of `sasl.mechanism`), and the Java client's `sasl.jaas.config`, whose
    /// `username="…"` and `password="…"` stand in for `sasl.username` and `sasl.password`.
    public static let propertyNames: [String] = [
        "security.protocol", "sasl.mechanism", "sasl.mechanisms", "sasl.username", "sasl.password", "sasl.jaas.config",
        "ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.key.password",
        "ssl.endpoint.identification.algorithm",
    ]

    /// Whether `key` is in a namespace ``init(properties:)`` owns (`security.`, `sasl.`, `ssl.`).
    public static func isSecurityProperty(_ key: String) -> Bool {
        key.hasPrefix("security.") || key.hasPrefix("sasl.") || key.hasPrefix("ssl.")
    }

    /// Reads librdkafka's property names (see ``propertyNames``). Keys outside the
    /// `security.`, `sasl.` and `ssl.` namespaces are ignored, so a whole client properties
    /// file can be passed; an unknown key inside them, a bad value, or settings that cannot
    /// work together throw ``ClientSecurityError`` with one plain sentence. SASL without a
    /// `sasl.mechanism` uses PLAIN.
    public init(properties: [String: String]) throws(ClientSecurityError) {
        for key in properties.keys.sorted() where Self.isSecurityProperty(key) && !Self.propertyNames.contains(key) {
            throw ClientSecurityError("unknown security property '\(key)'; the known ones are \(Self.propertyNames.joined(separator: ", ")).")
        }
        let text = properties["security.protocol"] ?? "PLAINTEXT"
        guard let securityProtocol = SecurityProtocol(rawValue: text.uppercased()) else {
            throw ClientSecurityError(
                "security.protocol '\(text)' is not one of \(SecurityProtocol.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        self.init(securityProtocol: securityProtocol)

        let saslKeys = properties.keys.filter { $0.hasPrefix("sasl.") }.sorted()
        if securityProtocol.usesSASL {
            if let one = properties["sasl.mechanism"], let other = properties["sasl.mechanisms"], one != other {
                throw ClientSecurityError("sasl.mechanism '\(one)' and sasl.mechanisms '\(other)' disagree; give one of them.")
            }
            let name = properties["sasl.mechanism"] ?? properties["sasl.mechanisms"] ?? SaslMechanism.plain.rawValue
            guard let mechanism = SaslMechanism(rawValue: name.uppercased()) else {
                throw ClientSecurityError(
                    "sasl.mechanism '\(name)' is not supported; use one of \(SaslMechanism.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            let jaas = properties["sasl.jaas.config"].map(Self.jaasOptions) ?? [:]
            guard let username = properties["sasl.username"] ?? jaas["username"], !username.isEmpty else {
                throw ClientSecurityError("security.protocol \(securityProtocol.rawValue) needs sasl.username and sasl.password.")
            }
            guard let password = properties["sasl.password"] ?? jaas["password"] else {
                throw ClientSecurityError("security.protocol \(securityProtocol.rawValue) needs sasl.password for user '\(username)'.")
            }
            sasl = SASL(mechanism: mechanism, username: username, password: password)
        } else if let key = saslKeys.first {
            throw ClientSecurityError(
                "\(key) is set but security.protocol is \(securityProtocol.rawValue); use SASL_SSL or SASL_PLAINTEXT to authenticate with SASL.")
        }

        let sslKeys = properties.keys.filter { $0.hasPrefix("ssl.") }.sorted()
        if securityProtocol.usesTLS {
            tls.caLocation = properties["ssl.ca.location"]
            tls.certificateLocation = properties["ssl.certificate.location"]
            tls.keyLocation = properties["ssl.key.location"]
            tls.keyPassword = properties["ssl.key.password"]
            switch properties["ssl.endpoint.identification.algorithm"]?.lowercased() {
            case nil, "https": tls.verifyHostname = true
            case "none", "": tls.verifyHostname = false
            case let other?:
                throw ClientSecurityError("ssl.endpoint.identification.algorithm '\(other)' is not https or none.")
            }
            if (tls.certificateLocation == nil) != (tls.keyLocation == nil) {
                throw ClientSecurityError("mutual TLS needs both ssl.certificate.location and ssl.key.location.")
            }
            if tls.keyPassword != nil && tls.keyLocation == nil {
                throw ClientSecurityError("ssl.key.password is set without ssl.key.location.")
            }
            for (key, path) in [("ssl.ca.location", tls.caLocation), ("ssl.certificate.location", tls.certificateLocation), ("ssl.key.location", tls.keyLocation)] {
                if let path, !FileManager.default.isReadableFile(atPath: path) {
                    throw ClientSecurityError("\(key) '\(path)' is not a readable file.")
                }
            }
        } else if let key = sslKeys.first {
            throw ClientSecurityError(
                "\(key) is set but security.protocol is \(securityProtocol.rawValue); use SSL or SASL_SSL to connect with TLS.")
        }
    }

    /// The options of a JAAS login module line:
    /// `org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="secret";`.
    static func jaasOptions(_ text: String) -> [String: String] {
        var options: [String: String] = [:]
        var rest = Substring(text)
        while let equals = rest.firstIndex(of: "=") {
            let key = rest[..<equals].split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).last.map(String.init) ?? ""
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var escaped = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if escaped {
                        value.append(character)
                        escaped = false
                    } else if character == "\\" {
                        escaped = true
                    } else if character == "\"" {
                        break
                    } else {
                        value.append(character)
                    }
                }
            } else {
                let end = rest.firstIndex { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == ";" } ?? rest.endIndex
                value = String(rest[..<end])
                rest = rest[end...]
            }
            if !key.isEmpty { options[key] = value }
        }
        return options
    }

    /// The protocol and user, never the password.
    public var description: String {
        var text = securityProtocol.rawValue
        if securityProtocol.usesSASL, let sasl { text += " \(sasl.mechanism.rawValue) user \(sasl.username)" }
        if securityProtocol.usesTLS {
            text += tls.caLocation.map { " CA \($0)" } ?? " system trust roots"
            if let certificate = tls.certificateLocation { text += " client certificate \(certificate)" }
            if !tls.verifyHostname { text += " no hostname verification" }
        }
        return text
    }
}

/// Client security properties that cannot be used, in one plain sentence.
public struct ClientSecurityError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
