/// SASL mechanism names as clients send them in SaslHandshake (and as `sasl.enabled.mechanisms` lists them).
public enum SaslMechanism: String, Sendable, CaseIterable {
    case plain = "PLAIN"
    case scramSha256 = "SCRAM-SHA-256"
    case scramSha512 = "SCRAM-SHA-512"

    /// The SCRAM variant of this mechanism, or nil for PLAIN.
    public var scram: ScramMechanism? {
        switch self {
        case .plain: nil
        case .scramSha256: .sha256
        case .scramSha512: .sha512
        }
    }
}

/// Why an authentication failed. `message` is safe to log and to send to the client in
/// SaslAuthenticate's error message: it never contains a password, a proof or a key.
public struct SaslAuthenticationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Longest SASL message (PLAIN or SCRAM) Apus accepts; real ones are a few hundred bytes.
let maximumSaslMessageLength = 4096
