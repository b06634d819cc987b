import ApusProtocol
import ApusRecord
import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Sends records to Kafka topics: batches them per partition (by ``ProducerConfiguration/linger``
/// and ``ProducerConfiguration/batchSize``), compresses, retries, and with idempotence (the
/// default) never duplicates or reorders a partition's records across retries.
///
/// ```swift
/// let producer = Producer(configuration: .init(bootstrapServers: ["127.0.0.1:9092"]))
/// let where = try await producer.send(ProducerRecord(topic: "events", key: "user-1", value: "hello"))
/// try await producer.close()
/// ```
///
/// `send` waits for the acknowledgement; ``submit(_:)`` returns as soon as the record is
/// buffered, so many records share a batch. When ``ProducerConfiguration/bufferMemory`` bytes are
/// waiting, both wait for room (backpressure). Runs as a swift-service-lifecycle `Service`:
/// `run()` returns after a graceful shutdown has flushed everything.
public actor Producer: Service {
    /// The configuration it was made with.
    public nonisolated let configuration: ProducerConfiguration
    let cluster: Cluster
    private let logger: Logger

    /// Open batches, buffer accounting and backpressure: what `submit` touches, off the actor.
    private nonisolated let accumulator: RecordAccumulator
    /// Batches at least this large are compressed and encoded off the actor.
    private static let offActorEncodingBytes = 64 << 10
    /// Sealed batches per partition in send order; a ring buffer, so that taking the head and
    /// putting a retried batch back in front cost the same however many are queued.
    private var ready: [TopicPartition: CircularBuffer<ProducerBatch>] = [:]
    private var inFlightPartitions: Set<TopicPartition> = []
    private var inFlightPerNode: [Int32: Int] = [:]
    private var nextSequence: [TopicPartition: Int32] = [:]
    private var producerId: Int64 = -1
    private var producerEpoch: Int16 = -1
    private var sender: Task<Void, Never>?
    private var sleeper: Task<Void, Never>?
    private var dispatchScheduled = false
    private var dispatchAgain = false
    private var closedLatch = ClosedLatch()

    private let recordsCounter: Counter
    private let bytesCounter: Counter
    private let retriesCounter: Counter
    private let errorsCounter: Counter

    /// A producer; it connects on first use.
    public init(configuration: ProducerConfiguration, logger: Logger = Logger(label: "apus.producer")) {
        self.configuration = configuration
        self.logger = logger
        self.cluster = Cluster(
            bootstrapServers: configuration.bootstrapServers, clientId: configuration.clientId,
            connectTimeout: configuration.connectTimeout, metadataMaxAge: configuration.metadataMaxAge,
            security: configuration.security, logger: logger)
        self.accumulator = RecordAccumulator(
            batchSize: configuration.batchSize, bufferMemory: configuration.bufferMemory, linger: configuration.linger,
            eventLoop: MultiThreadedEventLoopGroup.singleton.any())
        let dimensions = [("client_id", configuration.clientId)]
        recordsCounter = Counter(label: "apus_client_producer_records_total", dimensions: dimensions)
        bytesCounter = Counter(label: "apus_client_producer_bytes_total", dimensions: dimensions)
        retriesCounter = Counter(label: "apus_client_producer_retries_total", dimensions: dimensions)
        errorsCounter = Counter(label: "apus_client_producer_errors_total", dimensions: dimensions)
    }

    /// Sends `record` and waits until the broker acknowledged it.
    public nonisolated func send(_ record: ProducerRecord) async throws -> RecordMetadata {
        try await submit(record).metadata()
    }

    /// Buffers `record` for sending and returns at once (after waiting for buffer room, if full).
    /// Await ``PendingDelivery/metadata()`` for its partition and offset.
    ///
    /// Not isolated to the producer: the record is encoded into its partition's open batch
    /// under a short lock, so a submit costs no hop to the actor (only the first one for a topic,
    /// and one a second to refresh its layout, ask the cluster).
    public nonisolated func submit(_ record: ProducerRecord) async throws -> PendingDelivery {
        if case .appended(let delivery?, let signal) = accumulator.append(record) {
            signalSender(signal)
            return delivery
        }
        return try await submit(record, callback: nil)!
    }

    /// Buffers `record` for sending, as ``submit(_:)``, and calls `onDelivery` with its outcome
    /// when the broker answers (Kafka's `send(record, callback)`). Callbacks run on the
    /// producer's I/O thread, in the order the records were submitted to each partition, all
    /// before a ``flush()`` that covers them returns; keep them short. Cheaper than registering
    /// on the returned delivery, which hops to the I/O thread for each record.
    public nonisolated func submit(
        _ record: ProducerRecord, onDelivery: @escaping @Sendable (Result<RecordMetadata, Error>) -> Void
    ) async throws {
        // The common case appends here, without the nested async call (a task-allocator frame)
        // of the loop below; an append that was not made changed nothing, and is tried again there.
        if case .appended(_, let signal) = accumulator.append(record, onDelivery: onDelivery) {
            signalSender(signal)
            return
        }
        _ = try await submit(record, callback: onDelivery)
    }

    /// The receipt, or nil with a `callback`.
    private nonisolated func submit(_ record: ProducerRecord, callback: DeliveryCallback?) async throws -> PendingDelivery? {
        while true {
            switch accumulator.append(record, onDelivery: callback) {
            case .appended(let delivery, let signal):
                signalSender(signal)
                return delivery
            case .needsLayout:
                let layout = try await cluster.layout(of: record.topic, autoCreate: configuration.allowAutoTopicCreation)
                accumulator.update(layout, at: .now)
            case .needsRoom(let size):
                await accumulator.waitForRoom(size)
            case .unknownPartition(let partition):
                throw KafkaClientError.unknownPartition(record.topic, partition)
            case .closed:
                throw KafkaClientError.closed
            }
        }
    }

    private nonisolated func signalSender(_ signal: RecordAccumulator.Signal) {
        if !signal.isEmpty { Task { await self.senderSignal(signal) } }
    }

    /// Sends everything buffered now, without waiting for ``ProducerConfiguration/linger``, and
    /// returns when every record submitted before the call has been acknowledged or has failed.
    public func flush() async {
        accumulator.beginFlush()
        defer { accumulator.endFlush() }
        startSender()
        collect()
        await accumulator.waitUntilIdle()
    }

    /// Flushes, then closes the connections. Later `send`s throw ``KafkaClientError/closed``.
    public func close() async {
        guard !accumulator.isClosed else {
            await waitUntilClosed()
            return
        }
        accumulator.close()
        await flush()
        sender?.cancel()
        sleeper?.cancel()
        await cluster.close()
        logger.debug("producer closed")
        closedLatch.close()
    }

    private func waitUntilClosed() async {
        await withCheckedContinuation { closedLatch.add($0) }
    }

    /// Runs until a graceful shutdown (or cancellation), then flushes and closes.
    public func run() async throws {
        await runUntilClosed(waitUntilClosed: { await self.waitUntilClosed() }, close: { await self.close() })
    }

    // MARK: - Batching

    /// What an append asked for: collect sealed batches, or wake the sender loop for an earlier
    /// linger deadline (starting it on first use).
    private func senderSignal(_ signal: RecordAccumulator.Signal) {
        startSender()
        if signal.contains(.collect) { collect() }
        if signal.contains(.wake) { wake() }
    }

    /// Moves the sealed batches into the per-partition queues, in order, and dispatches.
    private func collect() {
        for var batch in accumulator.drainSealed() {
            if batch.builder.uncompressedBatchSize >= Self.offActorEncodingBytes {
                let (encoder, builder) = (RecordBatchEncoder(compression: configuration.compression), batch.builder)
                // Without its CRC: stamping the producer state computes it when the batch is sent.
                batch.precompressed = Task.detached { PrecompressedBatch(try encoder.encodeToBuffer(builder, checksum: false)) }
            }
            ready[batch.partition, default: []].append(batch)
        }
        pump()
    }

    private func startSender() {
        guard sender == nil, !accumulator.isClosed || accumulator.isFlushing else { return }
        sender = Task { await self.senderLoop() }
    }

    private func wake() {
        sleeper?.cancel()
    }

    /// Seals batches whose linger ran out and sleeps until the next deadline.
    private func senderLoop() async {
        while !Task.isCancelled {
            let now = ContinuousClock.now
            var retryDeadline = now + .seconds(3600)
            for (partition, batches) in ready where !inFlightPartitions.contains(partition) {
                if let notBefore = batches.first?.notBefore { retryDeadline = min(retryDeadline, notBefore) }
            }
            let busy = inFlightPartitions.union(ready.keys)
            let deadline = accumulator.sealExpired(now: now, otherDeadline: retryDeadline, busy: busy)
            collect()
            let sleep = Task { _ = try? await Task.sleep(until: max(deadline, now + .microseconds(200)), clock: .continuous) }
            sleeper = sleep
            await sleep.value
        }
    }

    private func pump() {
        if dispatchScheduled {
            dispatchAgain = true
            return
        }
        dispatchScheduled = true
        Task { await self.dispatch() }
    }

    private func dispatch() async {
        repeat {
            dispatchAgain = false
            await dispatchOnce()
        } while dispatchAgain
        dispatchScheduled = false
    }

    /// Sends the head batch of every ready partition that has none in flight, one request per
    /// leader, while that leader has fewer than `maxInFlightRequestsPerConnection` requests out.
    private func dispatchOnce() async {
        let now = ContinuousClock.now
        // Only the keys: a filtered copy of `ready` would share its queues, and the first
        // removal from each would then copy the whole queue.
        var candidates: [TopicPartition] = []
        for (partition, batches) in ready where !inFlightPartitions.contains(partition) {
            if let head = batches.first, (head.notBefore ?? now) <= now { candidates.append(partition) }
        }
        guard !candidates.isEmpty else { return }
        if configuration.idempotent && producerId < 0 {
            do {
                try await initProducerId()
            } catch {
                logger.debug("InitProducerId failed", metadata: ["error": "\(error)"])
                for partition in candidates { backOff(partition, error: error) }
                return
            }
        }
        var byNode: [Int32: [TopicPartition]] = [:]
        for partition in candidates {
            do {
                let leader = try await cluster.leader(of: partition)
                guard leader >= 0 else { throw KafkaClientError.broker(.leaderNotAvailable, nil) }
                byNode[leader, default: []].append(partition)
            } catch {
                await cluster.invalidate(topic: partition.topic)
                backOff(partition, error: error)
            }
        }
        for (node, partitions) in byNode where inFlightPerNode[node, default: 0] < configuration.maxInFlightRequestsPerConnection {
            var batches: [ProducerBatch] = []
            var encodings: [BatchEncoding?] = []
            for partition in partitions where !inFlightPartitions.contains(partition) {
                guard var batch = ready[partition]?.popFirst() else { continue }
                if ready[partition]!.isEmpty { ready[partition] = nil }
                // The sequence is taken here, in order. Large batches are encoded off the actor;
                // small ones (low linger, low rates) here, where a hop would cost more than it saves.
                var plan: BatchEncoding?
                if batch.encoded == nil {
                    let encoding = encoding(for: batch)
                    if batch.precompressed != nil {
                        plan = encoding
                    } else {
                        do { batch.encoded = try encoding.encode(batch.builder) } catch {
                            fail(batch, error: error)
                            continue
                        }
                    }
                }
                encodings.append(plan)
                batch.attempts += 1
                inFlightPartitions.insert(partition)
                batches.append(batch)
            }
            guard !batches.isEmpty else { continue }
            inFlightPerNode[node, default: 0] += 1
            let request = batches
            let plans = encodings
            guard plans.contains(where: { $0 != nil }) else {
                Task { await self.produce(request, to: node, encodingFailures: []) }
                continue
            }
            // Compressing and encoding a batch (about a millisecond for 1 MB of LZ4) runs on a
            // cooperative thread, not on the actor, so `submit` is not held up meanwhile.
            Task.detached {
                var encoded = request
                var failures: [(Int, Error)] = []
                for (index, plan) in plans.enumerated() {
                    guard let plan else { continue }
                    do { encoded[index].encoded = try await plan.encode(encoded[index]) } catch { failures.append((index, error)) }
                }
                await self.produce(encoded, to: node, encodingFailures: failures)
            }
        }
    }

    /// How to encode `batch`: its compression and, for an idempotent producer, its producer id,
    /// epoch and base sequence, which are taken now so that sequences follow the send order.
    private func encoding(for batch: ProducerBatch) -> BatchEncoding {
        var encoder = RecordBatchEncoder(compression: configuration.compression)
        if configuration.idempotent {
            let sequence = nextSequence[batch.partition, default: 0]
            nextSequence[batch.partition] = Int32((Int64(sequence) + Int64(batch.recordCount)) % (Int64(Int32.max) + 1))
            encoder.producerId = producerId
            encoder.producerEpoch = producerEpoch
            encoder.baseSequence = sequence
        }
        return BatchEncoding(encoder: encoder)
    }

    private func initProducerId() async throws {
        let response = try await cluster.send(
            InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1), maximumVersion: 4)
        guard response.errorCode == 0 else {
            throw KafkaClientError.broker(KafkaErrorCode(rawValue: response.errorCode) ?? .unknownServerError, "InitProducerId")
        }
        producerId = response.producerId
        producerEpoch = response.producerEpoch
        nextSequence.removeAll()
        logger.debug("producer id", metadata: ["producer_id": "\(producerId)", "epoch": "\(producerEpoch)"])
    }

    private func produce(_ batches: [ProducerBatch], to node: Int32, encodingFailures: [(Int, Error)]) async {
        var batches = batches
        if !encodingFailures.isEmpty {
            for (index, error) in encodingFailures {
                inFlightPartitions.remove(batches[index].partition)
                fail(batches[index], error: error)
            }
            let failed = Set(encodingFailures.map(\.0))
            batches = batches.enumerated().filter { !failed.contains($0.offset) }.map(\.element)
            guard !batches.isEmpty else { return requestFinished(on: node) }
        }
        var byTopic: [String: [ProduceRequest.PartitionProduceData]] = [:]
        for batch in batches {
            byTopic[batch.partition.topic, default: []].append(.init(index: batch.partition.partition, records: batch.encoded))
        }
        let timeoutMs = Int32(clamping: configuration.requestTimeout.components.seconds * 1000)
        let request = ProduceRequest(
            transactionalId: nil, acks: configuration.acks.rawValue, timeoutMs: timeoutMs,
            topicData: byTopic.map { .init(name: $0.key, partitionData: $0.value) })
        do {
            let response = try await cluster.send(request, to: node, maximumVersion: 9)
            var answers: [TopicPartition: ProduceResponse.PartitionProduceResponse] = [:]
            for topic in response.responses {
                for partition in topic.partitionResponses { answers[TopicPartition(topic.name, partition.index)] = partition }
            }
            for batch in batches {
                inFlightPartitions.remove(batch.partition)
                guard let answer = answers[batch.partition] else {
                    retry(batch, error: KafkaClientError.protocolViolation("no answer for \(batch.partition)"))
                    continue
                }
                let code = KafkaErrorCode(rawValue: answer.errorCode) ?? .unknownServerError
                switch code {
                case .noError, .duplicateSequenceNumber:
                    complete(batch, baseOffset: answer.baseOffset, logAppendTime: answer.logAppendTimeMs)
                case .outOfOrderSequenceNumber, .unknownProducerId, .invalidProducerEpoch:
                    fail(batch, error: KafkaClientError.broker(code, answer.errorMessage))
                default:
                    if code.isRetriable {
                        await cluster.invalidate(topic: batch.partition.topic)
                        retry(batch, error: KafkaClientError.broker(code, answer.errorMessage))
                    } else {
                        fail(batch, error: KafkaClientError.broker(code, answer.errorMessage))
                    }
                }
            }
        } catch {
            logger.debug("produce request failed", metadata: ["node": "\(node)", "error": "\(error)"])
            for batch in batches {
                inFlightPartitions.remove(batch.partition)
                if isConnectionError(error) {
                    retry(batch, error: error)
                } else {
                    fail(batch, error: error)
                }
            }
        }
        requestFinished(on: node)
    }

    /// A produce request to `node` is over (answered, failed, or never sent): room for the next.
    private func requestFinished(on node: Int32) {
        inFlightPerNode[node, default: 1] -= 1
        pump()
        wake()
    }

    private func complete(_ batch: ProducerBatch, baseOffset: Int64, logAppendTime: Int64) {
        recordsCounter.increment(by: batch.recordCount)
        bytesCounter.increment(by: batch.bytes)
        release(batch)
        let outcome = BatchOutcome(baseOffset: baseOffset, logAppendTime: logAppendTime)
        batch.result.set(.success(outcome))
        batch.promise.succeed(outcome)
    }

    /// Puts a batch back at the head of its partition, to go again after `retryBackoff`, unless
    /// its delivery timeout has passed.
    private func retry(_ batch: ProducerBatch, error: Error) {
        var batch = batch
        guard ContinuousClock.now - batch.created < configuration.deliveryTimeout, !accumulator.isClosed || accumulator.isFlushing else {
            fail(batch, error: KafkaClientError.timedOut("delivery of \(batch.recordCount) record(s) to \(batch.partition): \(error)"))
            return
        }
        retriesCounter.increment()
        batch.notBefore = ContinuousClock.now + configuration.retryBackoff
        ready[batch.partition, default: []].prepend(batch)
        wake()
    }

    private func backOff(_ partition: TopicPartition, error: Error) {
        if isFatalClientError(error) {
            // Refused credentials or unusable TLS settings: waiting will not help.
            for batch in ready.removeValue(forKey: partition) ?? [] { fail(batch, error: error) }
            return
        }
        guard var head = ready[partition]?.popFirst() else { return }
        if ContinuousClock.now - head.created >= configuration.deliveryTimeout {
            if ready[partition]!.isEmpty { ready[partition] = nil }
            fail(head, error: KafkaClientError.timedOut("delivery to \(partition): \(error)"))
            return
        }
        head.notBefore = ContinuousClock.now + configuration.retryBackoff
        ready[partition, default: []].prepend(head)
        wake()
    }

    private func fail(_ batch: ProducerBatch, error: Error) {
        logger.debug("batch failed", metadata: ["partition": "\(batch.partition)", "error": "\(error)"])
        errorsCounter.increment(by: batch.recordCount)
        if configuration.idempotent {
            // Later batches would leave a gap in the sequence: start over with a new producer id.
            producerId = -1
            for partition in Array(ready.keys) {
                for index in ready[partition]!.indices { ready[partition]![index].encoded = nil }
            }
        }
        release(batch)
        batch.result.set(.failure(error))
        batch.promise.fail(error)
    }

    /// The batch's bytes leave the buffer once the callbacks registered on its outcome so far
    /// have run (they run in order, on the promise's event loop): so `flush` returns only after
    /// every delivery callback of what it flushed, as librdkafka's `flush` does.
    private func release(_ batch: ProducerBatch) {
        let accumulator = self.accumulator
        let (bytes, records, callbacks, partition) = (batch.bytes, batch.recordCount, batch.callbacks, batch.partition)
        let storage = batch.builder.records
        batch.promise.futureResult.whenComplete { outcome in
            for callback in callbacks {
                callback.call(outcome.map { RecordMetadata(partition, index: callback.index, timestamp: callback.timestamp, outcome: $0) })
            }
            // By now the actor has let go of the batch, so the buffer is usually the spare's alone.
            accumulator.recycle(storage)
            accumulator.release(bytes: bytes, records: records)
        }
    }
}

