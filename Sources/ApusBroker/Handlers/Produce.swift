import ApusProtocol
import ApusSecurity
import ApusRecord
import ApusStorage
import NIOCore

/// Produce (key 0): appends each partition's record batch to its log and answers with the
/// assigned base offset. acks=0 gets no response (an error then closes the connection, as in
/// Kafka); acks=1 and acks=-1 are answered once the batch is in the log, and, when the
/// `flush.messages` policy makes the append sync, once it is on disk.
///
/// Versions 0-2 are advertised because librdkafka up to 2.11 enables LZ4 only when the
/// broker's Produce range includes v0; they are decoded and answered, but their legacy message
/// formats (magic 0 and 1) are refused with UNSUPPORTED_FOR_MESSAGE_FORMAT: only record
/// batch v2 is stored.
///
/// Needs Write on each topic; partitions of other topics answer TOPIC_AUTHORIZATION_FAILED.
enum ProduceHandler: APIResponder {
    typealias Request = ProduceRequest
    static let versions: ClosedRange<Int16> = 0...9

    typealias PartitionResponse = ProduceResponse.PartitionProduceResponse

    /// Answered without futures by a ``ProduceOperation`` reused from the connection's
    /// ``RequestScratch``: at once when every partition is on the connection's loop and no
    /// answer waits for a sync, else through the context's responder
    /// (``PendingResponse/deferred``) once the appends on other loops (``RemoteProduce``) are
    /// in. The request is decoded over the connection's previous one and the answer is encoded
    /// into the connection's response buffer, so a Produce allocates nothing on its steady path.
    static func respond(to body: inout ByteBuffer, context: RequestContext) throws -> PendingResponse {
        let scratch = context.scratch.value
        try scratch.produceRequest.decode(from: &body, version: context.apiVersion)
        defer { scratch.releaseProduceRecords() }
        let operation = scratch.produceOperation(for: scratch.produceRequest, scattered: scratch.scatteredProduce, context: context)
        switch operation.start() {
        case .now(.success(let response)):
            return .ready(response.map { encodedFrame($0, context: context) })
        case .now(.failure(let error)):
            return .later(context.eventLoop.makeFailedFuture(error))  // acks=0: the connection closes
        case .deferred:
            return .deferred
        }
    }

    /// What to do with one partition's data: refuse it with this answer, or append these
    /// records to this partition.
    fileprivate enum Prepared {
        case refused(PartitionResponse)
        case append(Partition, records: ProducedRecords)
    }

    /// The records of the request's partition number `index`, counting over all topics in
    /// request order: where the scattered request has them when the request arrived in
    /// several buffers, else as decoded.
    fileprivate static func records(
        of data: Request.PartitionProduceData, at index: Int, scattered: ScatteredProduceRequest?
    ) -> ProducedRecords? {
        guard let scattered else { return data.records.map { .whole($0) } }
        guard index < scattered.partitionCount, let parts = scattered.records(ofPartitionAt: index) else { return nil }
        return ProducedRecords(parts)
    }

    /// Checks one partition's data (authorization, acks, the partition, the batch's framing)
    /// before it is appended.
    fileprivate static func prepare(
        _ topic: String, _ index: Int32, _ records: ProducedRecords?, acks: Int16, context: RequestContext
    ) -> Prepared {
        guard context.isAuthorized(.write, .topic, topic) else {
            return .refused(failure(index, .topicAuthorizationFailed, "not authorized to write to \(topic)"))
        }
        guard [-1, 0, 1].contains(acks) else {
            return .refused(failure(index, .invalidRequiredAcks, "acks must be -1, 0 or 1"))
        }
        guard let partition = context.broker.topics.partition(topic, index) else {
            return .refused(failure(index, .unknownTopicOrPartition, "unknown topic or partition \(topic)-\(index)"))
        }
        guard let records, records.readableBytes > 0 else {
            return .refused(failure(index, .corruptMessage, "no records"))
        }
        // Produce v3+ carries exactly one record batch v2 per partition.
        let checked: RecordBatchHeader
        do {
            checked = try records.peekFirstBatch()
        } catch let error as RecordError {
            let code: KafkaErrorCode =
                if case .unsupportedMagic = error { context.apiVersion < 3 ? .unsupportedForMessageFormat : .invalidRecord } else { .corruptMessage }
            return .refused(failure(index, code, error.description))
        } catch {
            return .refused(failure(index, .corruptMessage, "\(error)"))
        }
        if checked.totalSize != records.readableBytes {
            return .refused(failure(index, .invalidRecord, "a produce request must carry exactly one record batch per partition"))
        }
        if checked.attributes.isControl {
            return .refused(failure(index, .invalidRecord, "clients may not produce control batches"))
        }
        if checked.attributes.compression == .zstd && context.apiVersion < 7 {
            return .refused(failure(index, .unsupportedCompressionType, "zstd needs Produce v7 or later"))
        }
        return .append(partition, records: records)
    }

