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
    private let eventLoop: EventLoop
    private var partitioner: StickyPartitioner

    private var open: [TopicPartition: ProducerBatch] = [:]
    /// Topic layouts as `submit` last saw them: asking the cluster actor for every record would
    /// cost a hop per record. Refreshed after ``layoutCacheAge``.
    private var layouts: [String: (layout: TopicLayout, at: ContinuousClock.Instant)] = [:]
    private static let layoutCacheAge = Duration.seconds(1)
    /// Batches at least this large are compressed and encoded off the actor.
    private static let offActorEncodingBytes = 64 << 10
    private var ready: [TopicPartition: [ProducerBatch]] = [:]
    private var inFlightPartitions: Set<TopicPartition> = []
    private var inFlightPerNode: [Int32: Int] = [:]
    private var nextSequence: [TopicPartition: Int32] = [:]
    private var producerId: Int64 = -1
    private var producerEpoch: Int16 = -1
    private var bufferedBytes = 0
    private var pendingRecords = 0
    private var spaceWaiters: [EventLoopPromise<Void>] = []
    private var idleWaiters: [EventLoopPromise<Void>] = []
    private var flushing = 0
    private var closed = false
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
        self.eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        self.partitioner = StickyPartitioner(batchSize: configuration.batchSize)
        let dimensions = [("client_id", configuration.clientId)]
        recordsCounter = Counter(label: "apus_client_producer_records_total", dimensions: dimensions)
        bytesCounter = Counter(label: "apus_client_producer_bytes_total", dimensions: dimensions)
        retriesCounter = Counter(label: "apus_client_producer_retries_total", dimensions: dimensions)
        errorsCounter = Counter(label: "apus_client_producer_errors_total", dimensions: dimensions)
    }

    /// Sends `record` and waits until the broker acknowledged it.
    public func send(_ record: ProducerRecord) async throws -> RecordMetadata {
        try await submit(record).metadata()
    }

    /// Buffers `record` for sending and returns at once (after waiting for buffer room, if full).
    /// Await ``PendingDelivery/metadata()`` for its partition and offset.
    public func submit(_ record: ProducerRecord) async throws -> PendingDelivery {
        guard !closed else { throw KafkaClientError.closed }
        var size = 70 + (record.key?.count ?? 0) + (record.value?.count ?? 0)
        for header in record.headers { size += header.key.utf8.count + (header.value?.count ?? 0) + 2 }
        while bufferedBytes > 0 && bufferedBytes + size > configuration.bufferMemory {
            let room = eventLoop.makePromise(of: Void.self)
            spaceWaiters.append(room)
            try await room.futureResult.get()
            guard !closed else { throw KafkaClientError.closed }
        }
        let now = ContinuousClock.now
        let layout: TopicLayout
        if let cached = layouts[record.topic], now - cached.at < Self.layoutCacheAge {
            layout = cached.layout
        } else {
            layout = try await cluster.layout(of: record.topic, autoCreate: configuration.allowAutoTopicCreation)
            layouts[record.topic] = (layout, now)
        }
        let partition: Int32
        if let fixed = record.partition {
            guard layout.leaders[fixed] != nil else { throw KafkaClientError.unknownPartition(record.topic, fixed) }
            partition = fixed
        } else if let key = record.key {
            partition = Murmur2.partition(forKey: key, partitionCount: layout.partitionCount)
        } else {
            partition = partitioner.partition(topic: record.topic, partitionCount: layout.partitionCount, recordSize: size)
        }
        guard !closed else { throw KafkaClientError.closed }
        let topicPartition = TopicPartition(record.topic, partition)
        let timestamp = record.timestamp ?? Int64(Date().timeIntervalSince1970 * 1000)
        if let current = open[topicPartition], current.bytes + size > configuration.batchSize {
            seal(topicPartition)
        }
        let isNewBatch = open[topicPartition] == nil
        let (index, batchBytes, outcome) = open[topicPartition, default: ProducerBatch(partition: topicPartition, promise: eventLoop.makePromise())]
            .append(Record(timestamp: timestamp, key: record.key, value: record.value, headers: record.headers), size: size)
        bufferedBytes += size
        pendingRecords += 1
        if batchBytes >= configuration.batchSize || flushing > 0 {
            seal(topicPartition)
        } else if isNewBatch {
            wake()
        }
        startSender()
        return PendingDelivery(batch: outcome, index: index, partition: topicPartition, timestamp: timestamp)
    }

    /// Sends everything buffered now, without waiting for ``ProducerConfiguration/linger``, and
    /// returns when every record submitted before the call has been acknowledged or has failed.
    public func flush() async {
        flushing += 1
        defer { flushing -= 1 }
        for partition in Array(open.keys) { seal(partition) }
        while pendingRecords > 0 {
            let idle = eventLoop.makePromise(of: Void.self)
            idleWaiters.append(idle)
            try? await idle.futureResult.get()
        }
    }

    /// Flushes, then closes the connections. Later `send`s throw ``KafkaClientError/closed``.
    public func close() async {
        guard !closed else {
            await waitUntilClosed()
            return
        }
        closed = true
        for waiter in spaceWaiters { waiter.succeed() }
        spaceWaiters.removeAll()
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

    private func seal(_ partition: TopicPartition) {
        guard let batch = open.removeValue(forKey: partition) else { return }
        ready[partition, default: []].append(batch)
        pump()
    }

    private func startSender() {
        guard sender == nil else { return }
        sender = Task { await self.senderLoop() }
    }

    private func wake() {
        sleeper?.cancel()
    }

    /// Seals batches whose linger ran out and sleeps until the next deadline.
    private func senderLoop() async {
        while !Task.isCancelled {
            let now = ContinuousClock.now
            for (partition, batch) in open where batch.created + configuration.linger <= now || flushing > 0 || closed {
                seal(partition)
            }
            pump()
            var deadline = now + .seconds(3600)
            for batch in open.values { deadline = min(deadline, batch.created + configuration.linger) }
            for (partition, batches) in ready where !inFlightPartitions.contains(partition) {
                if let notBefore = batches.first?.notBefore { deadline = min(deadline, notBefore) }
            }
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
        let candidates = ready.filter { partition, batches in
            guard let head = batches.first, !inFlightPartitions.contains(partition) else { return false }
            return (head.notBefore ?? now) <= now
        }.keys
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
                guard var batch = ready[partition]?.first else { continue }
                ready[partition]!.removeFirst()
                if ready[partition]!.isEmpty { ready[partition] = nil }
                // The sequence is taken here, in order. Large batches are encoded off the actor;
                // small ones (low linger, low rates) here, where a hop would cost more than it saves.
                var plan: BatchEncoding?
                if batch.encoded == nil {
                    let encoding = encoding(for: batch)
                    if batch.bytes >= Self.offActorEncodingBytes {
                        plan = encoding
                    } else {
                        do { batch.encoded = try encoding.encode(batch.records) } catch {
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
                    do { encoded[index].encoded = try plan.encode(encoded[index].records) } catch { failures.append((index, error)) }
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
            nextSequence[batch.partition] = Int32((Int64(sequence) + Int64(batch.records.count)) % (Int64(Int32.max) + 1))
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
        batch.promise.succeed(BatchOutcome(baseOffset: baseOffset, logAppendTime: logAppendTime))
        recordsCounter.increment(by: batch.records.count)
        bytesCounter.increment(by: batch.bytes)
        release(batch)
    }

    /// Puts a batch back at the head of its partition, to go again after `retryBackoff`, unless
    /// its delivery timeout has passed.
    private func retry(_ batch: ProducerBatch, error: Error) {
        var batch = batch
        guard ContinuousClock.now - batch.created < configuration.deliveryTimeout, !closed || flushing > 0 else {
            fail(batch, error: KafkaClientError.timedOut("delivery of \(batch.records.count) record(s) to \(batch.partition): \(error)"))
            return
        }
        retriesCounter.increment()
        batch.notBefore = ContinuousClock.now + configuration.retryBackoff
        ready[batch.partition, default: []].insert(batch, at: 0)
        wake()
    }

    private func backOff(_ partition: TopicPartition, error: Error) {
        if isFatalClientError(error) {
            // Refused credentials or unusable TLS settings: waiting will not help.
            for batch in ready.removeValue(forKey: partition) ?? [] { fail(batch, error: error) }
            return
        }
        guard var head = ready[partition]?.first else { return }
        ready[partition]!.removeFirst()
        if ContinuousClock.now - head.created >= configuration.deliveryTimeout {
            if ready[partition]!.isEmpty { ready[partition] = nil }
            fail(head, error: KafkaClientError.timedOut("delivery to \(partition): \(error)"))
            return
        }
        head.notBefore = ContinuousClock.now + configuration.retryBackoff
        ready[partition]!.insert(head, at: 0)
        wake()
    }

    private func fail(_ batch: ProducerBatch, error: Error) {
        logger.debug("batch failed", metadata: ["partition": "\(batch.partition)", "error": "\(error)"])
        batch.promise.fail(error)
        errorsCounter.increment(by: batch.records.count)
        if configuration.idempotent {
            // Later batches would leave a gap in the sequence: start over with a new producer id.
            producerId = -1
            for (partition, batches) in ready { ready[partition] = batches.map { var b = $0; b.encoded = nil; return b } }
        }
        release(batch)
    }

    private func release(_ batch: ProducerBatch) {
        bufferedBytes -= batch.bytes
        pendingRecords -= batch.records.count
        let waiting = spaceWaiters
        spaceWaiters.removeAll()
        for waiter in waiting { waiter.succeed() }
        if pendingRecords == 0 {
            let idle = idleWaiters
            idleWaiters.removeAll()
            for waiter in idle { waiter.succeed() }
        }
    }
}

/// A record buffered by ``Producer/submit(_:)``: await ``metadata()`` for where it was written.
public struct PendingDelivery: Sendable {
    /// The outcome of the record's batch: one promise per batch, not per record.
    let batch: EventLoopFuture<BatchOutcome>
    let index: Int
    let partition: TopicPartition
    let timestamp: Int64

    private func metadata(_ outcome: BatchOutcome) -> RecordMetadata {
        RecordMetadata(
            topic: partition.topic, partition: partition.partition, offset: outcome.baseOffset + Int64(index),
            timestamp: outcome.logAppendTime >= 0 ? outcome.logAppendTime : timestamp)
    }

    /// Waits for the acknowledgement; throws the error that made delivery fail.
    public func metadata() async throws -> RecordMetadata {
        metadata(try await batch.get())
    }

    /// Calls `callback` with the outcome when the broker answers, on the producer's I/O thread.
    /// Unlike awaiting ``metadata()`` for each record, this costs no task switch per record,
    /// which matters at hundreds of thousands of records per second. Keep the callback short.
    public func whenComplete(_ callback: @escaping @Sendable (Result<RecordMetadata, Error>) -> Void) {
        batch.whenComplete { result in callback(result.map(metadata)) }
    }
}

/// The encoder settings of one batch, fixed on the producer's actor and applied off it.
struct BatchEncoding: Sendable {
    var encoder: RecordBatchEncoder

    func encode(_ records: [Record]) throws -> ByteBuffer {
        ByteBuffer(bytes: try encoder.encode(records))
    }
}

/// What the broker answered for a batch: its first offset and, for LogAppendTime topics, the
/// time it stamped.
struct BatchOutcome: Sendable {
    var baseOffset: Int64
    var logAppendTime: Int64
}

/// Records bound for one partition, sent together as one record batch.
struct ProducerBatch {
    let partition: TopicPartition
    let created = ContinuousClock.now
    /// Completed once, when the broker acknowledges the batch or it fails for good.
    let promise: EventLoopPromise<BatchOutcome>
    var records: [Record] = []
    var bytes = 0
    var encoded: ByteBuffer?
    var attempts = 0
    var notBefore: ContinuousClock.Instant?

    init(partition: TopicPartition, promise: EventLoopPromise<BatchOutcome>) {
        self.partition = partition
        self.promise = promise
    }

    /// Adds a record; returns its index in the batch, the batch's size after it, and the
    /// batch's outcome.
    mutating func append(_ record: Record, size: Int) -> (index: Int, bytes: Int, outcome: EventLoopFuture<BatchOutcome>) {
        records.append(record)
        bytes += size
        return (records.count - 1, bytes, promise.futureResult)
    }
}
