/// The server side of one SCRAM exchange (RFC 5802, RFC 7677) as Kafka runs it inside
/// SaslAuthenticate: client-first → server-first, client-final → server-final.
///
/// Only the gs2 header "n,," (or "n,a=<the same user>,") is accepted: no channel binding, so a
/// client-first with "p=" or "y" is refused, as is an authzid other than the user. Kafka's
/// "tokenauth=true" extension (delegation tokens) is refused. An unknown user gets a fake, stable
/// salt and the default iteration count and fails only at the proof, so the first step does not
/// reveal whether the user exists.
public struct ScramServer: Sendable {
    /// What to send back after a client message.
    public enum Step: Sendable, Equatable {
        /// Send this server-first-message and wait for the client-final-message.
        case challenge([UInt8])
        /// Send this server-final-message ("v=..."); the client is authenticated as `user`.
        case success(serverFinal: [UInt8], user: String)
    }

    private enum State: Sendable {
        case awaitingClientFirst
        case awaitingClientFinal(Exchange)
        case finished
    }

    /// What the server remembers between the two client messages.
    private struct Exchange: Sendable {
        var user: String
        /// nil for an unknown user: the proof always fails.
        var credential: ScramCredential?
        var gs2Header: Substring
        var clientFirstBare: Substring
        var serverFirst: Substring
        var nonce: Substring
        /// The client's part of `nonce`.
        var clientNonce: Substring
    }

    public let mechanism: ScramMechanism
    private let credential: @Sendable (String) -> ScramCredential?
    private let serverNonce: String
    private var state = State.awaitingClientFirst

    /// - Parameters:
    ///   - credential: looks up the stored credential of a user for this mechanism; nil for an unknown user.
    ///   - serverNonce: the server's half of the nonce; base64 of 32 random bytes when nil (set it only in tests).
    public init(
        mechanism: ScramMechanism,
        credential: @escaping @Sendable (String) -> ScramCredential?,
        serverNonce: String? = nil
    ) {
        self.mechanism = mechanism
        self.credential = credential
        self.serverNonce = serverNonce ?? ScramMessages.randomNonce()
    }

    /// The user the client-first-message named, while the exchange waits for the client-final.
    public var user: String? {
        if case .awaitingClientFinal(let exchange) = state { return exchange.user }
        return nil
    }

    /// Kafka's wording when the proof does not match, for a wrong password and an unknown user alike.
    public var invalidCredentialsError: SaslAuthenticationError {
        SaslAuthenticationError(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism \(mechanism.rawValue)")
    }

    /// Feeds the next client message. The first call takes the client-first-message and returns
    /// `.challenge`; the second takes the client-final-message and returns `.success` or throws.
    /// A malformed message, a failed check, or any call after the exchange ended throws, and ends it.
    public mutating func receive(_ message: [UInt8]) throws(SaslAuthenticationError) -> Step {
        let current = state
        state = .finished
        switch current {
        case .awaitingClientFirst:
            let exchange = try receiveClientFirst(message)
            state = .awaitingClientFinal(exchange)
            return .challenge(Array(exchange.serverFirst.utf8))
        case .awaitingClientFinal(let exchange):
            return try receiveClientFinal(message, exchange: exchange)
        case .finished:
            throw SaslAuthenticationError("Unexpected SASL message: the \(mechanism.rawValue) exchange has ended")
        }
    }

    private func malformed(_ what: String) -> SaslAuthenticationError {
        SaslAuthenticationError("Invalid \(mechanism.rawValue) \(what)")
    }

    private func receiveClientFirst(_ message: [UInt8]) throws(SaslAuthenticationError) -> Exchange {
        guard let text = ScramMessages.text(message) else {
            throw malformed("client first message: empty, over \(maximumSaslMessageLength) bytes or not UTF-8")
        }
        // gs2-header = gs2-cbind-flag "," [ authzid ] ","
        let parts = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw malformed("client first message") }
        switch parts[0] {
        case "n": break
        case "y": throw SaslAuthenticationError("Channel binding is not supported: the client must send gs2 header \"n\"")
        default:
            if parts[0].hasPrefix("p=") {
                throw SaslAuthenticationError("Channel binding is not supported: the client must send gs2 header \"n\"")
            }
            throw malformed("client first message: bad gs2 header")
        }
        var authorizationId: String?
        if !parts[1].isEmpty {
            guard parts[1].hasPrefix("a="), let decoded = ScramMessages.decodeSaslName(parts[1].dropFirst(2)) else {
                throw malformed("client first message: bad authorization id")
            }
            authorizationId = decoded
        }
        let clientFirstBare = parts[2]
        let gs2Header = text[..<clientFirstBare.startIndex]
        guard let attributes = ScramMessages.attributes(clientFirstBare), attributes.count >= 2 else {
            throw malformed("client first message")
        }
        if attributes[0].name == "m" {
            throw SaslAuthenticationError("Unsupported mandatory SCRAM extension")
        }
        guard attributes[0].name == "n", let user = ScramMessages.decodeSaslName(attributes[0].value) else {
            throw malformed("client first message: bad user name")
        }
        guard attributes[1].name == "r", ScramMessages.isValidNonce(attributes[1].value) else {
            throw malformed("client first message: bad nonce")
        }
        for extensionAttribute in attributes.dropFirst(2) {
            guard extensionAttribute.name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                throw malformed("client first message: bad extension")
            }
            if extensionAttribute.name == "tokenauth" && extensionAttribute.value.lowercased() == "true" {
                throw SaslAuthenticationError("Delegation token authentication is not supported")
            }
        }
        if let authorizationId, authorizationId != user {
            throw SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id that is different from username")
        }

