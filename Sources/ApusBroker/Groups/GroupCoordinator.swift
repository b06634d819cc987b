import ApusProtocol
import ApusStorage
import Logging
import NIOCore
import Synchronization

/// The group coordinator of this broker: the thin shell that runs ``GroupStateMachine`` on ONE
/// event loop (the broker's loop 0), which owns every group. Group requests hop to that loop,
/// parked JoinGroup/SyncGroup requests wait there as promises, timeouts are NIO timers there,
/// and group records go to `__consumer_offsets` through ``OffsetsTopic``.
///
/// Until every partition of `__consumer_offsets` has been read back at start, group requests
/// get COORDINATOR_LOAD_IN_PROGRESS; after shutdown began, NOT_COORDINATOR.
public final class GroupCoordinator: Sendable {
    let eventLoop: EventLoop
    let config: GroupCoordinatorConfig
    let offsetsTopic: OffsetsTopic
    let logger: Logger
    private let machine: NIOLoopBoundBox<GroupStateMachine>
    private let shell: NIOLoopBoundBox<Shell>
    private let loaded = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)

    /// The shell's own loop-confined state: parked requests' promises and the running timers.
    private struct Shell {
        var nextResponder: ResponderId = 0
        var joins: [ResponderId: EventLoopPromise<JoinGroupResponse>] = [:]
        var syncs: [ResponderId: EventLoopPromise<SyncGroupResponse>] = [:]
        var timers: [GroupTimer: (token: UInt64, task: Scheduled<Void>)] = [:]
        var nextToken: UInt64 = 0
        /// Commits being written, per group: offset expiry leaves those groups alone.
        var pendingCommits: [String: Int] = [:]
        /// The periodic offset expiry (`offsets.retention.check.interval.ms`).
        var retentionTask: RepeatedTask?
    }

    private init(config: GroupCoordinatorConfig, topics: TopicManager, logger: Logger, eventLoop: EventLoop) {
        self.eventLoop = eventLoop
        self.config = config
        self.logger = logger
        self.offsetsTopic = OffsetsTopic(topics: topics, config: config, logger: logger)
        self.machine = NIOLoopBoundBox(GroupStateMachine(config: config), eventLoop: eventLoop)
        self.shell = NIOLoopBoundBox(Shell(), eventLoop: eventLoop)
    }

    /// Makes the coordinator on `eventLoop`, which will own all groups.
    static func make(config: GroupCoordinatorConfig, topics: TopicManager, logger: Logger, on eventLoop: EventLoop) -> EventLoopFuture<GroupCoordinator> {
        eventLoop.submit { GroupCoordinator(config: config, topics: topics, logger: logger, eventLoop: eventLoop) }
    }

    /// Whether `__consumer_offsets` has been read back and group requests are served.
    public var isLoaded: Bool { loaded.load(ordering: .acquiring) }

    /// Creates `__consumer_offsets` if missing (awaited by the broker's start).
    func createOffsetsTopic() -> EventLoopFuture<Void> { offsetsTopic.createIfMissing() }

    /// Reads `__consumer_offsets` back into the state machine, then serves group requests.
    func load() -> EventLoopFuture<Void> {
        let started = ContinuousClock.now
        return offsetsTopic.readAll(on: eventLoop).map { records in
            self.run(self.machine.value.restore(records, now: currentTimeMillis()))
            self.loaded.store(true, ordering: .releasing)
            let interval = TimeAmount.milliseconds(self.config.offsetsRetentionCheckIntervalMs)
            self.shell.value.retentionTask = self.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                self.expireOffsets()
            }
            self.logger.info("group coordinator loaded", metadata: [
                "records": "\(records.count)", "groups": "\(self.machine.value.groups.count)", "seconds": "\(ContinuousClock.now - started)"])
        }
    }

    /// Stops serving: parked requests are answered with NOT_COORDINATOR (so clients find the
    /// coordinator again after a restart) and timers are cancelled.
    func shutdown() -> EventLoopFuture<Void> {
        stopped.store(true, ordering: .releasing)
        return onLoop {
            var shell = self.shell.value
            shell.retentionTask?.cancel()
            shell.retentionTask = nil
            for (_, timer) in shell.timers { timer.task.cancel() }
            for (_, promise) in shell.joins { promise.succeed(GroupStateMachine.joinError(.notCoordinator, memberId: "")) }
            for (_, promise) in shell.syncs { promise.succeed(SyncGroupResponse(errorCode: KafkaErrorCode.notCoordinator.rawValue)) }
            shell.timers = [:]
            shell.joins = [:]
            shell.syncs = [:]
            self.shell.value = shell
            return self.eventLoop.makeSucceededVoidFuture()
        }
    }

    /// COORDINATOR_LOAD_IN_PROGRESS while loading, NOT_COORDINATOR once stopping, else nil.
    var unavailable: KafkaErrorCode? {
        if stopped.load(ordering: .acquiring) { return .notCoordinator }
        return isLoaded ? nil : .coordinatorLoadInProgress
    }

    private func onLoop<T: Sendable>(_ body: @escaping @Sendable () -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        eventLoop.inEventLoop ? body() : eventLoop.flatSubmit(body)
    }

    // MARK: Running actions

    private func run(_ actions: [GroupAction]) {
        for action in actions {
            switch action {
            case .joinResponse(let id, let response):
                let promise = shell.value.joins.removeValue(forKey: id)
                promise?.succeed(response)
            case .syncResponse(let id, let response):
                let promise = shell.value.syncs.removeValue(forKey: id)
                promise?.succeed(response)
            case .schedule(let timer, let milliseconds):
                shell.value.timers.removeValue(forKey: timer)?.task.cancel()
                shell.value.nextToken += 1
                let token = shell.value.nextToken
                let task = eventLoop.scheduleTask(in: .milliseconds(milliseconds)) { self.fire(timer, token: token) }
                shell.value.timers[timer] = (token, task)
            case .cancel(let timer):
                shell.value.timers.removeValue(forKey: timer)?.task.cancel()
            case .storeGroup(let groupId, let value):
                _ = offsetsTopic.append([.groupMetadata(group: groupId, value)], groupId: groupId, now: currentTimeMillis(), on: eventLoop)
                    .recover { error in
                        self.logger.warning("storing group metadata failed", metadata: ["group": "\(groupId)", "error": "\(error)"])
                    }
            }
        }
    }

    private func fire(_ timer: GroupTimer, token: UInt64) {
        guard shell.value.timers[timer]?.token == token else { return }
        shell.value.timers[timer] = nil
        run(machine.value.timerFired(timer, now: currentTimeMillis()))
    }

    // MARK: Membership

    func join(_ parameters: JoinParameters) -> EventLoopFuture<JoinGroupResponse> {
        onLoop {
            if let error = self.unavailable {
                return self.eventLoop.makeSucceededFuture(GroupStateMachine.joinError(error, memberId: parameters.memberId))
            }
            let promise = self.eventLoop.makePromise(of: JoinGroupResponse.self)
            self.shell.value.nextResponder += 1
            let id = self.shell.value.nextResponder
            self.shell.value.joins[id] = promise
            self.run(self.machine.value.join(parameters, responder: id, now: currentTimeMillis()))
            return promise.futureResult
        }
    }

    func sync(_ parameters: SyncParameters) -> EventLoopFuture<SyncGroupResponse> {
        onLoop {
            if let error = self.unavailable { return self.eventLoop.makeSucceededFuture(SyncGroupResponse(errorCode: error.rawValue)) }
            let promise = self.eventLoop.makePromise(of: SyncGroupResponse.self)
            self.shell.value.nextResponder += 1
            let id = self.shell.value.nextResponder
            self.shell.value.syncs[id] = promise
            self.run(self.machine.value.sync(parameters, responder: id, now: currentTimeMillis()))
            return promise.futureResult
        }
    }

    func heartbeat(groupId: String, generationId: Int32, memberId: String, groupInstanceId: String?) -> EventLoopFuture<KafkaErrorCode> {
        onLoop {
            if let error = self.unavailable { return self.eventLoop.makeSucceededFuture(error) }
            let (error, actions) = self.machine.value.heartbeat(
                groupId: groupId, generationId: generationId, memberId: memberId, groupInstanceId: groupInstanceId, now: currentTimeMillis())
            self.run(actions)
            return self.eventLoop.makeSucceededFuture(error)
        }
    }

    /// LeaveGroup: the top-level error and one error per member.
    func leave(groupId: String, members: [(memberId: String, groupInstanceId: String?)]) -> EventLoopFuture<(KafkaErrorCode, [KafkaErrorCode])> {
        let members = members.map { LeavingMember(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId) }
        return onLoop {
            if let error = self.unavailable { return self.eventLoop.makeSucceededFuture((error, members.map { _ in error })) }
            let (error, errors, actions) = self.machine.value.leave(
                groupId: groupId, members: members.map { ($0.memberId, $0.groupInstanceId) }, now: currentTimeMillis())
            self.run(actions)
            return self.eventLoop.makeSucceededFuture((error, errors))
        }
    }

    private struct LeavingMember: Sendable {
        var memberId: String
        var groupInstanceId: String?
    }

    // MARK: Offsets

    /// OffsetCommit: checks the member and generation, appends the commit records, then records
    /// the offsets. The future completes (with the group-level error) only after the append.
    func commitOffsets(
        groupId: String, generationId: Int32, memberId: String, groupInstanceId: String?, offsets: [TopicPartition: CommittedOffset]
    ) -> EventLoopFuture<KafkaErrorCode> {
        onLoop {
            if let error = self.unavailable { return self.eventLoop.makeSucceededFuture(error) }
            if let error = self.machine.value.validateOffsetCommit(
                groupId: groupId, generationId: generationId, memberId: memberId, groupInstanceId: groupInstanceId)
            {
                return self.eventLoop.makeSucceededFuture(error)
            }
            if offsets.isEmpty { return self.eventLoop.makeSucceededFuture(.noError) }
            let records = offsets.sorted { $0.key < $1.key }.map { GroupRecord.offset(group: groupId, partition: $0.key, $0.value) }
            self.shell.value.pendingCommits[groupId, default: 0] += 1
            return self.offsetsTopic.append(records, groupId: groupId, now: currentTimeMillis(), on: self.eventLoop).always { _ in
                self.shell.value.pendingCommits[groupId, default: 1] -= 1
                if self.shell.value.pendingCommits[groupId] == 0 { self.shell.value.pendingCommits[groupId] = nil }
            }.map {
                self.machine.value.offsetsCommitted(groupId: groupId, offsets, now: currentTimeMillis())
                return KafkaErrorCode.noError
            }.recover { error in
                self.logger.warning("offset commit failed", metadata: ["group": "\(groupId)", "error": "\(error)"])
                let code = kafkaError(error).code
                return code == .unknownServerError ? .coordinatorNotAvailable : code
            }
        }
    }

    /// Removes expired offsets (and groups left with none) from memory, then writes their
    /// tombstones to `__consumer_offsets`. Runs every `offsets.retention.check.interval.ms`.
    func expireOffsets() {
        eventLoop.preconditionInEventLoop()
        guard unavailable == nil else { return }
        let now = currentTimeMillis()
        let expired = machine.value.expireOffsets(now: now, skipping: Set(shell.value.pendingCommits.keys))
        guard !expired.isEmpty else { return }
        for group in expired {
            let tombstones = group.partitions.map { GroupRecord.offset(group: group.groupId, partition: $0, nil) }
                + (group.groupRemoved ? [.groupMetadata(group: group.groupId, nil)] : [])
            _ = offsetsTopic.append(tombstones, groupId: group.groupId, now: now, on: eventLoop).recover { error in
                self.logger.warning("writing tombstones of expired offsets failed", metadata: ["group": "\(group.groupId)", "error": "\(error)"])
            }
        }
        logger.info("removed expired offsets", metadata: [
            "offsets": "\(expired.reduce(0) { $0 + $1.partitions.count })", "groups removed": "\(expired.filter(\.groupRemoved).count)"])
    }

    /// OffsetFetch: the group's committed offsets (an unknown group has none).
    func committedOffsets(groupId: String) -> EventLoopFuture<(KafkaErrorCode, [TopicPartition: CommittedOffset])> {
        onLoop {
            if let error = self.unavailable { return self.eventLoop.makeSucceededFuture((error, [:])) }
            return self.eventLoop.makeSucceededFuture((.noError, self.machine.value.committedOffsets(groupId: groupId)))
        }
    }

    // MARK: Admin

    /// DescribeGroups: state, protocol and members; members' metadata and assignments only
    /// when Stable, as Kafka. An unknown group is described as Dead with no error, as Kafka does.
    func describe(groupIds: [String]) -> EventLoopFuture<[DescribeGroupsResponse.DescribedGroup]> {
        onLoop {
            let unavailable = self.unavailable
            let described = groupIds.map { groupId -> DescribeGroupsResponse.DescribedGroup in
                if let unavailable {
                    return .init(errorCode: unavailable.rawValue, groupId: groupId, groupState: "", protocolType: "", protocolData: "")
                }
                guard let group = self.machine.value.group(groupId) else {
                    return .init(errorCode: 0, groupId: groupId, groupState: GroupState.dead.rawValue, protocolType: "", protocolData: "")
                }
                let stable = group.state == .stable
                return .init(
                    errorCode: 0, groupId: groupId, groupState: group.state.rawValue, protocolType: group.protocolType ?? "",
                    protocolData: stable ? group.protocolName ?? "" : "",
                    members: group.orderedMembers.map { member in
                        .init(
                            memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                            clientHost: member.clientHost,
                            memberMetadata: stable ? member.metadata(for: group.protocolName) ?? ByteBuffer() : ByteBuffer(),
                            memberAssignment: stable ? member.assignment : ByteBuffer())
                    })
            }
            return self.eventLoop.makeSucceededFuture(described)
        }
    }

    /// ListGroups, filtered by state names (v4, case-insensitive) and group types (v5: "classic").
    func list(states: [String], types: [String]) -> EventLoopFuture<(KafkaErrorCode, [ListGroupsResponse.ListedGroup])> {
        onLoop {
            if let error = self.unavailable { return self.eventLoop.makeSucceededFuture((error, [])) }
            let wantedStates = Set(states.map { $0.lowercased() })
            let wantedTypes = Set(types.map { $0.lowercased() })
            if !wantedTypes.isEmpty && !wantedTypes.contains("classic") { return self.eventLoop.makeSucceededFuture((.noError, [])) }
            let listed = self.machine.value.groups.values
                .filter { $0.state != .dead && (wantedStates.isEmpty || wantedStates.contains($0.state.rawValue.lowercased())) }
                .sorted { $0.groupId < $1.groupId }
                .map { ListGroupsResponse.ListedGroup(groupId: $0.groupId, protocolType: $0.protocolType ?? "", groupState: $0.state.rawValue, groupType: "classic") }
            return self.eventLoop.makeSucceededFuture((.noError, listed))
        }
    }

    /// DeleteGroups: Empty groups are removed with their offsets; answered once the tombstones
    /// (one per offset and one for the group metadata) are in the log.
    func delete(groupIds: [String]) -> EventLoopFuture<[KafkaErrorCode]> {
        onLoop {
            if let error = self.unavailable { return self.eventLoop.makeSucceededFuture(groupIds.map { _ in error }) }
            let now = currentTimeMillis()
            let results = groupIds.map { groupId -> EventLoopFuture<KafkaErrorCode> in
                let (error, partitions) = self.machine.value.deleteGroup(groupId, now: now)
                guard error == .noError else { return self.eventLoop.makeSucceededFuture(error) }
                let tombstones = partitions.map { GroupRecord.offset(group: groupId, partition: $0, nil) } + [.groupMetadata(group: groupId, nil)]
                return self.offsetsTopic.append(tombstones, groupId: groupId, now: now, on: self.eventLoop)
                    .map { KafkaErrorCode.noError }
                    .recover { _ in .coordinatorNotAvailable }
            }
            return EventLoopFuture.whenAllSucceed(results, on: self.eventLoop)
        }
    }
}