    /// The partition's answer to an append, counted in the metrics when it stored records.
    fileprivate static func response(
        to result: Result<AppendInfo, Error>, topic: String, index: Int32, bytes: Int, context: RequestContext
    ) -> PartitionResponse {
        switch result {
        case .success(let info):
            if info.recordCount > 0 {
                context.broker.metrics.produced(topic: topic, bytes: bytes, messages: info.recordCount)
                context.broker.metrics.logEndOffset(topic: topic, partition: index, offset: info.lastOffset + 1)
            }
            return PartitionResponse(
                index: index, errorCode: 0, baseOffset: info.firstOffset, logAppendTimeMs: info.logAppendTime,
                logStartOffset: info.logStartOffset)
        case .failure(let error):
            let (code, message) = kafkaError(error)
            if code == .kafkaStorageError {
                context.logger.error("append failed", metadata: ["partition": "\(topic)-\(index)", "error": "\(message)"])
            }
            return failure(index, code, message)
        }
    }

    /// The frame of a Produce response, encoded into the connection's reused buffer; call on
    /// the connection's loop.
    static func encodedFrame(_ response: ProduceResponse, context: RequestContext) -> ResponseFrame {
        let version = context.apiVersion
        return ResponseFrame(context.scratch.value.encodeFrame(
            correlationId: context.header.correlationId, apiKey: .produce, version: version
        ) { response.write(to: &$0, version: version) })
    }

    /// The response, or none for acks=0 (whose failures close the connection instead).
    fileprivate static func answer(_ responses: [ProduceResponse.TopicProduceResponse], acks: Int16) throws -> ProduceResponse? {
        if acks == 0 {
            if let failed = responses.lazy.flatMap(\.partitionResponses).first(where: { $0.errorCode != 0 }) {
                throw AcksZeroProduceFailed(code: failed.errorCode, message: failed.errorMessage ?? "")
            }
            return nil
        }
        return ProduceResponse(responses: responses)
    }

    static func failure(_ index: Int32, _ code: KafkaErrorCode, _ message: String) -> PartitionResponse {
        PartitionResponse(index: index, errorCode: code.rawValue, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1, errorMessage: message)
    }
}

/// A Produce request in progress, confined to the connection's event loop. Each partition's
/// batch is appended on its partition's loop: at once for those this loop owns
/// (``Partition/appendNow(_:waitForFlush:)``), else by a ``RemoteProduce`` that hands its answer
/// back to this loop; a counter, not futures, tells when the last one is in. When every append
/// was answered at once, so is the request; else the answer goes to the context's responder.
final class ProduceOperation {
    typealias PartitionResponse = ProduceResponse.PartitionProduceResponse

    /// The answer now (nil for acks=0; a failure closes the connection), or later, through the
    /// context's responder (``PendingResponse/deferred``).
    enum Outcome {
        case now(Result<ProduceResponse?, Error>)
        case deferred
    }

    private var context: RequestContext
    private var acks: Int16
    private var response = ProduceResponse()
    /// Appends whose answer has not come back, plus one while ``start()`` runs.
    private var pending = 1
    private var batches: [(topicIndex: Int, partitionIndex: Int, topic: String, index: Int32, records: ProducedRecords?)] = []

    /// `scattered` holds the records when the request arrived in several buffers.
    init(_ request: ProduceRequest, scattered: ScatteredProduceRequest?, context: RequestContext) {
        self.context = context
        self.acks = request.acks
        prepare(request, scattered: scattered)
    }

    /// Whether the operation has answered and waits for nothing: then, held by nothing else,
    /// it may serve another request (``RequestScratch``).
    var isDone: Bool { pending == 0 }

    /// Makes this operation, done (``isDone``), serve `request`, keeping the storage of its
    /// response and list of batches.
    func reuse(for request: ProduceRequest, scattered: ScatteredProduceRequest?, context: RequestContext) {
        assert(isDone)
        self.context = context
        acks = request.acks
        pending = 1
        prepare(request, scattered: scattered)
    }

    /// Shapes the response like the request (each partition's answer is set by ``start()``)
    /// and lists the batches, reusing the arrays' storage.
    private func prepare(_ request: ProduceRequest, scattered: ScatteredProduceRequest?) {
        response.throttleTimeMs = 0
        response.responses.resize(to: request.topicData.count) { ProduceResponse.TopicProduceResponse() }
        for (topicIndex, topic) in request.topicData.enumerated() {
            response.responses[topicIndex].name = topic.name
            response.responses[topicIndex].partitionResponses.resize(to: topic.partitionData.count) { PartitionResponse() }
        }
        batches.removeAll(keepingCapacity: true)
        batches.reserveCapacity(request.topicData.reduce(0) { $0 + $1.partitionData.count })
        for (topicIndex, topic) in request.topicData.enumerated() {
            for (partitionIndex, data) in topic.partitionData.enumerated() {
                let records = ProduceHandler.records(of: data, at: batches.count, scattered: scattered)
                batches.append((topicIndex, partitionIndex, topic.name, data.index, records))
            }
        }
    }

