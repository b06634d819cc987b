import ApusProtocol
import ApusSecurity
import ApusStorage
import NIOCore

/// Fetch (key 1): whole record batches from each requested partition's log, as a long poll:
/// the answer waits up to MaxWaitMs for MinBytes to arrive. Every requested partition is
/// listed in the answer. Fetch sessions (KIP-227) are declined by answering session id 0.
/// Needs Read on each topic (TOPIC_AUTHORIZATION_FAILED otherwise).
enum FetchHandler: APIResponder {
    typealias Request = FetchRequest
    static let versions: ClosedRange<Int16> = 4...12

    /// The records go out with sendfile straight from the segment files. A fetch whose
    /// partitions are on the connection's loop and that need not wait is answered while its
    /// request is read; any other answers later through the context's responder
    /// (``PendingResponse/deferred``), with no future either. Fetch operations are reused when
    /// nothing holds them any more (``RequestScratch``), so an answer allocates only for its
    /// file ranges.
    static func respond(to body: inout ByteBuffer, context: RequestContext) throws -> PendingResponse {
        let scratch = context.scratch.value
        try scratch.fetchRequest.decode(from: &body, version: context.apiVersion)
        if scratch.fetchRequest.sessionId != 0 {
            return .ready(responseFrame(sessionNotFound, correlationId: context.header.correlationId, version: context.apiVersion))
        }
        let operation = scratch.fetchOperation(for: scratch.fetchRequest, context: context)
        switch operation.start() {
        case .now:
            return .ready(operation.encodedFrame())
        case .deferred:
            return .deferred  // answered by the operation, on the connection's loop
        }
    }

    /// We never hand out sessions, so an incremental fetch names one we do not know.
    private static let sessionNotFound = FetchResponse(
        errorCode: KafkaErrorCode.fetchSessionIdNotFound.rawValue, sessionId: 0, responses: [])
}

/// One fetch request in progress, confined to the connection's event loop.
final class FetchOperation {
    /// A requested partition this broker has, and what its last read found.
    struct Target: Sendable {
        var topicIndex: Int
        var partitionIndex: Int
        var partition: Partition
        var fetchOffset: Int64
        var maxBytes: Int
        var read = PartitionRead(errorCode: 0, highWatermark: -1, logStartOffset: -1, slice: nil)
    }

    /// Answered before ``start()`` returned (``encodedFrame()`` gives the answer), or when data
    /// arrives or the wait ends, by the operation itself (``PendingResponse/deferred``).
    enum Outcome {
        case now
        case deferred
    }

    private var request: FetchRequest
    private var context: RequestContext
    /// The answer, filled in when the fetch answers, with a placeholder for each partition's
    /// records that the splicer sends from the segment file.
    private var response = FetchResponse(errorCode: 0, sessionId: 0)
    /// The file ranges of ``response``'s records.
    private var splicer = RecordsSplicer()
    private var targets: [Target] = []
    /// Whether ``start()`` returned without the answer, which then goes to the responder.
    private var answersDeferred = false
    private var deadline: NIODeadline
    private var finished = false
    private var reading = false
    private var wokenWhileReading = false
    private var timeout: Scheduled<Void>?
    /// Wakes this fetch from a partition's append; made at the first registration and kept
    /// for the operation's life (it holds the operation weakly).
    private var wake: (@Sendable () -> Void)?
    /// The reads of partitions on other loops, kept for reuse.
    private var remoteReads: [RemoteRead] = []
    /// Partitions that will wake this fetch, to be told when it no longer waits.
    private var registrations: [(Partition, UInt64)] = []

    init(request: FetchRequest, context: RequestContext) {
        self.request = request
        self.context = context
        self.deadline = .now() + .milliseconds(Int64(max(0, request.maxWaitMs)))
        prepare()
    }

    /// Whether the operation has answered and waits for nothing (no timer or registration):
    /// then, held by nothing else, it may serve another request.
    var isDone: Bool { finished && !answersDeferred && timeout == nil && registrations.isEmpty }

