import NIOCore
import NIOPosix
import Testing
@testable import ApusClient

/// A delivery asked for after its batch is answered reads the kept outcome, not the future:
/// the batch's promise here is completed only after the answers were read.
@Suite struct PendingDeliveryTests {
    @Test(.timeLimit(.minutes(1))) func anAnsweredBatchIsReadWithoutWaitingOnItsFuture() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let promise = loop.makePromise(of: BatchOutcome.self)
        let result = BatchResult()
        let partition = TopicPartition("orders", 3)
        let deliveries = (0..<3).map {
            PendingDelivery(batch: promise.futureResult, result: result, index: $0, partition: partition, timestamp: 1_700_000_000_000)
        }
        result.set(.success(BatchOutcome(baseOffset: 40, logAppendTime: -1)))
        for (index, delivery) in deliveries.enumerated() {
            let metadata = try await delivery.metadata()
            #expect(metadata.partition == 3 && metadata.offset == 40 + Int64(index))
        }
        let failed = BatchResult()
        failed.set(.failure(KafkaClientError.closed))
        let refused = PendingDelivery(batch: promise.futureResult, result: failed, index: 0, partition: partition, timestamp: 0)
        await #expect(throws: KafkaClientError.self) { try await refused.metadata() }
        promise.succeed(BatchOutcome(baseOffset: 40, logAppendTime: -1))
    }
}
