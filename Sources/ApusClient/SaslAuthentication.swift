import ApusProtocol
import ApusSecurity
import NIOCore

/// SASL authentication on a new connection, as Kafka clients do it after ApiVersions (KIP-152):
/// SaslHandshake v1 names the mechanism, then SaslAuthenticate carries the mechanism's messages
/// (PLAIN: one round; SCRAM: client-first → server-first, client-final → server-final).
extension KafkaConnection {
    /// Authenticates with `credentials`; throws ``KafkaClientError/authenticationFailed(_:)``
    /// when the broker refuses them or the mechanism, or when the broker cannot do SASL.
    func authenticate(_ credentials: ClientSecurity.SASL) async throws {
        let mechanism = credentials.mechanism
        guard (try? version(for: SaslHandshakeRequest.self)) ?? 0 >= 1, (try? version(for: SaslAuthenticateRequest.self)) != nil else {
            throw KafkaClientError.authenticationFailed("the broker at \(address) does not offer SASL authentication (SaslHandshake v1 and SaslAuthenticate)")
        }
        let handshake = try await send(SaslHandshakeRequest(mechanism: mechanism.rawValue), maximumVersion: 1)
        switch KafkaErrorCode(rawValue: handshake.errorCode) ?? .unknownServerError {
        case .noError: break
        case .unsupportedSaslMechanism:
            let enabled = handshake.mechanisms.isEmpty ? "none" : handshake.mechanisms.joined(separator: ", ")
            throw KafkaClientError.authenticationFailed(
                "the broker at \(address) does not enable SASL mechanism \(mechanism.rawValue); it enables \(enabled) (UNSUPPORTED_SASL_MECHANISM)")
        case .illegalSaslState:
            throw KafkaClientError.authenticationFailed(
                "the broker at \(address) does not expect SASL on this listener (ILLEGAL_SASL_STATE); is security.protocol right?")
        case let code:
            throw KafkaClientError.authenticationFailed("SaslHandshake for \(mechanism.rawValue) answered \(code.name)")
        }
        if let scram = mechanism.scram {
            var client = ScramClient(mechanism: scram, username: credentials.username, password: credentials.password)
            do {
                let serverFirst = try await authenticateRound(client.firstMessage())
                let clientFinal = try client.finalMessage(serverFirst: serverFirst)
                let serverFinal = try await authenticateRound(clientFinal)
                try client.verify(serverFinal: serverFinal)
            } catch let error as SaslAuthenticationError {
                throw KafkaClientError.authenticationFailed("\(mechanism.rawValue) for user '\(credentials.username)': \(error.message)")
            }
        } else {
            _ = try await authenticateRound(PlainMessage.encode(username: credentials.username, password: credentials.password))
        }
    }

    /// Sends one SaslAuthenticate message and returns the broker's answer bytes.
    private func authenticateRound(_ bytes: [UInt8]) async throws -> [UInt8] {
        var response = try await send(SaslAuthenticateRequest(authBytes: ByteBuffer(bytes: bytes)), maximumVersion: 2)
        guard response.errorCode == 0 else {
            let code = KafkaErrorCode(rawValue: response.errorCode) ?? .unknownServerError
            throw KafkaClientError.authenticationFailed(code.name + (response.errorMessage.map { ": \($0)" } ?? ""))
        }
        return response.authBytes.readBytes(length: response.authBytes.readableBytes) ?? []
    }
}