    /// Makes this operation, done (``isDone``) and held by nothing else, serve `request`,
    /// keeping the storage of its response, targets and splicer.
    func reuse(for request: FetchRequest, context: RequestContext) {
        assert(isDone)
        self.request = request
        self.context = context
        deadline = .now() + .milliseconds(Int64(max(0, request.maxWaitMs)))
        finished = false
        reading = false
        wokenWhileReading = false
        pendingReads = 0
        prepare()
    }

    /// Drops what the answer held of the segment files (their slices), once it is encoded, so
    /// that an operation kept for reuse keeps no file open, and its copy of the request, so
    /// that the connection decodes the next one in place.
    private func release() {
        targets.removeAll(keepingCapacity: true)
        splicer.releaseSlices()
        request = FetchRequest()
    }

    /// Lists every requested partition in the response (errors for those it may not read or
    /// this broker does not have) and the others as targets, reusing the arrays' storage.
    private func prepare() {
        response.errorCode = 0
        response.sessionId = 0
        response.throttleTimeMs = 0
        response.responses.resize(to: request.topics.count) { FetchResponse.FetchableTopicResponse() }
        targets.removeAll(keepingCapacity: true)
        for (topicIndex, topic) in request.topics.enumerated() {
            response.responses[topicIndex].topic = topic.topic
            response.responses[topicIndex].topicId = topic.topicId
            response.responses[topicIndex].partitions.resize(to: topic.partitions.count) { FetchResponse.PartitionData() }
            let readable = context.isAuthorized(.read, .topic, topic.topic)
            for (partitionIndex, requested) in topic.partitions.enumerated() {
                var errorCode: Int16 = 0
                if !readable {
                    errorCode = KafkaErrorCode.topicAuthorizationFailed.rawValue
                } else if let partition = context.broker.topics.partition(topic.topic, requested.partition) {
                    targets.append(Target(
                        topicIndex: topicIndex, partitionIndex: partitionIndex, partition: partition,
                        fetchOffset: requested.fetchOffset, maxBytes: Int(max(0, requested.partitionMaxBytes))))
                } else {
                    errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                }
                response.responses[topicIndex].partitions[partitionIndex] = FetchResponse.PartitionData(
                    partitionIndex: requested.partition, errorCode: errorCode, highWatermark: -1, lastStableOffset: -1,
                    logStartOffset: -1, abortedTransactions: [], preferredReadReplica: -1, records: ByteBuffer())
            }
        }
    }

    /// Reads the partitions; answers now when they need no other loop and the fetch need not
    /// wait, else later.
    func start() -> Outcome {
        read()
        if finished { return .now }
        answersDeferred = true
        return .deferred
    }

    /// The answer's frame, encoded into the connection's reused buffer; the operation then
    /// lets go of its segment files and its copy of the request.
    func encodedFrame() -> ResponseFrame {
        let version = context.apiVersion
        let frame = context.scratch.value.fetchResponseFrame(
            correlationId: context.header.correlationId, version: version, splicer: splicer
        ) { response.write(to: &$0, version: version) }
        release()
        return frame
    }

    /// What one partition read found.
    struct PartitionRead: Sendable {
        var errorCode: Int16
        var highWatermark: Int64
        var logStartOffset: Int64
        /// The whole batches found, as a byte range of a segment file.
        var slice: LogSlice?
    }

    /// Reads every target, then answers or waits: the partitions on this loop at once, the
    /// others on their loops, each handing its read back to this loop. A partition that has
    /// nothing to give registers this fetch for its next append in the same step as the read,
    /// so no append between the read and the registration can be missed.
    private func read() {
        reading = true
        pendingReads = 1  // held by this call until every read is started
        let mayWait = request.maxWaitMs > 0 && request.minBytes > 0
        for index in targets.indices where !targets[index].partition.eventLoop.inEventLoop {
            pendingReads += 1
            remoteRead().start(targets[index], index: index, waking: mayWait ? waker() : nil, for: self, replyingOn: context.eventLoop)
        }
        for index in targets.indices where targets[index].partition.eventLoop.inEventLoop {
            let (read, waiterId) = Self.read(targets[index], waking: mayWait ? waker() : nil)
            record(index, read, waiterId: waiterId)
        }
        readDone(nil, nil, waiterId: nil)
    }

