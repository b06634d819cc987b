/// The client side of SCRAM (RFC 5802, RFC 7677) as Kafka clients run it: gs2 header "n,,", no
/// channel binding. Call `firstMessage()`, then `finalMessage(serverFirst:)`, then `verify(serverFinal:)`.
public struct ScramClient: Sendable {
    public let mechanism: ScramMechanism
    public let username: String
    private let password: String
    private let clientNonce: String
    /// The server signature `verify(serverFinal:)` expects; set by `finalMessage(serverFirst:)`.
    private var expectedServerSignature: [UInt8]?

    /// - Parameter clientNonce: the client's nonce; base64 of 32 random bytes when nil (set it only in tests).
    public init(mechanism: ScramMechanism, username: String, password: String, clientNonce: String? = nil) {
        self.mechanism = mechanism
        self.username = username
        self.password = password
        self.clientNonce = clientNonce ?? ScramMessages.randomNonce()
    }

    private var clientFirstBare: String {
        "n=\(ScramMessages.encodeSaslName(username)),r=\(clientNonce)"
    }

    /// The client-first-message: "n,,n=<user>,r=<nonce>", with "," and "=" in the user name escaped.
    public mutating func firstMessage() -> [UInt8] {
        Array("n,,\(clientFirstBare)".utf8)
    }

    /// The client-final-message for the server's first message. Refuses a nonce that does not extend
    /// ours, and an iteration count outside Kafka's bounds (fewer than 4096 would be a downgrade).
    public mutating func finalMessage(serverFirst: [UInt8]) throws(SaslAuthenticationError) -> [UInt8] {
        guard let text = ScramMessages.text(serverFirst), let attributes = ScramMessages.attributes(text),
              attributes.count >= 3
        else {
            throw SaslAuthenticationError("Invalid \(mechanism.rawValue) server first message")
        }
        if attributes[0].name == "m" {
            throw SaslAuthenticationError("Unsupported mandatory SCRAM extension")
        }
        guard attributes[0].name == "r", attributes[1].name == "s", attributes[2].name == "i",
              ScramMessages.isValidNonce(attributes[0].value),
              let salt = Base64.decode(attributes[1].value), !salt.isEmpty,
              attributes[2].value.allSatisfy({ $0.isASCII && $0.isNumber }), let iterations = Int(attributes[2].value)
        else {
            throw SaslAuthenticationError("Invalid \(mechanism.rawValue) server first message")
        }
        let nonce = attributes[0].value
        guard nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count else {
            throw SaslAuthenticationError("Invalid \(mechanism.rawValue) server nonce: it does not extend the client nonce")
        }
        guard iterations >= ScramMechanism.minimumIterations else {
            throw SaslAuthenticationError(
                "Server asked for \(iterations) \(mechanism.rawValue) iterations, fewer than the minimum \(ScramMechanism.minimumIterations)")
        }
        guard iterations <= ScramMechanism.maximumIterations else {
            throw SaslAuthenticationError(
                "Server asked for \(iterations) \(mechanism.rawValue) iterations, more than the maximum \(ScramMechanism.maximumIterations)")
        }
        let saltedPassword = mechanism.saltedPassword(password: password, salt: salt, iterations: iterations)
        let clientKey = mechanism.clientKey(saltedPassword: saltedPassword)
        let withoutProof = ScramMessages.clientFinalWithoutProof(gs2Header: "n,,", nonce: nonce)
        let authMessage = ScramMessages.authMessage(
            clientFirstBare: Substring(clientFirstBare), serverFirst: text, clientFinalWithoutProof: Substring(withoutProof))
        let clientSignature = mechanism.hmac(key: mechanism.hash(clientKey), authMessage)
        let proof = zip(clientKey, clientSignature).map { $0 ^ $1 }
        expectedServerSignature = mechanism.hmac(key: mechanism.serverKey(saltedPassword: saltedPassword), authMessage)
        return Array("\(withoutProof),p=\(Base64.encode(proof))".utf8)
    }

    /// Checks the server-final-message: "v=<signature>" must be the server signature (proving the
    /// server knows the credential); "e=<error>" throws with the server's error text.
    public mutating func verify(serverFinal: [UInt8]) throws(SaslAuthenticationError) {
        guard let expected = expectedServerSignature else {
            throw SaslAuthenticationError("The \(mechanism.rawValue) server final message came before the client final message")
        }
        expectedServerSignature = nil
        guard let text = ScramMessages.text(serverFinal), let attributes = ScramMessages.attributes(text),
              let first = attributes.first
        else {
            throw SaslAuthenticationError("Invalid \(mechanism.rawValue) server final message")
        }
        switch first.name {
        case "e":
            throw SaslAuthenticationError(String(first.value))
        case "v":
            guard let signature = Base64.decode(first.value), constantTimeEquals(signature, expected) else {
                throw SaslAuthenticationError("Invalid \(mechanism.rawValue) server signature: the server does not know the credential")
            }
        default:
            throw SaslAuthenticationError("Invalid \(mechanism.rawValue) server final message")
        }
    }
}
