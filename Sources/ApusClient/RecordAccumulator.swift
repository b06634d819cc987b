import ApusRecord
import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where ``Producer/submit(_:)`` puts records, as Kafka's `RecordAccumulator`: one open batch
/// per partition, each record encoded into its batch as it arrives, and the accounting of
/// buffered bytes that gives backpressure. Behind one lock, held for the few hundred
/// nanoseconds an append takes, so a submit costs no task switch; the producer's actor takes
/// the sealed batches from here and does everything that talks to brokers.
final class RecordAccumulator: Sendable {
    /// What the producer's actor should do after an append.
    struct Signal: OptionSet, Sendable {
        let rawValue: Int
        /// Batches were sealed: collect them.
        static let collect = Signal(rawValue: 1)
        /// A batch was opened whose linger ends before the sender loop planned to wake up.
        static let wake = Signal(rawValue: 2)
    }

    enum AppendOutcome {
        /// The record's receipt (nil when it was appended with a delivery callback).
        case appended(PendingDelivery?, Signal)
        /// The topic's layout is unknown or older than ``layoutCacheAge``.
        case needsLayout
        /// The buffer is full: wait for room for this many bytes.
        case needsRoom(Int)
        case unknownPartition(Int32)
        case closed
    }

    /// How long a topic's layout is used before the cluster is asked again.
    static let layoutCacheAge = Duration.seconds(1)

    /// One topic's layout and open batches. A class, so that an append reaches its batch
    /// through one dictionary lookup and changes it in place; it lives only inside ``state``.
    /// Its properties skip the runtime's exclusivity checks (a thread-local access set, a few
    /// per record): the accumulator's lock already keeps every access to them exclusive.
    private final class TopicState {
        @exclusivity(unchecked) var layout: TopicLayout
        @exclusivity(unchecked) var fetchedAt: ContinuousClock.Instant
        /// The open batch of each partition, by index.
        @exclusivity(unchecked) var open: [ProducerBatch?] = []
        /// The size each partition's last sealed batch reached: a new batch reserves about that
        /// much, so a busy partition's batches need not grow and an idle one's stay small.
        @exclusivity(unchecked) var lastBatchSize: [Int] = []
        /// Kafka's sticky partitioner (KIP-480/794) for null-keyed records: one partition until
        /// about a batch of bytes went there, then another one at random.
        @exclusivity(unchecked) var sticky: (partition: Int32, bytes: Int)?

        init(layout: TopicLayout, fetchedAt: ContinuousClock.Instant) {
            self.layout = layout
            self.fetchedAt = fetchedAt
        }
    }

    private struct State {
        var topics: [String: TopicState] = [:]
        var sealed: [ProducerBatch] = []
        var collectScheduled = false
        /// When the sender loop will next wake up by itself; nil before it first runs.
        var senderWakesAt: ContinuousClock.Instant?
        var bufferedBytes = 0
        var pendingRecords = 0
        var flushing = 0
        var closed = false
        var roomWaiters: [CheckedContinuation<Void, Never>] = []
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        /// Records buffers of batches that are done, for new batches to write into: a fresh
        /// buffer of a megabyte costs a page fault per 4 KiB on first touch (about 8 % of the
        /// producer's CPU at 1 KiB records), a reused one none (Kafka's `BufferPool`).
        var spareBuffers: [[UInt8]] = []
        var spareBytes = 0
        /// The topic of the last append: consecutive records of one topic skip hashing its name.
        var lastTopicName: String?
        var lastTopic: TopicState?
    }

    private let state = Mutex(State())
    private let batchSize: Int
    /// What a partition's first batch reserves, and the least any batch does.
    static let minimumBatchCapacity = 16 << 10
    private let bufferMemory: Int
    private let linger: Duration
    private let eventLoop: EventLoop

    init(batchSize: Int, bufferMemory: Int, linger: Duration, eventLoop: EventLoop) {
        self.batchSize = batchSize
        self.bufferMemory = bufferMemory
        self.linger = linger
        self.eventLoop = eventLoop
    }

    var isClosed: Bool { state.withLock { $0.closed } }
    var isFlushing: Bool { state.withLock { $0.flushing > 0 } }