    /// Reads one target, on its partition's loop; when it has nothing and the fetch may wait
    /// (`wake` is made only then), registers `wake` for the partition's next append.
    fileprivate static func read(
        _ target: Target, waking wake: @autoclosure () -> (@Sendable () -> Void)?
    ) -> (PartitionRead, waiterId: UInt64?) {
        let partition = target.partition
        let read = partition.withLog { Self.read($0, target) }
        guard read.slice == nil, let wake = wake() else { return (read, nil) }
        return (read, partition.waitForAppend(wake))
    }

    /// Reads started by ``read()`` whose results have not come back, plus one while it runs.
    private var pendingReads = 0

    private func record(_ index: Int, _ read: PartitionRead, waiterId: UInt64?) {
        targets[index].read = read
        if let waiterId { registrations.append((targets[index].partition, waiterId)) }
    }

    /// Records target `index`'s read (none for the hold of ``read()``); after the last one
    /// outstanding, answers or waits.
    fileprivate func readDone(_ index: Int?, _ read: PartitionRead?, waiterId: UInt64?) {
        if let index, let read { record(index, read, waiterId: waiterId) }
        pendingReads -= 1
        if pendingReads == 0 { readCompleted() }
    }

    /// Reads one target from its log, on the partition's loop.
    private static func read(_ log: PartitionLog, _ target: Target) -> PartitionRead {
        do {
            let result = try log.read(from: target.fetchOffset, maxBytes: target.maxBytes)
            return PartitionRead(errorCode: 0, highWatermark: result.highWatermark, logStartOffset: result.logStartOffset, slice: result.slice)
        } catch let error as StorageError {
            return PartitionRead(errorCode: error.kafkaErrorCode, highWatermark: log.highWatermark, logStartOffset: log.logStartOffset, slice: nil)
        } catch {
            return PartitionRead(errorCode: kafkaError(error).code.rawValue, highWatermark: -1, logStartOffset: -1, slice: nil)
        }
    }

    private func waker() -> @Sendable () -> Void {
        if let wake { return wake }
        let waker = FetchWaker(self, on: context.eventLoop)
        let made: @Sendable () -> Void = { waker.wake() }
        wake = made
        return made
    }

    /// An idle ``RemoteRead`` that nothing else holds, else a new one, kept.
    private func remoteRead() -> RemoteRead {
        for index in remoteReads.indices where isKnownUniquelyReferenced(&remoteReads[index]) && remoteReads[index].isIdle {
            return remoteReads[index]
        }
        let made = RemoteRead()
        remoteReads.append(made)
        return made
    }

    /// The response's MaxBytes: a partition whose data would pass it is left empty, except
    /// the first with data, returned whole (KIP-74).
    private func fits(_ slice: LogSlice, after total: Int) -> Bool {
        total == 0 || total + slice.length <= Int(request.maxBytes)
    }

