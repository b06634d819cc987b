import ApusProtocol
import ApusSecurity
import ApusStorage
import NIOCore

/// Fetch (key 1): whole record batches from each requested partition's log, as a long poll:
/// the answer waits up to MaxWaitMs for MinBytes to arrive. Every requested partition is
/// listed in the answer. Fetch sessions (KIP-227) are declined by answering session id 0.
/// Needs Read on each topic (TOPIC_AUTHORIZATION_FAILED otherwise).
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
    static func respond(to body: inout ByteBuffer, context: RequestContext) throws -> PendingResponse {
        let request = try Request(from: &body, version: context.apiVersion)
        if request.sessionId != 0 {
            return .later(handle(request, context: context).map { response in
                response.map { encode($0, splicer: RecordsSplicer(), context: context) }
            })
        }
        return .later(FetchOperation(request: request, context: context).start().map { response, splicer in
            encode(response, splicer: splicer, context: context)
        })
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
    /// Partitions that will wake this fetch, to be told when it no longer waits.
    private var registrations: [(Partition, UInt64)] = []

    init(request: FetchRequest, context: RequestContext) {
        self.request = request
        self.context = context
        self.promise = context.eventLoop.makePromise()
        self.deadline = .now() + .milliseconds(Int64(max(0, request.maxWaitMs)))
        self.response = FetchResponse(errorCode: 0, sessionId: 0)
        for (topicIndex, topic) in request.topics.enumerated() {
            var topicResponse = FetchResponse.FetchableTopicResponse(topic: topic.topic, topicId: topic.topicId)
            let readable = context.isAuthorized(.read, .topic, topic.topic)
            for (partitionIndex, requested) in topic.partitions.enumerated() {
                var data = FetchResponse.PartitionData(
                    partitionIndex: requested.partition, errorCode: 0, highWatermark: -1, lastStableOffset: -1,
                    logStartOffset: -1, abortedTransactions: [], preferredReadReplica: -1, records: ByteBuffer())
                if !readable {
                    data.errorCode = KafkaErrorCode.topicAuthorizationFailed.rawValue
                } else if let partition = context.broker.topics.partition(topic.topic, requested.partition) {
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
        /// Set when the partition had nothing and will wake this fetch at its next append.
        var waiterId: UInt64? = nil
    }

    /// Reads every target (in parallel, on their loops), then answers or waits. A partition
    /// that has nothing to give registers this fetch for its next append in the same step as
    /// the read, so no append between the read and the registration can be missed.
    private func read() {
        reading = true
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let mayWait = request.maxWaitMs > 0 && request.minBytes > 0
        let wake: @Sendable () -> Void = { loop.execute { bound.value.woken() } }
        let reads = targets.map { target in
            let partition = target.partition
            return partition.execute { log -> PartitionRead in
                var read: PartitionRead
                do {
                    let result = try log.read(from: target.fetchOffset, maxBytes: target.maxBytes)
                    read = PartitionRead(errorCode: 0, highWatermark: result.highWatermark, logStartOffset: result.logStartOffset, slice: result.slice)
                } catch let error as StorageError {
                    return PartitionRead(errorCode: error.kafkaErrorCode, highWatermark: log.highWatermark, logStartOffset: log.logStartOffset, slice: nil)
                }
                if mayWait && read.slice == nil { read.waiterId = partition.waitForAppend(wake) }
                return read
            }.recover { error in PartitionRead(errorCode: kafkaError(error).code.rawValue, highWatermark: -1, logStartOffset: -1, slice: nil) }
        }
        EventLoopFuture.whenAllSucceed(reads, on: loop).whenSuccess { results in
            let operation = bound.value
            for (target, result) in zip(operation.targets, results) {
                if let id = result.waiterId { operation.registrations.append((target.partition, id)) }
            }
            operation.readCompleted(results)
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

    /// Waits for the partitions' next appends (registered during the read) or the deadline.
    private func waitForData() {
        guard timeout == nil else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(deadline: deadline) { bound.value.woken() }
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
        for (partition, id) in registrations { partition.cancelWait(id) }
        registrations.removeAll()
        for (topic, bytes) in bytesByTopic { context.broker.metrics.fetched(topic: topic, bytes: bytes) }
        promise.succeed((response, splicer))
    }
}