    /// Encodes `record` into its partition's open batch, sealing that batch when full.
    func append(
        _ record: ProducerRecord, onDelivery: DeliveryCallback? = nil
    ) -> AppendOutcome {
        let size = RecordBatchBuilder.maximumEncodedSize(
            keyCount: record.key?.count, valueCount: record.value?.count, headers: record.headers)
        let timestamp = record.timestamp ?? currentTimeMilliseconds()
        return state.withLock { state in
            guard !state.closed else { return .closed }
            let topic: TopicState
            if let last = state.lastTopic, state.lastTopicName == record.topic {
                topic = last
            } else {
                guard let found = state.topics[record.topic] else { return .needsLayout }
                (state.lastTopicName, state.lastTopic) = (record.topic, found)
                topic = found
            }
            guard state.bufferedBytes == 0 || state.bufferedBytes + size <= bufferMemory else { return .needsRoom(size) }
            let partition: Int32
            if let fixed = record.partition {
                guard topic.layout.leaders[fixed] != nil, Int(fixed) < topic.open.count else { return .unknownPartition(fixed) }
                partition = fixed
            } else if let key = record.key {
                partition = Murmur2.partition(forKey: key, partitionCount: topic.layout.partitionCount)
            } else {
                partition = stickyPartition(topic, size: size)
            }
            // A batch is opened when the partition has none or the record would not fit. Only
            // then is the clock read: that is when a layout older than `layoutCacheAge` is
            // refreshed, and when the new batch's linger starts. Opening is kept out of line, so
            // the common path touches no optional clock instant (a resilient type, copied through
            // the runtime's generic value witnesses).
            let slot = Int(partition)
            var signal: Signal = []
            var full: ProducerBatch?
            if topic.open[slot]?.uncompressedSize(adding: size) ?? .max > batchSize {
                guard let opened = openBatch(in: &state, topic: topic, slot: slot, name: record.topic, partition: partition) else {
                    return .needsLayout
                }
                (full, signal) = opened
            }
            // Only mutating calls through `open[slot]!`: they work on the batch in place, where
            // reading a property through it would copy the whole batch first.
            let (index, batchBytes) = topic.open[slot]!.append(
                timestamp: timestamp, key: record.key, value: record.value, headers: record.headers, size: size,
                onDelivery: onDelivery)
            // A submit with a callback gets no receipt: building one costs three retains and releases.
            let delivery = onDelivery == nil ? topic.open[slot]!.delivery(index: index, timestamp: timestamp) : nil
            let filled = state.flushing > 0 || batchBytes >= batchSize ? topic.open[slot].take() : nil
            state.bufferedBytes += size
            state.pendingRecords += 1
            if full != nil || filled != nil {
                if let full { seal(full, in: &state, topic: topic, slot: slot) }
                if let filled { seal(filled, in: &state, topic: topic, slot: slot) }
                if !state.collectScheduled {
                    state.collectScheduled = true
                    signal.insert(.collect)
                }
            }
            return .appended(delivery, signal)
        }
    }

    /// Seals the open batch of `slot`, if any (the record does not fit), and opens a new one,
    /// unless the topic's layout is older than ``layoutCacheAge`` (nil). Returns the sealed
    /// batch, and ``Signal/wake`` if the new batch's linger ends before the sender loop wakes.
    @inline(never)
    private func openBatch(
        in state: inout State, topic: TopicState, slot: Int, name: String, partition: Int32
    ) -> (ProducerBatch?, Signal)? {
        let clock = ContinuousClock.now
        guard clock - topic.fetchedAt < Self.layoutCacheAge else { return nil }
        let capacity = min(batchSize, max(Self.minimumBatchCapacity, topic.lastBatchSize[slot] + topic.lastBatchSize[slot] / 4))
        var spare = Self.takeSpareBuffer(from: &state, capacity: capacity)
        let full = topic.open[slot].take()
        topic.open[slot] = ProducerBatch(
            partition: TopicPartition(name, partition), created: clock, capacity: capacity, reusing: &spare,
            promise: eventLoop.makePromise())
        var signal: Signal = []
        let deadline = clock + linger
        if state.senderWakesAt.map({ deadline < $0 }) ?? true {
            state.senderWakesAt = deadline
            signal.insert(.wake)
        }
        return (full, signal)
    }

    private func seal(_ batch: ProducerBatch, in state: inout State, topic: TopicState, slot: Int) {
        topic.lastBatchSize[slot] = batch.uncompressedBatchSize
        state.sealed.append(batch)
    }

    /// A spare buffer with room for `capacity` bytes, if one is kept.
    private static func takeSpareBuffer(from state: inout State, capacity: Int) -> [UInt8]? {
        guard let index = state.spareBuffers.lastIndex(where: { $0.capacity >= capacity }) else { return nil }
        let buffer = state.spareBuffers.remove(at: index)
        state.spareBytes -= buffer.capacity
        return buffer
    }

    /// Keeps the records buffer of a batch that is done (acknowledged or failed for good) for a
    /// later batch, while the spares stay within a few batches' worth and a quarter of the
    /// buffer memory. The buffer is reused only if nothing else holds it by then; else the new
    /// batch allocates, as without a spare.
    func recycle(_ buffer: [UInt8]) {
        let capacity = buffer.capacity
        guard capacity >= Self.minimumBatchCapacity else { return }
        let limit = min(4 * batchSize, bufferMemory / 4)
        state.withLock { state in
            guard state.spareBuffers.count < 4, state.spareBytes + capacity <= limit else { return }
            state.spareBuffers.append(buffer)
            state.spareBytes += capacity
        }
    }

