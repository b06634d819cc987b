import ApusProtocol
import ApusStorage
import NIOCore

/// Fetch (key 1): whole record batches from each requested partition's log, as a long poll:
/// the answer waits up to MaxWaitMs for MinBytes to arrive. Every requested partition is
/// listed in the answer. Fetch sessions (KIP-227) are declined by answering session id 0.
enum FetchHandler: APIHandler {
    typealias Request = FetchRequest
    static let versions: ClosedRange<Int16> = 4...12

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<FetchResponse?> {
        if request.sessionId != 0 {
            // We never hand out sessions, so an incremental fetch names one we do not know.
            return context.eventLoop.makeSucceededFuture(FetchResponse(
                errorCode: KafkaErrorCode.fetchSessionIdNotFound.rawValue, sessionId: 0, responses: []))
        }
        return FetchOperation(request: request, context: context).start().map { response, _ in response }
    }

    /// Like the default, but the records go out with sendfile straight from the segment files.
    static func respond(to body: inout ByteBuffer, context: RequestContext) throws -> EventLoopFuture<ResponseFrame?> {
        let request = try Request(from: &body, version: context.apiVersion)
        if request.sessionId != 0 {
            return handle(request, context: context).map { response in
                response.map { encode($0, splicer: RecordsSplicer(), context: context) }
            }
        }
        return FetchOperation(request: request, context: context).start().map { response, splicer in
            encode(response, splicer: splicer, context: context)
        }
    }

    static func encode(_ response: FetchResponse, splicer: RecordsSplicer, context: RequestContext) -> ResponseFrame {
        let version = context.apiVersion
        let frame = encodeFrame(correlationId: context.header.correlationId, apiKey: .fetch, version: version, allocator: ByteBufferAllocator()) {
            response.write(to: &$0, version: version)
        }
        return splicer.splice(frame, compact: FetchResponse.isFlexible(version: version))
    }
}

/// One fetch request in progress, confined to the connection's event loop.
final class FetchOperation {
    struct Target {
        var topicIndex: Int
        var partitionIndex: Int
        var partition: Partition
        var fetchOffset: Int64
        var maxBytes: Int
    }

    private let request: FetchRequest
    private let context: RequestContext
    private var response: FetchResponse
    private var targets: [Target] = []
    private let promise: EventLoopPromise<(FetchResponse, RecordsSplicer)>
    private var deadline: NIODeadline
    private var finished = false
    private var reading = false
    private var wokenWhileReading = false
    private var timeout: Scheduled<Void>?

    init(request: FetchRequest, context: RequestContext) {
        self.request = request
        self.context = context
        self.promise = context.eventLoop.makePromise()
        self.deadline = .now() + .milliseconds(Int64(max(0, request.maxWaitMs)))
        self.response = FetchResponse(errorCode: 0, sessionId: 0)
        for (topicIndex, topic) in request.topics.enumerated() {
            var topicResponse = FetchResponse.FetchableTopicResponse(topic: topic.topic, topicId: topic.topicId)
            for (partitionIndex, requested) in topic.partitions.enumerated() {
                var data = FetchResponse.PartitionData(
                    partitionIndex: requested.partition, errorCode: 0, highWatermark: -1, lastStableOffset: -1,
                    logStartOffset: -1, abortedTransactions: [], preferredReadReplica: -1, records: ByteBuffer())
                if let partition = context.broker.topics.partition(topic.topic, requested.partition) {
                    targets.append(Target(
                        topicIndex: topicIndex, partitionIndex: partitionIndex, partition: partition,
                        fetchOffset: requested.fetchOffset, maxBytes: Int(max(0, requested.partitionMaxBytes))))
                } else {
                    data.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                }
                topicResponse.partitions.append(data)
            }
            response.responses.append(topicResponse)
        }
    }

    func start() -> EventLoopFuture<(FetchResponse, RecordsSplicer)> {
        read()
        return promise.futureResult
    }

    /// What one partition read found.
    struct PartitionRead: Sendable {
        var errorCode: Int16
        var highWatermark: Int64
        var logStartOffset: Int64
        /// The whole batches found, as a byte range of a segment file.
        var slice: LogSlice?
    }

    /// Reads every target (in parallel, on their loops), then answers or waits.
    private func read() {
        reading = true
        let loop = context.eventLoop
        let reads = targets.map { target in
            target.partition.execute { log -> PartitionRead in
                do {
                    let result = try log.read(from: target.fetchOffset, maxBytes: target.maxBytes)
                    return PartitionRead(errorCode: 0, highWatermark: result.highWatermark, logStartOffset: result.logStartOffset, slice: result.slice)
                } catch let error as StorageError {
                    return PartitionRead(errorCode: error.kafkaErrorCode, highWatermark: log.highWatermark, logStartOffset: log.logStartOffset, slice: nil)
                }
            }.recover { error in PartitionRead(errorCode: kafkaError(error).code.rawValue, highWatermark: -1, logStartOffset: -1, slice: nil) }
        }
        let bound = NIOLoopBound(self, eventLoop: loop)
        EventLoopFuture.whenAllSucceed(reads, on: loop).whenSuccess { results in
            bound.value.readCompleted(results)
        }
    }

    private func readCompleted(_ results: [PartitionRead]) {
        reading = false
        guard !finished else { return }
        var splicer = RecordsSplicer()
        var bytesByTopic: [String: Int] = [:]
        var total = 0
        var anyError = false
        let responseLimit = Int(request.maxBytes)
        for (target, result) in zip(targets, results) {
            var data = response.responses[target.topicIndex].partitions[target.partitionIndex]
            data.errorCode = result.errorCode
            data.highWatermark = result.highWatermark
            data.lastStableOffset = result.highWatermark
            data.logStartOffset = result.logStartOffset
            // The response's MaxBytes: a partition whose data would pass it is left empty,
            // except the first with data, returned whole (KIP-74).
            if let slice = result.slice, total == 0 || total + slice.length <= responseLimit {
                data.records = splicer.placeholder(for: slice)
                total += slice.length
                bytesByTopic[request.topics[target.topicIndex].topic, default: 0] += slice.length
            } else {
                // Empty, not null: librdkafka 2.0.2 cannot parse a null records field.
                data.records = ByteBuffer()
            }
            if result.errorCode != 0 { anyError = true }
            response.responses[target.topicIndex].partitions[target.partitionIndex] = data
        }
        if total >= Int(request.minBytes) || anyError || NIODeadline.now() >= deadline || targets.isEmpty {
            finish(splicer: splicer, bytesByTopic: bytesByTopic)
            return
        }
        if wokenWhileReading {
            wokenWhileReading = false
            read()
            return
        }
        waitForData()
    }

    /// Registers for the next append on every target partition, and for the deadline.
    private func waitForData() {
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let wake: @Sendable () -> Void = {
            loop.execute { bound.value.woken() }
        }
        for target in targets {
            let partition = target.partition
            partition.eventLoop.execute { partition.waitForAppend(wake) }
        }
        if timeout == nil {
            timeout = loop.scheduleTask(deadline: deadline) { bound.value.woken() }
        }
    }

    private func woken() {
        guard !finished else { return }
        if reading {
            wokenWhileReading = true
        } else {
            read()
        }
    }

    private func finish(splicer: RecordsSplicer, bytesByTopic: [String: Int]) {
        finished = true
        timeout?.cancel()
        for (topic, bytes) in bytesByTopic { context.broker.metrics.fetched(topic: topic, bytes: bytes) }
        promise.succeed((response, splicer))
    }
}
