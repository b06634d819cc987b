import ApusProtocol
import ApusSecurity
import NIOCore

/// InitProducerId (key 22): a producer id and epoch for an idempotent producer. An existing
/// producer that asks again (v3+, KIP-360) gets its epoch bumped, which fences its older
/// instances; at the epoch limit it gets a fresh id. Transactions are not offered: a
/// transactional id is refused with UNSUPPORTED_VERSION, as a broker without the transaction
/// coordinator answers. Needs IdempotentWrite on the cluster or Write on some topic (KIP-679).
enum InitProducerIdHandler: APIHandler {
    typealias Request = InitProducerIdRequest
    static let versions: ClosedRange<Int16> = 0...4

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<InitProducerIdResponse?> {
        var response = InitProducerIdResponse(errorCode: 0, producerId: -1, producerEpoch: -1)
        if request.transactionalId != nil {
            response.errorCode = KafkaErrorCode.unsupportedVersion.rawValue
            return context.eventLoop.makeSucceededFuture(response)
        }
        // KIP-679: IdempotentWrite on the cluster, or Write on any topic, allows an id.
        guard context.isAuthorizedOnCluster(.idempotentWrite)
            || context.broker.security.authorizeAny(context.principal, host: context.clientHost, .write, .topic)
        else {
            response.errorCode = KafkaErrorCode.clusterAuthorizationFailed.rawValue
            return context.eventLoop.makeSucceededFuture(response)
        }
        do {
            if request.producerId >= 0 && request.producerEpoch >= 0 && request.producerEpoch < Int16.max - 1 {
                (response.producerId, response.producerEpoch) = (request.producerId, request.producerEpoch + 1)
            } else {
                (response.producerId, response.producerEpoch) = (try context.broker.producerIds.allocate(), 0)
            }
        } catch {
            response.errorCode = KafkaErrorCode.kafkaStorageError.rawValue
        }
        return context.eventLoop.makeSucceededFuture(response)
    }
}