/// A record buffered by ``Producer/submit(_:)``: await ``metadata()`` for where it was written.
public struct PendingDelivery: Sendable {
    /// The outcome of the record's batch: one promise per batch, not per record.
    let batch: EventLoopFuture<BatchOutcome>
    /// The batch's outcome once known, read without waiting on the future.
    let result: BatchResult
    let index: Int
    let partition: TopicPartition
    let timestamp: Int64

    private func metadata(_ outcome: BatchOutcome) -> RecordMetadata {
        RecordMetadata(partition, index: index, timestamp: timestamp, outcome: outcome)
    }

    /// Waits for the acknowledgement; throws the error that made delivery fail.
    public func metadata() async throws -> RecordMetadata {
        if let known = result.result { return metadata(try known.get()) }
        return metadata(try await batch.get())
    }

    /// Calls `callback` with the outcome when the broker answers, on the producer's I/O thread.
    /// Registering from another thread costs a hop to the I/O thread per call; for a callback
    /// per record at high rates, give it to ``Producer/submit(_:onDelivery:)`` instead.
    public func whenComplete(_ callback: @escaping @Sendable (Result<RecordMetadata, Error>) -> Void) {
        batch.whenComplete { result in callback(result.map(metadata)) }
    }
}

/// The encoder settings of one batch, fixed on the producer's actor and applied off it.
struct BatchEncoding: Sendable {
    var encoder: RecordBatchEncoder

