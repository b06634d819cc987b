/// Kafka's `security.protocol` (client) and listener protocols (broker): whether a connection
/// is wrapped in TLS and whether it authenticates with SASL.
public enum SecurityProtocol: String, Sendable, Hashable, CaseIterable {
    case plaintext = "PLAINTEXT"
    case ssl = "SSL"
    case saslPlaintext = "SASL_PLAINTEXT"
    case saslSsl = "SASL_SSL"

    /// Whether connections are wrapped in TLS.
    public var usesTLS: Bool { self == .ssl || self == .saslSsl }
    /// Whether clients authenticate with SASL (after ApiVersions) before any other request.
    public var usesSASL: Bool { self == .saslPlaintext || self == .saslSsl }
}
