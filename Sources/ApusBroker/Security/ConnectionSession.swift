import ApusSecurity
import Logging
import NIOCore
import NIOSSL
import X509

/// Who is on the other end of one connection, and how far its SASL authentication got.
/// Confined to the connection's event loop (handlers reach it through a `NIOLoopBound`).
final class ConnectionSession {
    /// Where a SASL listener's connection stands (KIP-43/KIP-152).
    enum SaslState {
        /// PLAINTEXT and SSL listeners: no SASL.
        case notRequired
        /// Only ApiVersions and SaslHandshake are served.
        case awaitingHandshake
        /// The mechanism is chosen; SaslAuthenticate requests (or, after a v0 handshake, raw
        /// tokens) carry the exchange.
        case authenticating(SaslMechanism, rawTokens: Bool, scram: ScramServer?)
        case authenticated
        /// A failed login: the response is sent, then the connection closes.
        case failed
    }

    let listener: Listener
    /// The client's IP address, as ACL host entries name it.
    let clientHost: String
    var principal = KafkaPrincipal.anonymous
    var sasl: SaslState

    init(listener: Listener, clientHost: String) {
        self.listener = listener
        self.clientHost = clientHost
        sasl = listener.securityProtocol.usesSASL ? .awaitingHandshake : .notRequired
    }

    /// Whether requests other than ApiVersions and the SASL ones may be served.
    var isAuthenticated: Bool {
        switch sasl {
        case .notRequired, .authenticated: true
        default: false
        }
    }

    /// After a SaslHandshake v0 the next frames are bare SASL tokens, not Kafka requests.
    var expectsRawToken: Bool {
        if case .authenticating(_, rawTokens: true, _) = sasl { return true }
        return false
    }

    var hasFailed: Bool {
        if case .failed = sasl { return true }
        return false
    }

    /// On an SSL listener, the principal is the client certificate's distinguished name mapped
    /// by `ssl.principal.mapping.rules`; ANONYMOUS without a certificate. Returns false when
    /// no rule maps the name (Kafka refuses such connections).
    func adoptCertificate(_ certificate: NIOSSLCertificate?, rules: PrincipalMappingRules) -> Bool {
        guard listener.securityProtocol == .ssl, let certificate,
            let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der)
        else { return true }
        guard let name = rules.name(forDistinguishedName: parsed.subject.description) else { return false }
        principal = KafkaPrincipal(type: "User", name: name)
        return true
    }
}

/// Runs one step of a SASL exchange against the broker's credentials: PLAIN in one step,
/// SCRAM in two. Failures are logged with the user and mechanism, never the secret.
enum SaslAuthenticator {
    /// Kafka's message for a failed login.
    static func failureMessage(_ mechanism: SaslMechanism) -> String {
        "Authentication failed during authentication due to invalid credentials with SASL mechanism \(mechanism.rawValue)"
    }

    /// Feeds `token` to the session's exchange; returns the bytes to send back. On failure the
    /// session is marked failed and the error's message is what the client is told.
    static func step(
        _ token: [UInt8], session: ConnectionSession, security: BrokerSecurity, logger: Logger
    ) -> Result<[UInt8], SaslAuthenticationError> {
        guard case .authenticating(let mechanism, let rawTokens, let scram) = session.sasl else {
            session.sasl = .failed
            return .failure(SaslAuthenticationError("SaslAuthenticate before a successful SaslHandshake"))
        }
        do {
            switch mechanism {
            case .plain:
                let (_, user, password) = try PlainMessage.parse(token)
                let stored = security.credential(user: user, mechanism: .sha512) ?? security.credential(user: user, mechanism: .sha256)
                guard let stored, stored.verifies(password: password) else {
                    logFailure(user: user, mechanism: mechanism, session: session, logger: logger)
                    session.sasl = .failed
                    return .failure(SaslAuthenticationError(failureMessage(mechanism)))
                }
                session.principal = KafkaPrincipal(type: "User", name: user)
                session.sasl = .authenticated
                return .success([])
            case .scramSha256, .scramSha512:
                let scramMechanism: ScramMechanism = mechanism == .scramSha256 ? .sha256 : .sha512
                var server = scram ?? ScramServer(mechanism: scramMechanism, credential: { [security] user in
                    security.credential(user: user, mechanism: scramMechanism)
                })
                switch try server.receive(token) {
                case .challenge(let reply):
                    session.sasl = .authenticating(mechanism, rawTokens: rawTokens, scram: server)
                    return .success(reply)
                case .success(let serverFinal, let user):
                    session.principal = KafkaPrincipal(type: "User", name: user)
                    session.sasl = .authenticated
                    return .success(serverFinal)
                }
            }
        } catch {
            logFailure(user: scram?.user, mechanism: mechanism, session: session, logger: logger, reason: error.message)
            session.sasl = .failed
            return .failure(SaslAuthenticationError(failureMessage(mechanism)))
        }
    }

    private static func logFailure(user: String?, mechanism: SaslMechanism, session: ConnectionSession, logger: Logger, reason: String? = nil) {
        var metadata: Logger.Metadata = [
            "mechanism": "\(mechanism.rawValue)", "client": "\(session.clientHost)", "listener": "\(session.listener.name)",
        ]
        if let user { metadata["user"] = "\(user)" }
        if let reason { metadata["reason"] = "\(reason)" }
        logger.warning("SASL authentication failed", metadata: metadata)
    }
}