    private func readCompleted() {
        reading = false
        guard !finished else { return }
        var total = 0
        var anyError = false
        for target in targets {
            if let slice = target.read.slice, fits(slice, after: total) { total += slice.length }
            if target.read.errorCode != 0 { anyError = true }
        }
        if total >= Int(request.minBytes) || anyError || NIODeadline.now() >= deadline || targets.isEmpty {
            finish()
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

    fileprivate func woken() {
        guard !finished else { return }
        if reading {
            wokenWhileReading = true
        } else {
            read()
        }
    }

    /// Fills the response from the last reads and answers.
    private func finish() {
        finished = true
        timeout?.cancel()
        for (partition, id) in registrations { partition.cancelWait(id) }
        registrations.removeAll()
        timeout = nil
        splicer.reset(capacity: targets.count)
        var total = 0
        for target in targets {
            let read = target.read
            var records = ByteBuffer()
            if let slice = read.slice, fits(slice, after: total) {
                records = splicer.placeholder(for: slice)
                total += slice.length
                context.broker.metrics.fetched(topic: request.topics[target.topicIndex].topic, bytes: slice.length)
            }
            // Empty, not null, when there is nothing: librdkafka 2.0.2 cannot parse a null records field.
            response.responses[target.topicIndex].partitions[target.partitionIndex].update(read, records: records)
        }
        if answersDeferred {
            answersDeferred = false
            context.responder.complete(.success(encodedFrame()))
        }
    }
}

/// Wakes a fetch from a partition's append, on the fetch's loop. The wake closure captures
/// only this object and the hop captures only it too, so a wake allocates nothing; it holds
/// the operation weakly, so that the closure the partitions keep does not keep it alive.
///
/// `@unchecked Sendable`: `operation` is set once, at creation, and only dereferenced on
/// `loop`, the operation's own, in the task that ``wake()`` queues there.
private final class FetchWaker: @unchecked Sendable {
    private weak var operation: FetchOperation?
    private let loop: EventLoop

    init(_ operation: FetchOperation, on loop: EventLoop) {
        self.operation = operation
        self.loop = loop
    }

    func wake() {
        loop.execute { self.operation?.woken() }
    }
}

/// One read of a fetch's partition that another event loop owns: it goes to that loop and
/// comes back with the read, each hop a closure that captures only this object, so the
/// fetch's operation, which keeps these for reuse, allocates nothing for them.
///
/// `@unchecked Sendable`: one thread at a time touches it. The fetch's loop sets it up and
/// hands it to the partition's loop with `EventLoop.execute`; that loop reads and hands it
/// back the same way; the fetch's loop delivers the read and clears it. `execute` queues the
/// task under the target loop's lock, which the loop takes to dequeue it, so each hand-off
/// orders the writes before it with the reads after it; the operation reuses an object only
/// when nothing else holds it.
private final class RemoteRead: @unchecked Sendable {
    private var operation: FetchOperation?
    private var target: FetchOperation.Target?
    private var index = 0
    private var wake: (@Sendable () -> Void)?
    private var loop: EventLoop?
    private var read: FetchOperation.PartitionRead?
    private var waiterId: UInt64?

    var isIdle: Bool { operation == nil }

    func start(
        _ target: FetchOperation.Target, index: Int, waking wake: (@Sendable () -> Void)?, for operation: FetchOperation,
        replyingOn loop: EventLoop
    ) {
        self.operation = operation
        self.target = target
        self.index = index
        self.wake = wake
        self.loop = loop
        target.partition.eventLoop.execute { self.readOnPartitionLoop() }
    }

    private func readOnPartitionLoop() {
        guard let target, let loop else { return }
        (read, waiterId) = FetchOperation.read(target, waking: self.wake)
        self.target = nil
        self.wake = nil
        loop.execute { self.deliver() }
    }

    private func deliver() {
        guard let operation, let read else { return }
        let (index, waiterId) = (self.index, self.waiterId)
        self.operation = nil
        self.read = nil
        self.waiterId = nil
        self.loop = nil
        operation.readDone(index, read, waiterId: waiterId)
    }
}

extension Array {
    /// Grows (with `blank()`) or shrinks to `count` elements, keeping the storage and the
    /// elements that stay.
    mutating func resize(to count: Int, blank: () -> Element) {
        if self.count > count {
            removeLast(self.count - count)
        } else {
            reserveCapacity(count)
            while self.count < count { append(blank()) }
        }
    }
}

extension FetchResponse.PartitionData {
    fileprivate mutating func update(_ read: FetchOperation.PartitionRead, records: ByteBuffer) {
        errorCode = read.errorCode
        highWatermark = read.highWatermark
        lastStableOffset = read.highWatermark
        logStartOffset = read.logStartOffset
        self.records = records
    }
}
