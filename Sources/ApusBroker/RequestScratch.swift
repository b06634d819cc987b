import ApusProtocol
import NIOCore

/// What one connection decodes and encodes request after request, kept so that each request
/// reuses the storage of the one before it: a Produce allocates nothing once the connection has
/// seen its largest request (its request, the walk of a scattered one, its operation, the
/// ``RemoteProduce``s of partitions on other loops and the response buffer are reused), and a
/// Fetch reuses its request, the connection's last fetch operation, the response buffer and the
/// list of parts, allocating only for the file ranges it sends (and the part list, once written).
///
/// Used only on the connection's event loop; it travels in ``RequestContext`` as a
/// `NIOLoopBound`, which checks that.
final class RequestScratch {
    /// The connection's last Produce request, decoded over the one before.
    var produceRequest = ProduceRequest()
    /// Where the records of the Produce request being handled are, when it arrived in several
    /// buffers (its decoded records are then empty): set only while such a request is
    /// dispatched. The value is taken apart over the one before.
    var scatteredProduce: ScatteredProduceRequest? {
        hasScatteredProduce ? lastScatteredProduce : nil
    }
    private var lastScatteredProduce = ScatteredProduceRequest()
    private var hasScatteredProduce = false

    /// Takes apart a Produce request that arrived in `buffers`; its skeleton, or nil when the
    /// frame is not a Produce request this can take apart (it is then gathered and decoded as
    /// usual). Call ``endScatteredProduce()`` once it is dispatched.
    func beginScatteredProduce(_ buffers: [ByteBuffer]) -> ByteBuffer? {
        do {
            try lastScatteredProduce.takeApart(buffers)
        } catch {
            return nil
        }
        hasScatteredProduce = true
        return lastScatteredProduce.skeleton
    }

    func endScatteredProduce() {
        hasScatteredProduce = false
    }
    /// The last Produce operation (a request of several partitions), reused for the next
    /// when it is done and nothing else holds it.
    private var lastProduceOperation: ProduceOperation?

    /// An operation to serve a Produce request of several partitions: the last one when it can
    /// be reused, else a new one (kept for the next).
    func produceOperation(
        for request: ProduceRequest, scattered: ScatteredProduceRequest?, context: RequestContext
    ) -> ProduceOperation {
        if lastProduceOperation != nil, isKnownUniquelyReferenced(&lastProduceOperation), let reusable = lastProduceOperation,
            reusable.isDone
        {
            reusable.reuse(for: request, scattered: scattered, context: context)
            return reusable
        }
        let made = ProduceOperation(request, scattered: scattered, context: context)
        lastProduceOperation = made
        return made
    }

    /// One-partition Produce requests answered later (``RemoteProduce``), kept for reuse.
    private var remoteProduces: [RemoteProduce] = []
    /// How many are kept: more than this many in flight at once make new ones.
    private static let keptRemoteProduces = 32

    /// An idle ``RemoteProduce`` that nothing else holds, else a new one (kept while there is
    /// room).
    func remoteProduce() -> RemoteProduce {
        for index in remoteProduces.indices
        where isKnownUniquelyReferenced(&remoteProduces[index]) && remoteProduces[index].isIdle {
            return remoteProduces[index]
        }
        let made = RemoteProduce()
        if remoteProduces.count < Self.keptRemoteProduces { remoteProduces.append(made) }
        return made
    }

    /// The connection's last Fetch request, decoded over the one before (a fetch that waits
    /// keeps a copy, and the next decode then makes new storage).
    var fetchRequest = FetchRequest()
    /// The last fetch operation, reused for the next Fetch when it is answered and nothing else
    /// holds it (a fetch still waiting is held by its timer and wake-up closures).
    private var lastFetchOperation: FetchOperation?
    /// The parts of the last Fetch answer: slices of ``responseBuffer`` and file ranges.
    private var responseParts: [ResponseFrame.Part] = []
    /// A Produce response of one topic and one partition, its fields set for each answer.
    private var produceResponse = ProduceResponse(responses: [.init(partitionResponses: [.init()])])
    /// The buffer answers are encoded into. Once the previous answer is written, nothing else
    /// holds it and it is cleared in place; while the socket still holds it, clearing it makes
    /// a new one.
    private var responseBuffer = ByteBuffer()
    /// A buffer grown past this by an unusual answer is let go rather than kept.
    private static let keptBufferCapacity = 64 * 1024

