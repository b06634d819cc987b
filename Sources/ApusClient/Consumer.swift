import ApusProtocol
import ApusRecord
import Logging
import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Reads records from assigned partitions, or as a member of a consumer group.
///
/// ```swift
/// let consumer = Consumer(configuration: .init(bootstrapServers: ["127.0.0.1:9092"], groupId: "billing"))
/// try await consumer.subscribe(topics: ["orders"])
/// for try await batch in consumer.batches {
///     try await handle(batch.records)
///     try await consumer.commit(batch)
/// }
/// ```
///
/// Records arrive as ``batches`` (micro-batches: a contiguous run of one partition's records) or
/// ``records`` (one at a time); iterate one of them from one task. Fetching happens while the
/// sequence is iterated, so a slow loop slows fetching down (natural backpressure). A partition
/// is fetched again as soon as everything buffered of it has been handed out, so the next Fetch
/// is on the wire, and its record batches are being decoded concurrently off the actor, while the
/// application processes the last batch. Memory stays bounded: at most one fetch's records per
/// partition are buffered, and one round of Fetch requests is out at a time. Group
/// heartbeats are sent by a background task every ``ConsumerConfiguration/heartbeatInterval``,
/// independently of the application, so a batch may take longer than the session timeout to
/// process; it must stay within ``ConsumerConfiguration/rebalanceTimeout`` (`max.poll.interval.ms`),
/// or the consumer leaves the group, as the Java client does, and rejoins on the next iteration. Runs as a swift-service-lifecycle `Service`: `run()`
/// returns after a graceful shutdown has committed (if auto-commit is on) and left the group.
public actor Consumer: Service {
    /// The configuration it was made with.
    public nonisolated let configuration: ConsumerConfiguration
    let cluster: Cluster
    private let logger: Logger
    private let eventLoop: EventLoop

    private var assignment: Set<TopicPartition> = []
    private var positions: [TopicPartition: Int64] = [:]
    private var pendingSeeks: [TopicPartition: SeekPosition] = [:]
    private var paused: Set<TopicPartition> = []
    private var highWatermarks: [TopicPartition: Int64] = [:]
    private var buffered: [ConsumerBatch] = []
    /// The round of Fetch requests out now, if any (see ``startFetchRound()``).
    private var fetchRound: FetchRound?
    private var lastFetchRoundId = 0
    private var consumed: [TopicPartition: Int64] = [:]
    private var lastCommitted: [TopicPartition: Int64] = [:]
    private var lastAutoCommit = ContinuousClock.now
    private var closed = false
    private var closedLatch = ClosedLatch()

    // Group membership (subscribe).
    private var subscription: [String]?
    private var memberId = ""
    private var generationId: Int32 = -1
    private var coordinator: Int32?
    private var needsRejoin = false
    /// A JoinGroup/SyncGroup round is in progress: the heartbeat task stays quiet.
    private var joining = false
    /// When the application last asked for records (for the `max.poll.interval.ms` check).
    private var lastPoll = ContinuousClock.now
    private var heartbeatTask: Task<Void, Never>?

    private let recordsCounter: Counter
    private let bytesCounter: Counter
    private let rebalancesCounter: Counter

    /// A consumer; it connects on first use.
    public init(configuration: ConsumerConfiguration, logger: Logger = Logger(label: "apus.consumer")) {
        self.configuration = configuration
        self.logger = logger
        self.cluster = Cluster(
            bootstrapServers: configuration.bootstrapServers, clientId: configuration.clientId,
            connectTimeout: configuration.connectTimeout, metadataMaxAge: configuration.metadataMaxAge,
            security: configuration.security, logger: logger)
        self.eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        let dimensions = [("client_id", configuration.clientId)]
        recordsCounter = Counter(label: "apus_client_consumer_records_total", dimensions: dimensions)
        bytesCounter = Counter(label: "apus_client_consumer_bytes_total", dimensions: dimensions)
        rebalancesCounter = Counter(label: "apus_client_consumer_rebalances_total", dimensions: dimensions)
    }

    // MARK: - Assignment

    /// Reads exactly these partitions, each from `position` (or, without one, from its committed
    /// offset when a group is configured, else by ``ConsumerConfiguration/autoOffsetReset``).
    /// Throws ``KafkaClientError/unknownTopic(_:)`` for a topic that does not exist.
    public func assign(_ partitions: [TopicPartition], from position: SeekPosition? = nil) async throws {
        precondition(subscription == nil, "assign and subscribe cannot be mixed")
        for partition in Set(partitions) {
            _ = try await cluster.leader(of: partition)
        }
        try await setAssignment(Set(partitions))
        if let position { for partition in partitions { pendingSeeks[partition] = position } }
    }

    /// Reads every partition of `topic` from `position`.
    public func assign(topic: String, from position: SeekPosition? = nil) async throws {
        let layout = try await cluster.layout(of: topic)
        try await assign(layout.leaders.keys.sorted().map { TopicPartition(topic, $0) }, from: position)
    }

    /// Joins ``ConsumerConfiguration/groupId`` and reads the partitions of `topics` the group
    /// assigns to this member. The first iteration of ``batches`` joins the group.
    public func subscribe(topics: [String]) async throws {
        guard configuration.groupId != nil else {
            throw KafkaClientError.protocolViolation("subscribe needs ConsumerConfiguration.groupId")
        }
        precondition(assignment.isEmpty || subscription != nil, "assign and subscribe cannot be mixed")
        for topic in topics { _ = try await cluster.layout(of: topic) }
        subscription = topics.sorted()
        needsRejoin = true
    }

    /// The partitions this consumer reads now.
    public var assignedPartitions: [TopicPartition] { assignment.sorted() }

    /// The offset of the next record that will be fetched for `partition`, if known.
    public func position(of partition: TopicPartition) -> Int64? { positions[partition] }

    /// The partition's high watermark as of the last fetch.
    public func highWatermark(of partition: TopicPartition) -> Int64? { highWatermarks[partition] }

    /// Moves `partition` to `position`; records buffered for it are dropped.
    public func seek(_ partition: TopicPartition, to position: SeekPosition) {
        pendingSeeks[partition] = position
        buffered.removeAll { $0.topicPartition == partition }
    }

    /// Stops fetching `partitions` until ``resume(_:)``; their buffered records are fetched again later.
    public func pause(_ partitions: [TopicPartition]) {
        for partition in partitions {
            paused.insert(partition)
            if let first = buffered.first(where: { $0.topicPartition == partition }) {
                positions[partition] = first.firstOffset
                buffered.removeAll { $0.topicPartition == partition }
            }
        }
    }

    /// Fetches `partitions` again.
    public func resume(_ partitions: [TopicPartition]) {
        for partition in partitions { paused.remove(partition) }
    }

    /// The paused partitions.
    public var pausedPartitions: [TopicPartition] { paused.sorted() }

    private func setAssignment(_ partitions: Set<TopicPartition>) async throws {
        assignment = partitions
        buffered.removeAll()
        for partition in positions.keys where !partitions.contains(partition) { positions[partition] = nil }
        for partition in pendingSeeks.keys where !partitions.contains(partition) { pendingSeeks[partition] = nil }
        // Committed offsets, when there is a group.
        if configuration.groupId != nil, !partitions.isEmpty {
            let committed = try await fetchCommitted(Array(partitions))
            for (partition, offset) in committed where offset >= 0 {
                positions[partition] = offset
                lastCommitted[partition] = offset
            }
        }
    }

    // MARK: - Record sequences

    /// Micro-batches: each a contiguous run of one partition's records.
    public nonisolated var batches: ConsumerBatches { ConsumerBatches(consumer: self) }

    /// Single records, in the order of ``batches``.
    public nonisolated var records: ConsumerRecords { ConsumerRecords(consumer: self) }

    /// The next micro-batch; nil once closed (or, with ``ConsumerConfiguration/stopAtEndOfLog``, at the end).
    public func nextBatch() async throws -> ConsumerBatch? {
        while true {
            if closed || Task.isCancelled { return nil }
            lastPoll = .now
            try await maintainGroup()
            if let index = buffered.firstIndex(where: { !paused.contains($0.topicPartition) && assignment.contains($0.topicPartition) }) {
                let batch = buffered.remove(at: index)
                consumed[batch.topicPartition] = batch.nextOffset
                startFetchRound()  // prefetch: fetch and decode while the application processes `batch`
                return batch
            }
            if configuration.stopAtEndOfLog && reachedEnd() { return nil }
            do {
                try await resolvePositions()
                startFetchRound()
                if fetchRound == nil {
                    try await Task.sleep(for: min(configuration.fetchMaxWait, .milliseconds(100)))  // nothing to fetch
                } else {
                    try await absorbFetchRound()
                }
            } catch where isConnectionError(error) {
                logger.debug("fetch failed, retrying", metadata: ["error": "\(error)"])
                for partition in assignment { await cluster.invalidate(topic: partition.topic) }
                try await Task.sleep(for: configuration.retryBackoff)
            }
        }
    }

    private func reachedEnd() -> Bool {
        if subscription != nil && (needsRejoin || generationId < 0) { return false }
        return assignment.allSatisfy { partition in
            guard pendingSeeks[partition] == nil, let position = positions[partition], let end = highWatermarks[partition] else { return false }
            return position >= end
        }
    }

    // MARK: - Fetching

    private func resolvePositions() async throws {
        var wanted: [TopicPartition: Int64] = [:]  // ListOffsets timestamps
        for partition in assignment where pendingSeeks[partition] != nil || positions[partition] == nil {
            switch pendingSeeks[partition] {
            case .offset(let offset):
                positions[partition] = offset
                pendingSeeks[partition] = nil
            case .beginning: wanted[partition] = -2
            case .end: wanted[partition] = -1
            case .timestamp(let time): wanted[partition] = time
            case nil:
                switch configuration.autoOffsetReset {
                case .earliest: wanted[partition] = -2
                case .latest: wanted[partition] = -1
                case .none: throw KafkaClientError.broker(.offsetOutOfRange, "no committed offset for \(partition) and autoOffsetReset is none")
                }
            }
        }
        guard !wanted.isEmpty else { return }
        let found = try await listOffsets(wanted)
        for (partition, offset) in found {
            positions[partition] = offset
            pendingSeeks[partition] = nil
            highWatermarks[partition] = nil
        }
    }

    /// Offsets for timestamps (-2: beginning, -1: end) per partition, asked of each leader.
    func listOffsets(_ wanted: [TopicPartition: Int64]) async throws -> [TopicPartition: Int64] {
        try await ApusClient.listOffsets(wanted, cluster: cluster)
    }

    /// Fetch requests to the leaders of some partitions, sent and decoded by a detached task.
    private struct FetchRound {
        let id: Int
        let task: Task<[FetchedPartition], any Error>
    }

    /// Sends a round of Fetch requests, unless one is out, for every assigned, unpaused
    /// partition with a known position and nothing left in ``buffered``. Answers are matched
    /// to the consumer's state only when absorbed, so a seek, pause or rebalance meanwhile
    /// simply makes them stale.
    private func startFetchRound() {
        guard fetchRound == nil, !closed else { return }
        let waiting = Set(buffered.map(\.topicPartition))
        var requested: [TopicPartition: Int64] = [:]
        for partition in assignment where !paused.contains(partition) && pendingSeeks[partition] == nil && !waiting.contains(partition) {
            if let position = positions[partition] { requested[partition] = position }
        }
        guard !requested.isEmpty else { return }
        let cluster = cluster, configuration = configuration
        lastFetchRoundId += 1
        fetchRound = FetchRound(id: lastFetchRoundId, task: Task.detached {
            try await Self.fetch(requested, cluster: cluster, configuration: configuration)
        })
    }

    /// Waits for the round out and absorbs its answers.
    private func absorbFetchRound() async throws {
        guard let round = fetchRound else { return }
        let result = await round.task.result
        guard fetchRound?.id == round.id else { return }  // absorbed meanwhile by another caller
        fetchRound = nil
        for fetched in try result.get() { try await absorb(fetched) }
    }

    /// Fetches `requested` (partition: offset) from the partitions' leaders, one request per
    /// leader, and decodes the answers; runs off the actor.
    private static func fetch(
        _ requested: [TopicPartition: Int64], cluster: Cluster, configuration: ConsumerConfiguration
    ) async throws -> [FetchedPartition] {
        var byNode: [Int32: [TopicPartition]] = [:]
        for partition in requested.keys {
            byNode[try await cluster.leader(of: partition), default: []].append(partition)
        }
        let maxWaitMs = Int32(clamping: configuration.fetchMaxWait.components.seconds * 1000
            + configuration.fetchMaxWait.components.attoseconds / 1_000_000_000_000_000)
        return try await withThrowingTaskGroup(of: [FetchedPartition].self) { group in
            for (node, partitions) in byNode {
                let topics = Dictionary(grouping: partitions, by: \.topic).map { topic, parts in
                    FetchRequest.FetchTopic(topic: topic, partitions: parts.map {
                        .init(partition: $0.partition, fetchOffset: requested[$0]!, partitionMaxBytes: Int32(clamping: configuration.maxPartitionFetchBytes))
                    })
                }
                let request = FetchRequest(
                    replicaId: -1, maxWaitMs: maxWaitMs, minBytes: Int32(clamping: configuration.fetchMinBytes),
                    maxBytes: Int32(clamping: configuration.fetchMaxBytes), isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: topics)
                group.addTask {
                    let response = try await cluster.send(request, to: node, maximumVersion: 12)
                    if response.errorCode != 0 {
                        throw KafkaClientError.broker(KafkaErrorCode(rawValue: response.errorCode) ?? .unknownServerError, "fetch")
                    }
                    return try await decode(response, requested: requested)
                }
            }
            var all: [FetchedPartition] = []
            for try await fetched in group { all += fetched }
            return all
        }
    }

    /// Decodes the partitions of a fetch response concurrently.
    private static func decode(_ response: FetchResponse, requested: [TopicPartition: Int64]) async throws -> [FetchedPartition] {
        try await withThrowingTaskGroup(of: FetchedPartition?.self) { group in
            for topic in response.responses {
                for data in topic.partitions {
                    let partition = TopicPartition(topic.topic, data.partitionIndex)
                    guard let fetchOffset = requested[partition] else { continue }  // not asked for
                    group.addTask {
                        let records: Result<FetchedRecords, any Error>
                        do {
                            records = .success(try await FetchedRecords.decode(data.records, of: partition, from: fetchOffset))
                        } catch {
                            records = .failure(error)
                        }
                        return FetchedPartition(
                            topicPartition: partition, fetchOffset: fetchOffset, errorCode: data.errorCode,
                            highWatermark: data.highWatermark, records: records)
                    }
                }
            }
            var all: [FetchedPartition] = []
            for try await fetched in group { if let fetched { all.append(fetched) } }
            return all
        }
    }

    private func absorb(_ fetched: FetchedPartition) async throws {
        let partition = fetched.topicPartition
        // Ignore answers overtaken by a seek, pause or rebalance while the fetch was out.
        guard assignment.contains(partition), let position = positions[partition], position == fetched.fetchOffset,
            pendingSeeks[partition] == nil
        else { return }
        let code = KafkaErrorCode(rawValue: fetched.errorCode) ?? .unknownServerError
        switch code {
        case .noError:
            break
        case .offsetOutOfRange:
            switch configuration.autoOffsetReset {
            case .earliest: pendingSeeks[partition] = .beginning
            case .latest: pendingSeeks[partition] = .end
            case .none: throw KafkaClientError.broker(code, "offset \(position) of \(partition)")
            }
            return
        default:
            if code.isRetriable || code == .unknownTopicOrPartition {
                await cluster.invalidate(topic: partition.topic)
                try await Task.sleep(for: configuration.retryBackoff)
                return
            }
            throw KafkaClientError.broker(code, "fetching \(partition)")
        }
        highWatermarks[partition] = fetched.highWatermark
        let decoded = try fetched.records.get()
        if decoded.bytes > 0 { bytesCounter.increment(by: decoded.bytes) }
        positions[partition] = decoded.nextOffset
        for records in decoded.runs {
            recordsCounter.increment(by: records.count)
            buffered.append(ConsumerBatch(topicPartition: partition, records: records, highWatermark: fetched.highWatermark))
        }
    }

    // MARK: - Commits

    /// Commits `batch` as processed: its partition's committed offset becomes `lastOffset + 1`.
    public func commit(_ batch: ConsumerBatch) async throws {
        try await commit([batch.topicPartition: batch.nextOffset])
    }

    /// Commits the offsets of everything handed out so far.
    public func commit() async throws {
        try await commit(consumed)
    }

    /// Commits these offsets (the offset of the next record to read, per partition).
    public func commit(_ offsets: [TopicPartition: Int64]) async throws {
        guard let groupId = configuration.groupId else {
            throw KafkaClientError.protocolViolation("commits need ConsumerConfiguration.groupId")
        }
        guard !offsets.isEmpty else { return }
        let topics = Dictionary(grouping: offsets, by: \.key.topic).map { topic, entries in
            OffsetCommitRequest.OffsetCommitRequestTopic(name: topic, partitions: entries.map {
                .init(partitionIndex: $0.key.partition, committedOffset: $0.value, committedLeaderEpoch: -1, committedMetadata: "")
            })
        }
        let request = OffsetCommitRequest(
            groupId: groupId, generationIdOrMemberEpoch: subscription == nil ? -1 : generationId,
            memberId: subscription == nil ? "" : memberId, groupInstanceId: nil, retentionTimeMs: -1, topics: topics)
        let response = try await sendToCoordinator(request, maximumVersion: 8)
        for topic in response.topics {
            for partition in topic.partitions {
                let code = KafkaErrorCode(rawValue: partition.errorCode) ?? .unknownServerError
                guard code == .noError else {
                    if [.rebalanceInProgress, .illegalGeneration, .unknownMemberId].contains(code) { needsRejoin = true }
                    throw KafkaClientError.broker(code, "committing \(topic.name)/\(partition.partitionIndex)")
                }
                lastCommitted[TopicPartition(topic.name, partition.partitionIndex)] = offsets[TopicPartition(topic.name, partition.partitionIndex)]
            }
        }
    }

    /// Runs `body` on each micro-batch and commits the batch after `body` returns: at-least-once
    /// processing. Returns when the sequence ends (close, or end of log with `stopAtEndOfLog`).
    public func processBatches(_ body: (ConsumerBatch) async throws -> Void) async throws {
        while let batch = try await nextBatch() {
            try await body(batch)
            try await commit(batch)
        }
    }

    /// The group's committed offsets for `partitions` (-1: none).
    public func committed(_ partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        try await fetchCommitted(partitions)
    }

    private func fetchCommitted(_ partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        guard let groupId = configuration.groupId else { return [:] }
        let topics = Dictionary(grouping: partitions, by: \.topic).map { topic, parts in
            OffsetFetchRequest.OffsetFetchRequestTopic(name: topic, partitionIndexes: parts.map(\.partition))
        }
        let response = try await sendToCoordinator(OffsetFetchRequest(groupId: groupId, topics: topics), maximumVersion: 7)
        guard response.errorCode == 0 else {
            throw KafkaClientError.broker(KafkaErrorCode(rawValue: response.errorCode) ?? .unknownServerError, "fetching offsets of \(groupId)")
        }
        var result: [TopicPartition: Int64] = [:]
        for topic in response.topics {
            for partition in topic.partitions { result[TopicPartition(topic.name, partition.partitionIndex)] = partition.committedOffset }
        }
        return result
    }

    private func autoCommitIfDue(force: Bool = false) async {
        guard configuration.groupId != nil, configuration.enableAutoCommit else { return }
        guard force || ContinuousClock.now - lastAutoCommit >= configuration.autoCommitInterval else { return }
        lastAutoCommit = ContinuousClock.now
        let due = consumed.filter { lastCommitted[$0.key] != $0.value && assignment.contains($0.key) }
        do {
            try await commit(due)
        } catch {
            logger.debug("auto-commit failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Group membership

    private func sendToCoordinator<Request: RequestMessage>(_ request: Request, maximumVersion: Int16) async throws -> Request.Response {
        guard let groupId = configuration.groupId else { throw KafkaClientError.protocolViolation("no group") }
        let node: Int32
        if let coordinator { node = coordinator } else {
            node = try await cluster.coordinator(of: groupId)
            coordinator = node
        }
        do {
            return try await cluster.send(request, to: node, maximumVersion: maximumVersion)
        } catch {
            coordinator = nil
            throw error
        }
    }

    private func maintainGroup() async throws {
        guard subscription != nil else {
            await autoCommitIfDue()
            return
        }
        if needsRejoin || generationId < 0 {
            try await join()
            return
        }
        await autoCommitIfDue()
    }

    /// Starts the background heartbeat task (once per consumer; it idles while not a member).
    private func startHeartbeats() {
        guard heartbeatTask == nil else { return }
        let interval = configuration.heartbeatInterval
        heartbeatTask = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                await self.heartbeat()
            }
        }
    }

    /// One heartbeat, sent from the background task whatever the application is doing. A
    /// rebalance it learns of is joined at the next ``nextBatch()``; a consumer whose
    /// application has not asked for records within ``ConsumerConfiguration/rebalanceTimeout``
    /// leaves the group so the others can go on (its partitions are given to them).
    private func heartbeat() async {
        guard let groupId = configuration.groupId, !closed, subscription != nil, !joining, generationId >= 0, !memberId.isEmpty else { return }
        if ContinuousClock.now - lastPoll > configuration.rebalanceTimeout {
            logger.debug("no poll within the rebalance timeout, leaving the group", metadata: ["member": "\(memberId)"])
            await leaveGroup(reason: "consumer poll timeout has expired")
            memberId = ""
            generationId = -1
            needsRejoin = true
            return
        }
        let generation = generationId, member = memberId
        do {
            let response = try await sendToCoordinator(
                HeartbeatRequest(groupId: groupId, generationId: generation, memberId: member), maximumVersion: 4)
            // A join may have completed meanwhile: an answer about an older generation is stale.
            guard generation == generationId, member == memberId, !joining else { return }
            try handleGroupError(response.errorCode)
        } catch {
            logger.debug("heartbeat failed", metadata: ["error": "\(error)"])
        }
    }

    private func leaveGroup(reason: String) async {
        guard let groupId = configuration.groupId, !memberId.isEmpty else { return }
        _ = try? await sendToCoordinator(
            LeaveGroupRequest(groupId: groupId, memberId: memberId, members: [.init(memberId: memberId, groupInstanceId: nil, reason: reason)]),
            maximumVersion: 4)
    }

    /// Maps group error codes: rebalance and membership errors mean rejoin; coordinator moves mean find it again.
    private func handleGroupError(_ code: Int16) throws {
        guard code != 0 else { return }
        let error = KafkaErrorCode(rawValue: code) ?? .unknownServerError
        switch error {
        case .rebalanceInProgress:
            needsRejoin = true
        case .illegalGeneration:
            // The group moved on without us: our partitions are lost (given to others).
            generationId = -1
            needsRejoin = true
        case .unknownMemberId, .fencedInstanceId:
            memberId = ""
            generationId = -1
            needsRejoin = true
        case .notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress:
            coordinator = nil
        default:
            throw KafkaClientError.broker(error, "group \(configuration.groupId ?? "")")
        }
    }

    /// True when every offered strategy is cooperative, as in the Java client: the consumer then
    /// rebalances incrementally (KIP-429), otherwise eagerly.
    var isCooperative: Bool {
        !configuration.assignmentStrategies.isEmpty && configuration.assignmentStrategies.allSatisfy { $0 == .cooperativeSticky }
    }

    /// A rebalance round: JoinGroup, (leader: assign), SyncGroup, then read the new assignment.
    ///
    /// Eager: commit and give up every partition first; start all of them from the committed
    /// offsets. Cooperative (KIP-429): keep reading position and buffered records of the owned
    /// partitions, send them (and the generation they were owned in) in the subscription; after
    /// SyncGroup give up only the partitions no longer assigned, start only the new ones, and
    /// rejoin at once when something was given up, so the leader can hand it to its new owner.
    private func join() async throws {
        guard let groupId = configuration.groupId, let topics = subscription else { return }
        if generationId >= 0 { await autoCommitIfDue(force: true) }
        joining = true
        defer { joining = false }
        let cooperative = isCooperative
        if !cooperative || generationId < 0 {
            // Eager, or the membership was lost: nothing is owned any more.
            assignment = []
            buffered.removeAll()
            positions.removeAll()
            pendingSeeks.removeAll()
            consumed.removeAll()
        }
        let owned = assignment.sorted()
        rebalancesCounter.increment()
        var metadata = ByteBufferAllocator().buffer(capacity: 64)
        metadata.writeInteger(Int16(2))
        ConsumerProtocolSubscription(
            topics: topics, userData: nil,
            ownedPartitions: Dictionary(grouping: owned, by: \.topic).map { .init(topic: $0.key, partitions: $0.value.map(\.partition)) },
            generationId: generationId, rackId: nil
        ).write(to: &metadata, version: 2)
        let sessionMs = Int32(clamping: configuration.sessionTimeout.components.seconds * 1000)
        let rebalanceMs = Int32(clamping: configuration.rebalanceTimeout.components.seconds * 1000)
        var attempts = 0
        while true {
            if closed { return }
            try Task.checkCancellation()
            attempts += 1
            if attempts > 100 { throw KafkaClientError.timedOut("joining group \(groupId)") }
            let join: JoinGroupResponse
            do {
                join = try await sendToCoordinator(JoinGroupRequest(
                    groupId: groupId, sessionTimeoutMs: sessionMs, rebalanceTimeoutMs: rebalanceMs, memberId: memberId,
                    groupInstanceId: nil, protocolType: "consumer",
                    protocols: configuration.assignmentStrategies.map { .init(name: $0.rawValue, metadata: metadata) }, reason: nil),
                    maximumVersion: 7)
            } catch where isConnectionError(error) {
                try await Task.sleep(for: configuration.retryBackoff)
                continue
            }
            let code = KafkaErrorCode(rawValue: join.errorCode) ?? .unknownServerError
            if code == .memberIdRequired {
                memberId = join.memberId
                continue
            }
            if code != .noError {
                try handleGroupError(join.errorCode)
                try await Task.sleep(for: configuration.retryBackoff)
                continue
            }
            memberId = join.memberId
            generationId = join.generationId
            var assignments: [SyncGroupRequest.SyncGroupRequestAssignment] = []
            if join.leader == join.memberId {
                let strategy = PartitionAssignmentStrategy(rawValue: join.protocolName ?? "") ?? .range
                let subscriptions = join.members.map { ($0.memberId, Self.decodeSubscription($0.metadata)) }
                let members = Self.validatedOwnership(subscriptions)
                var counts: [String: Int] = [:]
                for topic in Set(members.flatMap(\.topics)) {
                    counts[topic] = (try? await cluster.layout(of: topic))?.partitionCount ?? 0
                }
                var plan = strategy.assign(members: members, partitionCounts: counts)
                if strategy == .cooperativeSticky { plan = Self.withholdingTransfers(plan, members: members) }
                logger.debug("assigned as leader", metadata: ["strategy": "\(strategy.rawValue)", "members": "\(members.count)"])
                for (member, partitions) in plan {
                    var bytes = ByteBufferAllocator().buffer(capacity: 64)
                    bytes.writeInteger(Int16(0))
                    ConsumerProtocolAssignment(
                        assignedPartitions: Dictionary(grouping: partitions, by: \.topic).map { .init(topic: $0.key, partitions: $0.value.map(\.partition)) },
                        userData: nil
                    ).write(to: &bytes, version: 0)
                    assignments.append(.init(memberId: member, assignment: bytes))
                }
            }
            let sync: SyncGroupResponse
            do {
                sync = try await sendToCoordinator(SyncGroupRequest(
                    groupId: groupId, generationId: generationId, memberId: memberId, groupInstanceId: nil,
                    protocolType: "consumer", protocolName: join.protocolName, assignments: assignments), maximumVersion: 5)
            } catch where isConnectionError(error) {
                try await Task.sleep(for: configuration.retryBackoff)
                continue
            }
            if sync.errorCode != 0 {
                try handleGroupError(sync.errorCode)
                continue
            }
            var partitions = Set<TopicPartition>()
            var bytes = sync.assignment
            if bytes.readableBytes >= 2, let version = bytes.readInteger(as: Int16.self),
                let decoded = try? ConsumerProtocolAssignment(from: &bytes, version: min(max(version, 0), ConsumerProtocolAssignment.validVersions.upperBound))
            {
                for topic in decoded.assignedPartitions { for p in topic.partitions { partitions.insert(TopicPartition(topic.topic, p)) } }
            }
            needsRejoin = false
            if cooperative {
                let revoked = assignment.subtracting(partitions)
                try await changeAssignment(to: partitions)
                // Given-up partitions go to their new owners in a follow-up round.
                if !revoked.isEmpty { needsRejoin = true }
            } else {
                try await setAssignment(partitions)
            }
            startHeartbeats()
            logger.debug("joined group", metadata: [
                "group": "\(groupId)", "generation": "\(generationId)", "member": "\(memberId)", "partitions": "\(partitions.sorted())",
            ])
            return
        }
    }

    /// Incremental assignment change: revoked partitions are dropped (with their positions and
    /// buffered records), kept ones go on where they are, added ones start from their committed
    /// offsets.
    private func changeAssignment(to partitions: Set<TopicPartition>) async throws {
        let revoked = assignment.subtracting(partitions), added = partitions.subtracting(assignment)
        assignment = partitions
        buffered.removeAll { revoked.contains($0.topicPartition) }
        for partition in revoked {
            positions[partition] = nil
            pendingSeeks[partition] = nil
            consumed[partition] = nil
            highWatermarks[partition] = nil
        }
        if !added.isEmpty {
            for (partition, offset) in try await fetchCommitted(Array(added)) where offset >= 0 {
                positions[partition] = offset
                lastCommitted[partition] = offset
            }
        }
    }

    /// The members as the leader assigns them: a partition claimed as owned by several members
    /// (one of them missed a rebalance) stays owned only by the claim of the latest generation.
    static func validatedOwnership(_ subscriptions: [(memberId: String, subscription: ConsumerProtocolSubscription?)]) -> [GroupMemberSubscription] {
        var claims: [TopicPartition: (member: String, generation: Int32)] = [:]
        for (memberId, subscription) in subscriptions {
            guard let subscription else { continue }
            for topic in subscription.ownedPartitions {
                for partition in topic.partitions {
                    let key = TopicPartition(topic.topic, partition)
                    if let claim = claims[key], claim.generation >= subscription.generationId { continue }
                    claims[key] = (memberId, subscription.generationId)
                }
            }
        }
        return subscriptions.map { memberId, subscription in
            GroupMemberSubscription(
                memberId: memberId, topics: subscription?.topics ?? [],
                ownedPartitions: claims.filter { $0.value.member == memberId }.keys.sorted())
        }
    }

    /// KIP-429's rule for the leader: a partition moving from one member to another is left out
    /// of this round's assignment, so its owner gives it up first; the owner's follow-up rejoin
    /// starts the round that hands it over.
    static func withholdingTransfers(_ plan: [String: [TopicPartition]], members: [GroupMemberSubscription]) -> [String: [TopicPartition]] {
        var owner: [TopicPartition: String] = [:]
        for member in members { for partition in member.ownedPartitions { owner[partition] = member.memberId } }
        return plan.mapValues { _ in [] }.merging(plan.map { member, partitions in
            (member, partitions.filter { owner[$0] == nil || owner[$0] == member })
        }) { $1 }
    }

    static func decodeSubscription(_ metadata: ByteBuffer) -> ConsumerProtocolSubscription? {
        var bytes = metadata
        guard let version = bytes.readInteger(as: Int16.self) else { return nil }
        return try? ConsumerProtocolSubscription(from: &bytes, version: min(max(version, 0), ConsumerProtocolSubscription.validVersions.upperBound))
    }

    // MARK: - Lifecycle

    /// Commits (with auto-commit), leaves the group and closes the connections. The record
    /// sequences end.
    public func close() async {
        guard !closed else { return }
        if subscription != nil || configuration.groupId != nil { await autoCommitIfDue(force: true) }
        closed = true
        heartbeatTask?.cancel()
        heartbeatTask = nil
        fetchRound?.task.cancel()
        fetchRound = nil
        if subscription != nil { await leaveGroup(reason: "closing") }
        await cluster.close()
        closedLatch.close()
    }

    private func waitUntilClosed() async {
        await withCheckedContinuation { closedLatch.add($0) }
    }

    /// Runs until a graceful shutdown (or cancellation), then closes.
    public func run() async throws {
        await runUntilClosed(waitUntilClosed: { await self.waitUntilClosed() }, close: { await self.close() })
    }
}

/// Offsets for timestamps (-2: beginning, -1: end) per partition, asked of each partition's leader.
func listOffsets(_ wanted: [TopicPartition: Int64], cluster: Cluster) async throws -> [TopicPartition: Int64] {
    var byNode: [Int32: [TopicPartition]] = [:]
    for partition in wanted.keys { byNode[try await cluster.leader(of: partition), default: []].append(partition) }
    var result: [TopicPartition: Int64] = [:]
    for (node, partitions) in byNode {
        let topics = Dictionary(grouping: partitions, by: \.topic).map { topic, parts in
            ListOffsetsRequest.ListOffsetsTopic(name: topic, partitions: parts.map {
                .init(partitionIndex: $0.partition, currentLeaderEpoch: -1, timestamp: wanted[$0]!, maxNumOffsets: 1)
            })
        }
        let response = try await cluster.send(ListOffsetsRequest(replicaId: -1, isolationLevel: 0, topics: topics), to: node, maximumVersion: 7)
        var timestampMisses: [TopicPartition] = []
        for topic in response.topics {
            for partition in topic.partitions {
                let key = TopicPartition(topic.name, partition.partitionIndex)
                guard partition.errorCode == 0 else {
                    let code = KafkaErrorCode(rawValue: partition.errorCode) ?? .unknownServerError
                    if code.isRetriable { await cluster.invalidate(topic: topic.name) }
                    throw KafkaClientError.broker(code, "listing offsets of \(key)")
                }
                if partition.offset < 0 { timestampMisses.append(key) } else { result[key] = partition.offset }
            }
        }
        // No record at or after the timestamp: the end of the log.
        if !timestampMisses.isEmpty {
            let ends = try await listOffsets(Dictionary(uniqueKeysWithValues: timestampMisses.map { ($0, -1) }), cluster: cluster)
            result.merge(ends) { $1 }
        }
    }
    return result
}

/// The consumer's micro-batches as an `AsyncSequence`.
public struct ConsumerBatches: AsyncSequence, Sendable {
    public typealias Element = ConsumerBatch
    let consumer: Consumer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: Consumer
        public mutating func next() async throws -> ConsumerBatch? { try await consumer.nextBatch() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(consumer: consumer) }
}

/// The consumer's records one by one as an `AsyncSequence`.
public struct ConsumerRecords: AsyncSequence, Sendable {
    public typealias Element = ConsumerRecord
    let consumer: Consumer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: Consumer
        var current: [ConsumerRecord] = []
        var index = 0

        public mutating func next() async throws -> ConsumerRecord? {
            while index >= current.count {
                guard let batch = try await consumer.nextBatch() else { return nil }
                current = batch.records
                index = 0
            }
            defer { index += 1 }
            return current[index]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(consumer: consumer) }
}