    func encode(_ records: RecordBatchBuilder) throws -> ByteBuffer {
        try encoder.encodeToBuffer(records)
    }

    /// The batch encoded: its precompressed bytes with this producer state, once they are ready.
    func encode(_ batch: ProducerBatch) async throws -> ByteBuffer {
        guard let precompressed = batch.precompressed else { return try encode(batch.builder) }
        // Taken out of the task's result, so that the buffer is stamped in place (were the task
        // still holding it, stamping would copy it first). A batch encoded again, after a failure
        // reset the sequences, finds it taken and is compressed anew.
        guard var buffer = try await precompressed.value.take() else { return try encode(batch.builder) }
        buffer.withUnsafeMutableReadableBytes { encoder.stampProducerState($0) }
        return buffer
    }
}

extension RecordBatchEncoder {
    /// The batch in a buffer of its own, compressed straight into it: no copy from an array.
    func encodeToBuffer(_ builder: RecordBatchBuilder, checksum: Bool = true) throws -> ByteBuffer {
        guard let bound = maximumEncodedSize(of: builder) else { return ByteBuffer(bytes: try encode(builder)) }
        var buffer = ByteBufferAllocator().buffer(capacity: bound)
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { try encode(builder, into: $0, checksum: checksum) }
        return buffer
    }
}

extension RecordMetadata {
    /// Where the record at `index` of a batch landed, from the broker's answer for the batch.
    init(_ partition: TopicPartition, index: Int, timestamp: Int64, outcome: BatchOutcome) {
        self.init(
            topic: partition.topic, partition: partition.partition, offset: outcome.baseOffset + Int64(index),
            timestamp: outcome.logAppendTime >= 0 ? outcome.logAppendTime : timestamp)
    }
}

/// What the broker answered for a batch: its first offset and, for LogAppendTime topics, the
/// time it stamped.
struct BatchOutcome: Sendable {
    var baseOffset: Int64
    var logAppendTime: Int64
}