        var stored = credential(user)
        if let found = stored, found.mechanism != mechanism
            || !(ScramMechanism.minimumIterations...ScramMechanism.maximumIterations).contains(found.iterations)
        {
            stored = nil
        }
        let salt = stored?.salt ?? fakeSalt(user: user)
        let iterations = stored?.iterations ?? ScramMechanism.minimumIterations
        let nonce = attributes[1].value + serverNonce
        let serverFirst = "r=\(nonce),s=\(Base64.encode(salt)),i=\(iterations)"
        return Exchange(
            user: user, credential: stored, gs2Header: gs2Header, clientFirstBare: clientFirstBare,
            serverFirst: Substring(serverFirst), nonce: Substring(nonce), clientNonce: attributes[1].value)
    }

    private func receiveClientFinal(_ message: [UInt8], exchange: Exchange) throws(SaslAuthenticationError) -> Step {
        guard let text = ScramMessages.text(message) else {
            throw malformed("client final message: empty, over \(maximumSaslMessageLength) bytes or not UTF-8")
        }
        // client-final-message = channel-binding "," nonce ["," extensions] "," proof
        guard let proofRange = text.ranges(of: ",p=").last else {
            throw malformed("client final message: no proof")
        }
        let withoutProof = text[..<proofRange.lowerBound]
        guard let attributes = ScramMessages.attributes(withoutProof), attributes.count >= 2,
              attributes[0].name == "c", attributes[1].name == "r",
              let proof = Base64.decode(text[proofRange.upperBound...])
        else {
            throw malformed("client final message")
        }
        guard attributes[0].value == Base64.encode(Array(exchange.gs2Header.utf8)) else {
            throw SaslAuthenticationError("Invalid \(mechanism.rawValue) channel binding: expected the gs2 header of the client first message")
        }
        // librdkafka before 2.6.1 (kcat and Debian's packages among them) sends its own nonce in
        // front of the whole nonce again (confluentinc/librdkafka#4895); Kafka up to 3.9 accepts
        // that, so do we: the server's part must still come back whole.
        let nonce = attributes[1].value
        guard nonce == exchange.nonce || nonce == exchange.clientNonce + exchange.nonce else {
            throw SaslAuthenticationError("Invalid \(mechanism.rawValue) nonce: it is not the one of the server first message")
        }
        guard let stored = exchange.credential, proof.count == mechanism.hashLength else {
            throw invalidCredentialsError
        }
        let authMessage = ScramMessages.authMessage(
            clientFirstBare: exchange.clientFirstBare, serverFirst: exchange.serverFirst,
            clientFinalWithoutProof: withoutProof)
        let clientSignature = mechanism.hmac(key: stored.storedKey, authMessage)
        let clientKey = zip(proof, clientSignature).map { $0 ^ $1 }
        guard constantTimeEquals(mechanism.hash(clientKey), stored.storedKey) else {
            throw invalidCredentialsError
        }
        let serverSignature = mechanism.hmac(key: stored.serverKey, authMessage)
        return .success(serverFinal: Array("v=\(Base64.encode(serverSignature))".utf8), user: exchange.user)
    }

    /// The salt shown for an unknown user: the same on every attempt for the same name (so that it
    /// cannot be told from a real one by asking twice), different across names and processes.
    private func fakeSalt(user: String) -> [UInt8] {
        ScramMechanism.sha256.hmac(key: fakeSaltKey, Array("\(mechanism.rawValue)\u{0}\(user)".utf8))
    }
}

/// The per-process secret behind `ScramServer`'s fake salts.
private let fakeSaltKey = randomBytes(32)
