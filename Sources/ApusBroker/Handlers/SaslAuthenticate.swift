import ApusProtocol
import ApusSecurity
import NIOCore

/// SaslAuthenticate (key 36): one step of the exchange the handshake chose. A failed login
/// answers SASL_AUTHENTICATION_FAILED with Kafka's message, and the connection then closes;
/// a request out of turn answers ILLEGAL_SASL_STATE. Sessions do not expire (lifetime 0).
enum SaslAuthenticateHandler: APIHandler {
    typealias Request = SaslAuthenticateRequest
    static let versions: ClosedRange<Int16> = 0...2

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<SaslAuthenticateResponse?> {
        let session = context.session.value
        guard case .authenticating(_, rawTokens: false, _) = session.sasl else {
            session.sasl = .failed
            return context.eventLoop.makeSucceededFuture(SaslAuthenticateResponse(
                errorCode: KafkaErrorCode.illegalSaslState.rawValue, errorMessage: "SaslAuthenticate without a SaslHandshake v1 first"))
        }
        let token = request.authBytes.getBytes(at: request.authBytes.readerIndex, length: request.authBytes.readableBytes) ?? []
        let response: SaslAuthenticateResponse
        switch SaslAuthenticator.step(token, session: session, security: context.broker.security, logger: context.logger) {
        case .success(let reply):
            response = SaslAuthenticateResponse(errorCode: 0, authBytes: ByteBuffer(bytes: reply), sessionLifetimeMs: 0)
        case .failure(let error):
            response = SaslAuthenticateResponse(errorCode: KafkaErrorCode.saslAuthenticationFailed.rawValue, errorMessage: error.message)
        }
        return context.eventLoop.makeSucceededFuture(response)
    }
}