    private func stickyPartition(_ topic: TopicState, size: Int) -> Int32 {
        let count = topic.layout.partitionCount
        if let sticky = topic.sticky, sticky.partition < count, sticky.bytes < batchSize {
            topic.sticky = (sticky.partition, sticky.bytes + size)
            return sticky.partition
        }
        var next = Int32.random(in: 0..<Int32(count))
        if count > 1, let previous = topic.sticky?.partition, next == previous {
            next = (next + 1) % Int32(count)
        }
        topic.sticky = (next, size)
        return next
    }

    /// Takes in `layout` for its topic, keeping the open batches.
    func update(_ layout: TopicLayout, at now: ContinuousClock.Instant) {
        let count = (layout.leaders.keys.max().map { Int($0) + 1 }) ?? 0
        state.withLock { state in
            let topic = state.topics[layout.name] ?? TopicState(layout: layout, fetchedAt: now)
            topic.layout = layout
            topic.fetchedAt = now
            if topic.open.count < count {
                topic.lastBatchSize += Array(repeating: 0, count: count - topic.open.count)
                topic.open += Array(repeating: nil, count: count - topic.open.count)
            }
            state.topics[layout.name] = topic
        }
    }

    /// Waits until `size` more bytes fit in the buffer, or the producer closed.
    func waitForRoom(_ size: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let fits = state.withLock { state in
                if state.closed || state.bufferedBytes == 0 || state.bufferedBytes + size <= bufferMemory { return true }
                state.roomWaiters.append(continuation)
                return false
            }
            if fits { continuation.resume() }
        }
    }

    /// The sealed batches, in the order they were sealed.
    func drainSealed() -> [ProducerBatch] {
        state.withLock { state in
            state.collectScheduled = false
            defer { state.sealed.removeAll() }
            return state.sealed
        }
    }

    /// Seals every open batch whose linger is over (all of them while flushing or closed), and
    /// records that the sender loop sleeps until the earlier of `otherDeadline` and the next
    /// linger deadline, which it returns. An append that opens a batch with an earlier deadline
    /// signals ``Signal/wake``.
    ///
    /// The open batch of a `busy` partition (one with a batch in flight or waiting to be sent)
    /// stays open after its linger, and records keep going into it until it is full: it is
    /// sealed when the partition is free again, as Kafka's accumulator drains a batch only when
    /// its partition can send. So a partition that cannot keep up with its linger sends fewer,
    /// larger batches instead of queueing one request per linger.
    func sealExpired(
        now: ContinuousClock.Instant, otherDeadline: ContinuousClock.Instant, busy: Set<TopicPartition>
    ) -> ContinuousClock.Instant {
        state.withLock { state in
            let deadline = min(otherDeadline, sealOpenBatches(in: &state, now: now, busy: busy) ?? otherDeadline)
            state.senderWakesAt = deadline
            return deadline
        }
    }

    /// Seals every open batch, and from now until ``endFlush()`` every record as soon as it is
    /// appended.
    func beginFlush() {
        state.withLock { state in
            state.flushing += 1
            _ = sealOpenBatches(in: &state, now: .now, busy: [])
        }
    }

    /// Moves open batches to the sealed list: all of them while flushing or closed, else those
    /// whose linger is over and whose partition is not `busy`. Returns the earliest linger
    /// deadline of the batches left open outside `busy`, if any.
    private func sealOpenBatches(
        in state: inout State, now: ContinuousClock.Instant, busy: Set<TopicPartition>
    ) -> ContinuousClock.Instant? {
        let all = state.flushing > 0 || state.closed
        var deadline: ContinuousClock.Instant?
        for (name, topic) in state.topics {
            for slot in topic.open.indices {
                guard let created = topic.open[slot]?.created else { continue }
                if !all && !busy.isEmpty && busy.contains(TopicPartition(name, Int32(slot))) { continue }
                if all || created + linger <= now {
                    let batch = topic.open[slot].take()!
                    topic.lastBatchSize[slot] = batch.uncompressedBatchSize
                    state.sealed.append(batch)
                } else {
                    deadline = deadline.map { min($0, created + linger) } ?? created + linger
                }
            }
        }
        return deadline
    }

    func endFlush() {
        state.withLock { $0.flushing -= 1 }
    }

    /// Waits until no record is buffered or in flight.
    func waitUntilIdle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state in
                if state.pendingRecords == 0 { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// Refuses further appends and lets everyone waiting for room go on (to find it closed).
    func close() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.roomWaiters.removeAll() }
            return state.roomWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// A batch is done (acknowledged or failed): its bytes leave the buffer.
    func release(bytes: Int, records: Int) {
        let (room, idle) = state.withLock { state in
            state.bufferedBytes -= bytes
            state.pendingRecords -= records
            let room = state.roomWaiters
            state.roomWaiters.removeAll()
            var idle: [CheckedContinuation<Void, Never>] = []
            if state.pendingRecords == 0 { swap(&idle, &state.idleWaiters) }
            return (room, idle)
        }
        for waiter in room + idle { waiter.resume() }
    }
}