    /// Drops the records (and any unknown tagged fields) the last Produce request held: slices
    /// of the connection's read buffer, which they would otherwise keep alive until the next
    /// Produce, and keep the frame decoder from reusing it.
    func releaseProduceRecords() {
        produceRequest.unknownTaggedFields.removeAll(keepingCapacity: true)
        for topic in produceRequest.topicData.indices {
            produceRequest.topicData[topic].unknownTaggedFields.removeAll(keepingCapacity: true)
            for partition in produceRequest.topicData[topic].partitionData.indices {
                produceRequest.topicData[topic].partitionData[partition].records = nil
                produceRequest.topicData[topic].partitionData[partition].unknownTaggedFields.removeAll(keepingCapacity: true)
            }
        }
    }

    /// The frame of a Produce response for one partition of `topic`.
    func produceResponseFrame(
        topic: String, _ partition: ProduceResponse.PartitionProduceResponse, correlationId: Int32, version: Int16
    ) -> ResponseFrame {
        produceResponse.responses[0].name = topic
        produceResponse.responses[0].partitionResponses[0] = partition
        let frame = encodeFrame(correlationId: correlationId, apiKey: .produce, version: version) {
            produceResponse.write(to: &$0, version: version)
        }
        return ResponseFrame(frame)
    }

    /// A response frame (size, header, body) encoded into the reused buffer. The buffer is
    /// the connection's until the frame is written; the next call reuses it if nothing else
    /// holds it by then.
    func encodeFrame(
        correlationId: Int32, apiKey: ApiKey, version: Int16, body: (inout ByteBuffer) -> Void
    ) -> ByteBuffer {
        responseParts.removeAll(keepingCapacity: true)  // its slices would hold the buffer
        if responseBuffer.capacity > Self.keptBufferCapacity { responseBuffer = ByteBuffer() }
        responseBuffer.clear()
        ApusBroker.encodeFrame(into: &responseBuffer, correlationId: correlationId, apiKey: apiKey, version: version, body: body)
        return responseBuffer
    }

    /// Whether the last Fetch answer's parts are to be dropped (``responseWritten(release:)``).
    private var partsReleaseScheduled = false

    /// Drops the last Fetch answer's parts once it is written, since its file ranges hold
    /// segment files open. They are dropped by `release`, a task the caller runs once the
    /// current one is over: by then the answer, still referenced higher up the stack while it
    /// is written, has let go of the list, which is emptied in place rather than made anew.
    func responseWritten(release: () -> Void) {
        guard !responseParts.isEmpty, !partsReleaseScheduled else { return }
        partsReleaseScheduled = true
        release()
    }

    /// The task ``responseWritten(release:)`` schedules.
    func releaseWrittenParts() {
        partsReleaseScheduled = false
        responseParts.removeAll(keepingCapacity: true)
    }

    /// An operation to serve `request`: the last one when it can be reused, else a new one
    /// (kept for the next).
    func fetchOperation(for request: FetchRequest, context: RequestContext) -> FetchOperation {
        if lastFetchOperation != nil, isKnownUniquelyReferenced(&lastFetchOperation), let reusable = lastFetchOperation, reusable.isDone {
            reusable.reuse(for: request, context: context)
            return reusable
        }
        let made = FetchOperation(request: request, context: context, copyRecords: false)
        lastFetchOperation = made
        return made
    }

    /// A Fetch answer's frame: `body` encoded into the reused buffer, then cut by `splicer`
    /// (edited in place while only the scratch holds the buffer) into the reused list of parts.
    func fetchResponseFrame(
        correlationId: Int32, version: Int16, splicer: RecordsSplicer, body: (inout ByteBuffer) -> Void
    ) -> ResponseFrame {
        _ = encodeFrame(correlationId: correlationId, apiKey: .fetch, version: version, body: body)
        return splicer.splice(&responseBuffer, compact: FetchResponse.isFlexible(version: version), into: &responseParts)
    }
}
