import ApusProtocol
import NIOCore

/// What one connection decodes and encodes request after request, kept so that each request
/// reuses the storage of the one before it: a Produce allocates nothing once the connection has
/// seen its largest request (its request, the walk of a scattered one, its operation, the
/// ``RemoteProduce``s of partitions on other loops and the response buffer are reused), and a
/// Fetch reuses its request, the connection's last fetch operation, the response buffer and the
/// list of parts (its file ranges go out on the connection's kept descriptors, ``SendfileHandles``).
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
    /// Produce operations and their appends on other loops, kept for reuse: more than
    /// ``keptProduceObjects`` in flight at once make new ones.
    private var produceOperations = ReusePool<ProduceOperation>()
    private var remoteProduces = ReusePool<RemoteProduce>()
    private static let keptProduceObjects = 32

    /// An operation to serve a Produce request: a kept one that is done and held by nothing
    /// else, else a new one (kept while there is room).
    func produceOperation(
        for request: ProduceRequest, scattered: ScatteredProduceRequest?, context: RequestContext
    ) -> ProduceOperation {
        if let reusable = produceOperations.take(where: \.isDone) {
            reusable.reuse(for: request, scattered: scattered, context: context)
            return reusable
        }
        return produceOperations.keep(ProduceOperation(request, scattered: scattered, context: context), upTo: Self.keptProduceObjects)
    }

    /// An idle ``RemoteProduce`` that nothing else holds, else a new one (kept while there is
    /// room).
    func remoteProduce() -> RemoteProduce {
        remoteProduces.take(where: \.isIdle) ?? remoteProduces.keep(RemoteProduce(), upTo: Self.keptProduceObjects)
    }

    /// The connection's last Fetch request, decoded over the one before (a fetch that waits
    /// keeps a copy, and the next decode then makes new storage).
    var fetchRequest = FetchRequest()
    /// Fetch operations, reused for the next Fetch when answered and held by nothing else (a
    /// fetch still waiting is held by its timer and its reads on other loops). Consumers keep
    /// one fetch in flight per connection, so few are kept.
    private var fetchOperations = ReusePool<FetchOperation>()
    private static let keptFetchOperations = 2
    /// The parts of the last Fetch answer: slices of ``responseBuffer`` and file ranges.
    private var responseParts: [ResponseFrame.Part] = []
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

    /// An operation to serve `request`: a kept one that is done and held by nothing else, else
    /// a new one (kept while there is room).
    func fetchOperation(for request: FetchRequest, context: RequestContext) -> FetchOperation {
        if let reusable = fetchOperations.take(where: \.isDone) {
            reusable.reuse(for: request, context: context)
            return reusable
        }
        return fetchOperations.keep(
            FetchOperation(request: request, context: context), upTo: Self.keptFetchOperations)
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

/// Objects kept for reuse: one is taken when nothing but the pool holds it
/// (`isKnownUniquelyReferenced`), so that no other loop or callback can still be using it.
struct ReusePool<Object: AnyObject> {
    private var objects: [Object] = []

    /// A kept object that nothing else holds and that `isReusable` accepts.
    mutating func take(where isReusable: (Object) -> Bool) -> Object? {
        for index in objects.indices where isKnownUniquelyReferenced(&objects[index]) && isReusable(objects[index]) {
            return objects[index]
        }
        return nil
    }

    /// Keeps `object` for reuse while the pool has fewer than `limit`; returns it.
    mutating func keep(_ object: Object, upTo limit: Int) -> Object {
        if objects.count < limit { objects.append(object) }
        return object
    }
}
