/// SASL/PLAIN's one message (RFC 4616): authzid NUL authcid NUL passwd, UTF-8.
public enum PlainMessage {
    /// The three fields of a PLAIN message. Refuses a message over 4 KiB, without exactly two NULs,
    /// not UTF-8, with an empty user name or password, or with an authorization id that is neither
    /// empty nor the user name (Kafka does not let one user act as another).
    public static func parse(
        _ bytes: [UInt8]
    ) throws(SaslAuthenticationError) -> (authorizationId: String, username: String, password: String) {
        guard bytes.count <= maximumSaslMessageLength else {
            throw SaslAuthenticationError("Invalid SASL/PLAIN message: over \(maximumSaslMessageLength) bytes")
        }
        let fields = bytes.split(separator: 0, omittingEmptySubsequences: false)
        guard fields.count == 3 else {
            throw SaslAuthenticationError("Invalid SASL/PLAIN message: expected authorization id, user name and password separated by NUL")
        }
        guard let authorizationId = String(validating: fields[0], as: UTF8.self),
              let username = String(validating: fields[1], as: UTF8.self),
              let password = String(validating: fields[2], as: UTF8.self)
        else {
            throw SaslAuthenticationError("Invalid SASL/PLAIN message: not UTF-8")
        }
        guard !username.isEmpty else {
            throw SaslAuthenticationError("Authentication failed: username not specified")
        }
        guard !password.isEmpty else {
            throw SaslAuthenticationError("Authentication failed: password not specified")
        }
        guard authorizationId.isEmpty || authorizationId == username else {
            throw SaslAuthenticationError("Authentication failed: Client requested an authorization id that is different from username")
        }
        return (authorizationId, username, password)
    }

    /// The PLAIN message a client sends: empty authorization id, then user name and password.
    public static func encode(username: String, password: String) -> [UInt8] {
        [0] + Array(username.utf8) + [0] + Array(password.utf8)
    }
}
