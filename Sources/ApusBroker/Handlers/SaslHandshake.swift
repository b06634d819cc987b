import ApusProtocol
import ApusSecurity
import NIOCore

/// SaslHandshake (key 17): the client names its mechanism. v1 clients then send
/// SaslAuthenticate requests; v0 clients send bare SASL tokens. An unknown mechanism, or one
/// the listener does not enable (`sasl.enabled.mechanisms`, or its
/// `listener.name.<listener>.sasl.enabled.mechanisms`), answers UNSUPPORTED_SASL_MECHANISM with
/// the enabled ones; a handshake on a
/// listener without SASL, or a second one, ILLEGAL_SASL_STATE.
enum SaslHandshakeHandler: APIHandler {
    typealias Request = SaslHandshakeRequest
    static let versions: ClosedRange<Int16> = 0...1

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<SaslHandshakeResponse?> {
        let session = context.session.value
        let enabled = context.broker.security.config(for: context.listener).saslEnabledMechanisms
        var response = SaslHandshakeResponse(errorCode: 0, mechanisms: enabled.map(\.rawValue))
        guard case .awaitingHandshake = session.sasl else {
            response.errorCode = KafkaErrorCode.illegalSaslState.rawValue
            return context.eventLoop.makeSucceededFuture(response)
        }
        guard let mechanism = SaslMechanism(rawValue: request.mechanism), enabled.contains(mechanism) else {
            response.errorCode = KafkaErrorCode.unsupportedSaslMechanism.rawValue
            return context.eventLoop.makeSucceededFuture(response)
        }
        session.sasl = .authenticating(mechanism, rawTokens: context.apiVersion == 0, scram: nil)
        return context.eventLoop.makeSucceededFuture(response)
    }
}