    func start() -> Outcome {
        for (topicIndex, partitionIndex, topic, index, records) in batches {
            switch ProduceHandler.prepare(topic, index, records, acks: acks, context: context) {
            case .refused(let refusal):
                response.responses[topicIndex].partitionResponses[partitionIndex] = refusal
            case .append(let partition, let records):
                let bytes = records.readableBytes
                if let result = partition.appendNow(records, waitForFlush: acks != 0) {
                    response.responses[topicIndex].partitionResponses[partitionIndex] =
                        ProduceHandler.response(to: result, topic: topic, index: index, bytes: bytes, context: context)
                    continue
                }
                pending += 1
                context.scratch.value.remoteProduce().start(
                    partition, records, topic: topic, index: index, waitForFlush: acks != 0, context: context,
                    reportingTo: (self, topicIndex, partitionIndex))
            }
        }
        batches.removeAll(keepingCapacity: true)  // their records are the request's, which need not outlive it
        pending -= 1
        if pending == 0 { return .now(Result { try ProduceHandler.answer(response.responses, acks: acks) }) }
        return .deferred
    }

    /// An append on another loop answered (always after ``start()`` returned: its hop back is a
    /// task of its own); after the last, the request's answer goes to the responder.
    fileprivate func appended(_ answer: PartitionResponse, topicIndex: Int, partitionIndex: Int) {
        response.responses[topicIndex].partitionResponses[partitionIndex] = answer
        pending -= 1
        guard pending == 0 else { return }
        let result = Result { try ProduceHandler.answer(response.responses, acks: acks) }
        context.responder.complete(result.map { $0.map { ProduceHandler.encodedFrame($0, context: context) } })
    }
}

/// One partition's append that cannot be answered while its request is read: its partition is
/// owned by another event loop, or its answer waits for a sync (`flush.messages`). The
/// records go to the partition's loop and the answer comes back to the connection's, each hop
/// a closure that captures only this object, and goes to the request's ``ProduceOperation``;
/// with the object reused from ``RequestScratch``, this allocates nothing.
///
/// `@unchecked Sendable`: the hops need it, and the object is touched by one thread at a time.
/// The connection's loop sets it up and hands it to the partition's loop with
/// `EventLoop.execute`; that loop appends and hands it back the same way; the connection's
/// loop answers and clears it. `execute` queues the task under the target loop's lock, which
/// the loop takes to dequeue it, so each hand-off orders every write before it with every
/// read after it. ``RequestScratch`` reuses an object only when nothing else holds it
/// (`isKnownUniquelyReferenced`), so no loop can still be using it.
final class RemoteProduce: @unchecked Sendable {
    private var partition: Partition?
    private var records: ProducedRecords?
    private var context: RequestContext?
    private var topic = ""
    private var index: Int32 = 0
    private var bytes = 0
    private var waitForFlush = false
    private var result: Result<AppendInfo, Error>?
    /// The request this append is part of, and the answer's place in its response.
    private var operation: (ProduceOperation, topicIndex: Int, partitionIndex: Int)?

    /// Whether the object holds no request (and may take another).
    var isIdle: Bool { context == nil }

    /// Starts appending `records` to `partition`; the answer goes to `operation`, at that place.
    func start(
        _ partition: Partition, _ records: ProducedRecords, topic: String, index: Int32, waitForFlush: Bool,
        context: RequestContext, reportingTo operation: (ProduceOperation, topicIndex: Int, partitionIndex: Int)
    ) {
        self.operation = operation
        self.partition = partition
        self.records = records
        self.context = context
        self.topic = topic
        self.index = index
        self.bytes = records.readableBytes
        self.waitForFlush = waitForFlush
        if partition.eventLoop.inEventLoop {
            appendOnPartitionLoop()
        } else {
            partition.eventLoop.execute { self.appendOnPartitionLoop() }
        }
    }

    /// On the partition's loop: appends, at once unless the answer waits for a sync.
    private func appendOnPartitionLoop() {
        guard let partition, let records else { return }
        self.records = nil
        if let result = partition.appendNow(records, waitForFlush: waitForFlush) {
            appended(result)
        } else {
            partition.append(records, waitForFlush: waitForFlush) { result in self.appended(result) }
        }
    }

    /// On the partition's loop: hands the result back to the connection's loop, always as a
    /// task of its own, so that the answer never comes before the handler has returned (a
    /// failed append on the connection's own loop completes at once).
    private func appended(_ result: Result<AppendInfo, Error>) {
        self.result = result
        context?.eventLoop.execute { self.answer() }
    }

    /// On the connection's loop: hands the partition's answer to the operation; the object is
    /// then idle.
    private func answer() {
        guard let context, let result, let (operation, topicIndex, partitionIndex) = operation else { return }
        let response = ProduceHandler.response(to: result, topic: topic, index: index, bytes: bytes, context: context)
        self.context = nil
        self.result = nil
        self.partition = nil
        self.operation = nil
        operation.appended(response, topicIndex: topicIndex, partitionIndex: partitionIndex)
    }
}

/// An acks=0 produce that failed: Kafka closes the connection so the client notices.
struct AcksZeroProduceFailed: Error, CustomStringConvertible {
    var code: Int16
    var message: String
    var description: String { "acks=0 produce failed with error \(code): \(message)" }
}
