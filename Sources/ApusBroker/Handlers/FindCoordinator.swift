import ApusProtocol
import NIOCore

/// FindCoordinator (key 10): this single broker coordinates every group. (librdkafka 2.0.2 also
/// needs FindCoordinator v0 advertised before it enables LZ4.)
enum FindCoordinatorHandler: APIHandler {
    typealias Request = FindCoordinatorRequest
    static let versions: ClosedRange<Int16> = 0...3

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<FindCoordinatorResponse?> {
        let (host, port) = context.broker.advertisedAddress
        let response = FindCoordinatorResponse(
            errorCode: KafkaErrorCode.noError.rawValue, nodeId: context.broker.config.nodeId, host: host, port: Int32(port))
        return context.eventLoop.makeSucceededFuture(response)
    }
}
