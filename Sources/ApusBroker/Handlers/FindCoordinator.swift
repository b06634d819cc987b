import ApusProtocol
import ApusSecurity
import NIOCore

/// FindCoordinator (key 10): this single broker coordinates every group (key type 0).
/// Transactions are not offered, so a transaction coordinator (key type 1) is not available.
/// v4+ is the batched form (CoordinatorKeys). librdkafka 2.0.2 also needs v0 advertised
/// before it enables LZ4.
enum FindCoordinatorHandler: APIHandler {
    typealias Request = FindCoordinatorRequest
    static let versions: ClosedRange<Int16> = 0...4

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<FindCoordinatorResponse?> {
        let (host, port) = context.advertisedAddress
        let nodeId = context.broker.config.nodeId
        func error(for key: String) -> KafkaErrorCode {
            switch request.keyType {
            case 0: context.isAuthorized(.describe, .group, key) ? .noError : .groupAuthorizationFailed
            case 1: .coordinatorNotAvailable
            default: .invalidRequest
            }
        }
        var response: FindCoordinatorResponse
        if context.apiVersion >= 4 {
            response = FindCoordinatorResponse(coordinators: request.coordinatorKeys.map { key in
                let error = error(for: key)
                return error == .noError
                    ? .init(key: key, nodeId: nodeId, host: host, port: Int32(port), errorCode: 0)
                    : .init(key: key, nodeId: -1, host: "", port: -1, errorCode: error.rawValue, errorMessage: message(error))
            })
        } else if case let error = error(for: request.key), error != .noError {
            response = FindCoordinatorResponse(errorCode: error.rawValue, errorMessage: message(error), nodeId: -1, host: "", port: -1)
        } else {
            response = FindCoordinatorResponse(errorCode: 0, nodeId: nodeId, host: host, port: Int32(port))
        }
        return context.eventLoop.makeSucceededFuture(response)
    }

    static func message(_ error: KafkaErrorCode) -> String? {
        switch error {
        case .coordinatorNotAvailable: "transactions are not supported by this broker"
        case .invalidRequest: "unknown coordinator key type"
        default: nil
        }
    }
}