/// What ``Producer/submit(_:onDelivery:)`` calls with a record's outcome.
typealias DeliveryCallback = @Sendable (Result<RecordMetadata, Error>) -> Void

/// A delivery callback with its record's index and timestamp in the batch. A struct, not a
/// tuple: an array of tuples is destroyed through the runtime's generic tuple witnesses.
struct BatchCallback: Sendable {
    let index: Int
    let timestamp: Int64
    let call: DeliveryCallback
}

/// Records bound for one partition, sent together as one record batch.
struct ProducerBatch: Sendable {
    let partition: TopicPartition
    let created: ContinuousClock.Instant
    /// Completed once, when the broker acknowledges the batch or it fails for good.
    let promise: EventLoopPromise<BatchOutcome>
    /// The same outcome, set just before the promise is completed, for deliveries asked after.
    let result = BatchResult()
    /// The records, encoded as they were appended.
    private(set) var builder: RecordBatchBuilder
    /// Bytes counted against the buffer (each record's upper bound).
    private(set) var bytes = 0
    /// Callbacks given to ``Producer/submit(_:onDelivery:)``, with their records' indexes.
    private(set) var callbacks: [BatchCallback] = []
    /// The batch compressed and encoded without producer id, epoch and sequence, started off
    /// the actor when it was sealed, so compressing overlaps the partition's request in flight.
    var precompressed: Task<PrecompressedBatch, Error>?
    var encoded: ByteBuffer?
    var attempts = 0
    var notBefore: ContinuousClock.Instant?

    init(
        partition: TopicPartition, created: ContinuousClock.Instant, capacity: Int, reusing spare: inout [UInt8]?,
        promise: EventLoopPromise<BatchOutcome>
    ) {
        self.partition = partition
        self.created = created
        self.promise = promise
        self.builder = RecordBatchBuilder(reusing: &spare, capacity: capacity)
    }

    var recordCount: Int { builder.recordCount }

    /// The batch's size if sent uncompressed.
    var uncompressedBatchSize: Int { builder.uncompressedBatchSize }

    /// Adds a record; returns its index in the batch and the batch's uncompressed size after it.
    mutating func append(
        timestamp: Int64, key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader], size: Int, onDelivery: DeliveryCallback?
    ) -> (index: Int, uncompressedSize: Int) {
        bytes += size
        let index = builder.append(timestamp: timestamp, key: key, value: value, headers: headers)
        if let onDelivery { callbacks.append(BatchCallback(index: index, timestamp: timestamp, call: onDelivery)) }
        return (index, builder.uncompressedBatchSize)
    }

    /// The receipt of the record at `index`. Mutating only so that it is called in place
    /// through an optional (see `RecordAccumulator.append`).
    mutating func delivery(index: Int, timestamp: Int64) -> PendingDelivery {
        PendingDelivery(batch: promise.futureResult, result: result, index: index, partition: partition, timestamp: timestamp)
    }

    /// The uncompressed size with a record of at most `size` bytes more. Mutating only so that
    /// it is called in place through an optional (see `RecordAccumulator.append`).
    mutating func uncompressedSize(adding size: Int) -> Int {
        builder.uncompressedBatchSize + size
    }
}

/// Wall-clock milliseconds since the Unix epoch, as Kafka stamps records (`System.currentTimeMillis`).
func currentTimeMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

/// A batch's outcome once it is known, readable from any thread: a delivery asked for after
/// its batch completed is answered from here, without the hop to the producer's I/O thread
/// that waiting on the batch's future costs (two thread switches per record when a caller
/// submits many records, then waits for each).
final class BatchResult: Sendable {
    private let value = Mutex<Result<BatchOutcome, any Error>?>(nil)

    func set(_ result: Result<BatchOutcome, any Error>) { value.withLock { $0 = result } }

    var result: Result<BatchOutcome, any Error>? { value.withLock { $0 } }
}


/// A batch compressed off the producer's actor (without producer id, epoch and sequence),
/// handed over once: taking the buffer out leaves it with no other reference, so it is stamped
/// in place.
final class PrecompressedBatch: Sendable {
    private let buffer: Mutex<ByteBuffer?>

    init(_ buffer: ByteBuffer) { self.buffer = Mutex(buffer) }

    /// The buffer, the first time; nil after.
    func take() -> ByteBuffer? { buffer.withLock { $0.take() } }
}
