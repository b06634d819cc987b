import ApusProtocol
import ApusStorage
import Foundation
import NIOCore

/// Identifies a parked request (a JoinGroup or SyncGroup waiting for the rebalance) to the shell
/// that holds its promise.
typealias ResponderId = UInt64

/// A timeout the state machine asks its shell to run.
enum GroupTimer: Hashable, Sendable {
    /// A member's (or pending member's) session: it expires unless a heartbeat, join or sync resets it.
    case session(group: String, member: String)
    /// The end of PreparingRebalance: the initial delay or the rebalance timeout.
    case join(group: String)
    /// The end of the wait for SyncGroups after a generation starts (the rebalance timeout).
    case sync(group: String)
}

/// What the state machine asks its shell to do.
enum GroupAction: Sendable {
    case joinResponse(ResponderId, JoinGroupResponse)
    case syncResponse(ResponderId, SyncGroupResponse)
    /// Run ``GroupStateMachine/timerFired(_:now:)`` after this long, replacing a timer with the same key.
    case schedule(GroupTimer, milliseconds: Int64)
    case cancel(GroupTimer)
    /// Persist the group's metadata record (nil: a tombstone).
    case storeGroup(groupId: String, GroupMetadataValue?)
}

/// What a JoinGroup asks, independent of the request version.
struct JoinParameters: Sendable {
    var groupId: String
    var memberId: String
    var groupInstanceId: String?
    var clientId: String
    var clientHost: String
    var sessionTimeoutMs: Int32
    var rebalanceTimeoutMs: Int32
    var protocolType: String
    var protocols: [GroupMember.SupportedProtocol]
    /// JoinGroup v4+: an unknown member first gets MEMBER_ID_REQUIRED with its id (KIP-394).
    var requireKnownMemberId: Bool
}

/// What a SyncGroup asks.
struct SyncParameters: Sendable {
    var groupId: String
    var generationId: Int32
    var memberId: String
    var groupInstanceId: String?
    var protocolType: String?
    var protocolName: String?
    var assignments: [String: ByteBuffer]
}

/// The classic group coordinator as a pure state machine (Kafka's `GroupMetadataManager` for
/// classic groups): requests and timer expiries go in, ``GroupAction``s come out. It does no
/// I/O and reads no clock, so tests drive it directly; ``GroupCoordinator`` runs it on one
/// event loop. Transitions and checks follow Kafka's (Docs/consumer-groups.md).
struct GroupStateMachine {
    var config: GroupCoordinatorConfig
    private(set) var groups: [String: ConsumerGroup] = [:]
    private(set) var offsets = OffsetStore()
    /// Makes member ids: `clientId-UUID` (or `groupInstanceId-UUID`), Kafka's form.
    var makeMemberId: @Sendable (String) -> String = { "\($0)-\(UUID().uuidString.lowercased())" }
    private var output: [GroupAction] = []

    init(config: GroupCoordinatorConfig) {
        self.config = config
    }

    func group(_ id: String) -> ConsumerGroup? { groups[id] }

    private mutating func emit(_ action: GroupAction) { output.append(action) }

    private mutating func drain() -> [GroupAction] {
        defer { output.removeAll() }
        return output
    }

    // MARK: JoinGroup

    mutating func join(_ p: JoinParameters, responder: ResponderId, now: Int64) -> [GroupAction] {
        joinGroup(p, responder: responder, now: now)
        return drain()
    }

    static func joinError(_ code: KafkaErrorCode, memberId: String) -> JoinGroupResponse {
        JoinGroupResponse(errorCode: code.rawValue, generationId: -1, protocolType: nil, protocolName: nil, leader: "", memberId: memberId, members: [])
    }

    private mutating func joinGroup(_ p: JoinParameters, responder: ResponderId, now: Int64) {
        func fail(_ code: KafkaErrorCode) { emit(.joinResponse(responder, Self.joinError(code, memberId: p.memberId))) }
        guard !p.groupId.isEmpty else { return fail(.invalidGroupId) }
        guard p.sessionTimeoutMs >= config.minSessionTimeoutMs, p.sessionTimeoutMs <= config.maxSessionTimeoutMs else {
            return fail(.invalidSessionTimeout)
        }
        let group: ConsumerGroup
        if let existing = groups[p.groupId] {
            group = existing
        } else {
            guard p.memberId.isEmpty else { return fail(.unknownMemberId) }
            group = ConsumerGroup(groupId: p.groupId, now: now)
        }
        guard group.state != .dead else { return fail(.coordinatorNotAvailable) }
        guard group.supports(protocolType: p.protocolType, protocols: p.protocols) else { return fail(.inconsistentGroupProtocol) }
        let known = group.member(p.memberId) != nil || group.pendingMembers.contains(p.memberId)
            || (p.groupInstanceId.flatMap(group.staticMemberId) != nil)
        if !known && group.members.count + group.pendingMembers.count >= Int(config.maxSize) {
            return fail(.groupMaxSizeReached)
        }
        groups[p.groupId] = group
        if p.memberId.isEmpty {
            joinNewMember(group, p, responder: responder, now: now)
        } else {
            joinExistingMember(group, p, responder: responder, now: now)
        }
        dropIfUnused(group)
    }

    private mutating func joinNewMember(_ group: ConsumerGroup, _ p: JoinParameters, responder: ResponderId, now: Int64) {
        let newId = makeMemberId(p.groupInstanceId ?? p.clientId)
        if let instance = p.groupInstanceId {
            if let oldId = group.staticMemberId(instance), group.member(oldId) != nil {
                replaceStaticMember(group, oldId: oldId, newId: newId, p, responder: responder, now: now)
            } else {
                addMember(group, memberId: newId, p, responder: responder, now: now)
            }
        } else if p.requireKnownMemberId {
            group.pendingMembers.insert(newId)
            emit(.schedule(.session(group: group.groupId, member: newId), milliseconds: Int64(p.sessionTimeoutMs)))
            emit(.joinResponse(responder, Self.joinError(.memberIdRequired, memberId: newId)))
        } else {
            addMember(group, memberId: newId, p, responder: responder, now: now)
        }
    }

    private mutating func joinExistingMember(_ group: ConsumerGroup, _ p: JoinParameters, responder: ResponderId, now: Int64) {
        func fail(_ code: KafkaErrorCode) { emit(.joinResponse(responder, Self.joinError(code, memberId: p.memberId))) }
        if group.pendingMembers.contains(p.memberId) {
            group.pendingMembers.remove(p.memberId)
            addMember(group, memberId: p.memberId, p, responder: responder, now: now)
            return
        }
        if let error = Self.validateMember(group, memberId: p.memberId, instanceId: p.groupInstanceId) { return fail(error) }
        guard let member = group.member(p.memberId) else { return fail(.unknownMemberId) }
        emit(.schedule(.session(group: group.groupId, member: p.memberId), milliseconds: Int64(p.sessionTimeoutMs)))
        switch group.state {
        case .preparingRebalance:
            updateMemberAndRebalance(group, p, responder: responder, now: now)
        case .completingRebalance:
            if member.matches(p.protocols) {
                emit(.joinResponse(responder, currentGeneration(group, for: p.memberId, includeMembers: p.memberId == group.leaderId)))
            } else {
                updateMemberAndRebalance(group, p, responder: responder, now: now)
            }
        case .stable:
            if p.memberId == group.leaderId || !member.matches(p.protocols) {
                updateMemberAndRebalance(group, p, responder: responder, now: now)
            } else {
                emit(.joinResponse(responder, currentGeneration(group, for: p.memberId, includeMembers: false)))
            }
        case .empty, .dead:
            fail(.unknownMemberId)
        }
    }

    /// Kafka's member check: a static member must present the member id its instance maps to.
    static func validateMember(_ group: ConsumerGroup, memberId: String, instanceId: String?) -> KafkaErrorCode? {
        if let instanceId {
            guard let mapped = group.staticMemberId(instanceId) else { return .unknownMemberId }
            return mapped == memberId ? nil : .fencedInstanceId
        }
        return group.member(memberId) == nil ? .unknownMemberId : nil
    }

    private func currentGeneration(_ group: ConsumerGroup, for memberId: String, includeMembers: Bool) -> JoinGroupResponse {
        JoinGroupResponse(
            errorCode: 0, generationId: group.generationId, protocolType: group.protocolType, protocolName: group.protocolName,
            leader: group.leaderId ?? "", memberId: memberId, members: includeMembers ? memberList(group) : [])
    }

    private func memberList(_ group: ConsumerGroup) -> [JoinGroupResponse.JoinGroupResponseMember] {
        group.orderedMembers.map { member in
            .init(memberId: member.memberId, groupInstanceId: member.groupInstanceId, metadata: member.metadata(for: group.protocolName) ?? ByteBuffer())
        }
    }

    private mutating func addMember(_ group: ConsumerGroup, memberId: String, _ p: JoinParameters, responder: ResponderId, now: Int64) {
        var member = GroupMember(
            memberId: memberId, groupInstanceId: p.groupInstanceId, clientId: p.clientId, clientHost: p.clientHost,
            sessionTimeoutMs: p.sessionTimeoutMs, rebalanceTimeoutMs: p.rebalanceTimeoutMs, protocolType: p.protocolType,
            protocols: p.protocols)
        member.awaitingJoin = responder
        if group.state == .preparingRebalance && group.initialRebalanceRemainingMs != nil { group.newMemberAdded = true }
        group.add(member)
        emit(.schedule(.session(group: group.groupId, member: memberId), milliseconds: Int64(p.sessionTimeoutMs)))
        prepareRebalanceOrCompleteJoin(group, now: now)
    }

    private mutating func updateMemberAndRebalance(_ group: ConsumerGroup, _ p: JoinParameters, responder: ResponderId, now: Int64) {
        if let previous = group.member(p.memberId)?.awaitingJoin {
            // A retried join replaces the one still parked: that one is told to rejoin.
            emit(.joinResponse(previous, Self.joinError(.rebalanceInProgress, memberId: p.memberId)))
        }
        group.updateMember(p.memberId) { member in
            member.protocols = p.protocols
            member.sessionTimeoutMs = p.sessionTimeoutMs
            member.rebalanceTimeoutMs = p.rebalanceTimeoutMs
            member.awaitingJoin = responder
        }
        prepareRebalanceOrCompleteJoin(group, now: now)
    }

    /// A static member rejoined with no member id: it gets a new id and the old one is fenced.
    /// In a Stable group with unchanged metadata this causes no rebalance (KIP-345).
    private mutating func replaceStaticMember(
        _ group: ConsumerGroup, oldId: String, newId: String, _ p: JoinParameters, responder: ResponderId, now: Int64
    ) {
        guard let old = group.member(oldId) else { return }
        if let parked = old.awaitingJoin { emit(.joinResponse(parked, Self.joinError(.fencedInstanceId, memberId: oldId))) }
        if let parked = old.awaitingSync { emit(.syncResponse(parked, SyncGroupResponse(errorCode: KafkaErrorCode.fencedInstanceId.rawValue))) }
        emit(.cancel(.session(group: group.groupId, member: oldId)))
        group.replaceStaticMember(oldId, with: newId)
        emit(.schedule(.session(group: group.groupId, member: newId), milliseconds: Int64(p.sessionTimeoutMs)))
        let unchanged = old.metadata(for: group.protocolName) == p.protocols.first { $0.name == group.protocolName }?.metadata
            && group.protocolName != nil
        group.updateMember(newId) { member in
            member.clientId = p.clientId
            member.clientHost = p.clientHost
            member.sessionTimeoutMs = p.sessionTimeoutMs
            member.rebalanceTimeoutMs = p.rebalanceTimeoutMs
        }
        if group.state == .stable && unchanged {
            group.updateMember(newId) { $0.protocols = p.protocols }
            emit(.joinResponse(responder, currentGeneration(group, for: newId, includeMembers: false)))
            return
        }
        group.updateMember(newId) { member in
            member.protocols = p.protocols
            member.awaitingJoin = responder
        }
        prepareRebalanceOrCompleteJoin(group, now: now)
    }

    // MARK: Rebalancing

    private mutating func prepareRebalanceOrCompleteJoin(_ group: ConsumerGroup, now: Int64) {
        switch group.state {
        case .stable, .completingRebalance, .empty: prepareRebalance(group, now: now)
        case .preparingRebalance: maybeCompleteJoin(group, now: now)
        case .dead: break
        }
    }

    private mutating func prepareRebalance(_ group: ConsumerGroup, now: Int64) {
        if group.state == .completingRebalance {
            // The assignment being handed out is void: parked syncs are told to rejoin.
            for member in group.orderedMembers {
                if let parked = member.awaitingSync {
                    emit(.syncResponse(parked, SyncGroupResponse(errorCode: KafkaErrorCode.rebalanceInProgress.rawValue)))
                }
                group.updateMember(member.memberId) { member in
                    member.awaitingSync = nil
                    member.assignment = ByteBuffer()
                }
            }
        }
        emit(.cancel(.sync(group: group.groupId)))
        group.pendingSync = []
        let isInitial = group.state == .empty
        group.transition(to: .preparingRebalance, now: now)
        if isInitial {
            let delay = Int64(config.initialRebalanceDelayMs)
            group.newMemberAdded = false
            group.initialRebalanceRemainingMs = max(Int64(group.rebalanceTimeoutMs) - delay, 0)
            emit(.schedule(.join(group: group.groupId), milliseconds: delay))
        } else {
            group.initialRebalanceRemainingMs = nil
            emit(.schedule(.join(group: group.groupId), milliseconds: Int64(group.rebalanceTimeoutMs)))
            maybeCompleteJoin(group, now: now)
        }
    }

    /// Completes the join phase early when everyone has rejoined (not during the initial delay).
    private mutating func maybeCompleteJoin(_ group: ConsumerGroup, now: Int64) {
        if group.state == .preparingRebalance && group.hasAllMembersJoined && group.initialRebalanceRemainingMs == nil {
            completeJoin(group, now: now)
        }
    }

    private mutating func completeJoin(_ group: ConsumerGroup, now: Int64) {
        guard group.state == .preparingRebalance else { return }
        emit(.cancel(.join(group: group.groupId)))
        group.initialRebalanceRemainingMs = nil
        // Dynamic members that did not rejoin in time leave the group.
        for member in group.orderedMembers where member.awaitingJoin == nil && member.groupInstanceId == nil {
            group.remove(member.memberId)
            emit(.cancel(.session(group: group.groupId, member: member.memberId)))
        }
        if !group.members.isEmpty {
            if group.leaderId.flatMap(group.member)?.awaitingJoin == nil {
                guard let joined = group.orderedMembers.first(where: { $0.awaitingJoin != nil }) else {
                    // Only static members that have not rejoined: wait for them (or their sessions).
                    emit(.schedule(.join(group: group.groupId), milliseconds: Int64(group.rebalanceTimeoutMs)))
                    return
                }
                group.leaderId = joined.memberId
            }
        }
        group.generationId += 1
        if group.members.isEmpty {
            group.protocolName = nil
            group.leaderId = nil
            group.transition(to: .empty, now: now)
            emit(.storeGroup(groupId: group.groupId, groupMetadata(group, now: now)))
            return
        }
        group.protocolName = group.selectProtocol()
        group.transition(to: .completingRebalance, now: now)
        group.pendingSync = Set(group.members.keys)
        let members = memberList(group)
        for member in group.orderedMembers {
            guard let parked = member.awaitingJoin else { continue }
            var response = currentGeneration(group, for: member.memberId, includeMembers: false)
            if member.memberId == group.leaderId { response.members = members }
            emit(.joinResponse(parked, response))
            group.updateMember(member.memberId) { $0.awaitingJoin = nil }
            emit(.schedule(.session(group: group.groupId, member: member.memberId), milliseconds: Int64(member.sessionTimeoutMs)))
        }
        emit(.schedule(.sync(group: group.groupId), milliseconds: Int64(group.rebalanceTimeoutMs)))
    }

    /// Removes a member and moves the group on: a rebalance, or the end of the join phase.
    private mutating func removeMemberAndUpdateGroup(_ group: ConsumerGroup, memberId: String, now: Int64) {
        guard let member = group.member(memberId) else { return }
        if let parked = member.awaitingJoin { emit(.joinResponse(parked, Self.joinError(.unknownMemberId, memberId: memberId))) }
        if let parked = member.awaitingSync { emit(.syncResponse(parked, SyncGroupResponse(errorCode: KafkaErrorCode.unknownMemberId.rawValue))) }
        group.remove(memberId)
        emit(.cancel(.session(group: group.groupId, member: memberId)))
        switch group.state {
        case .dead, .empty: break
        case .stable, .completingRebalance: prepareRebalance(group, now: now)
        case .preparingRebalance: maybeCompleteJoin(group, now: now)
        }
    }

    /// Forgets a group that never got anywhere (a MEMBER_ID_REQUIRED that was never followed up).
    private mutating func dropIfUnused(_ group: ConsumerGroup) {
        if group.state == .empty && group.members.isEmpty && group.pendingMembers.isEmpty && group.generationId == 0
            && offsets.offsets(of: group.groupId).isEmpty
        {
            groups[group.groupId] = nil
        }
    }

    // MARK: Timers

    mutating func timerFired(_ timer: GroupTimer, now: Int64) -> [GroupAction] {
        switch timer {
        case .session(let groupId, let memberId):
            guard let group = groups[groupId], group.state != .dead else { break }
            if group.pendingMembers.remove(memberId) != nil {
                maybeCompleteJoin(group, now: now)
                dropIfUnused(group)
            } else if let member = group.member(memberId), member.awaitingJoin == nil, member.awaitingSync == nil {
                removeMemberAndUpdateGroup(group, memberId: memberId, now: now)
            }
        case .join(let groupId):
            guard let group = groups[groupId], group.state == .preparingRebalance else { break }
            if let remaining = group.initialRebalanceRemainingMs, group.newMemberAdded, remaining > 0 {
                // A member joined during the initial delay: wait another delay, within the rebalance timeout.
                group.newMemberAdded = false
                let delay = min(Int64(config.initialRebalanceDelayMs), remaining)
                group.initialRebalanceRemainingMs = max(remaining - delay, 0)
                emit(.schedule(.join(group: groupId), milliseconds: delay))
            } else {
                completeJoin(group, now: now)
            }
        case .sync(let groupId):
            guard let group = groups[groupId], group.state == .completingRebalance || group.state == .stable else { break }
            for memberId in group.pendingSync.sorted() { removeMemberAndUpdateGroup(group, memberId: memberId, now: now) }
        }
        return drain()
    }

    // MARK: SyncGroup

    mutating func sync(_ p: SyncParameters, responder: ResponderId, now: Int64) -> [GroupAction] {
        syncGroup(p, responder: responder, now: now)
        return drain()
    }

    private mutating func syncGroup(_ p: SyncParameters, responder: ResponderId, now: Int64) {
        func fail(_ code: KafkaErrorCode) { emit(.syncResponse(responder, SyncGroupResponse(errorCode: code.rawValue))) }
        guard let group = groups[p.groupId] else { return fail(.unknownMemberId) }
        guard group.state != .dead else { return fail(.coordinatorNotAvailable) }
        if let error = Self.validateMember(group, memberId: p.memberId, instanceId: p.groupInstanceId) { return fail(error) }
        guard p.generationId == group.generationId else { return fail(.illegalGeneration) }
        if let type = p.protocolType, type != group.protocolType { return fail(.inconsistentGroupProtocol) }
        if let name = p.protocolName, name != group.protocolName { return fail(.inconsistentGroupProtocol) }
        switch group.state {
        case .empty, .dead:
            fail(.unknownMemberId)
        case .preparingRebalance:
            fail(.rebalanceInProgress)
        case .completingRebalance:
            if let previous = group.member(p.memberId)?.awaitingSync {
                emit(.syncResponse(previous, SyncGroupResponse(errorCode: KafkaErrorCode.rebalanceInProgress.rawValue)))
            }
            group.updateMember(p.memberId) { $0.awaitingSync = responder }
            group.pendingSync.remove(p.memberId)
            rescheduleSession(group, p.memberId)
            guard p.memberId == group.leaderId else { return }
            for member in group.orderedMembers {
                group.updateMember(member.memberId) { $0.assignment = p.assignments[member.memberId] ?? ByteBuffer() }
            }
            group.transition(to: .stable, now: now)
            emit(.storeGroup(groupId: group.groupId, groupMetadata(group, now: now)))
            for member in group.orderedMembers {
                guard let parked = member.awaitingSync else { continue }
                emit(.syncResponse(parked, syncAnswer(group, member)))
                group.updateMember(member.memberId) { $0.awaitingSync = nil }
            }
            if group.pendingSync.isEmpty { emit(.cancel(.sync(group: group.groupId))) }
        case .stable:
            group.pendingSync.remove(p.memberId)
            rescheduleSession(group, p.memberId)
            if let member = group.member(p.memberId) { emit(.syncResponse(responder, syncAnswer(group, member))) }
            if group.pendingSync.isEmpty { emit(.cancel(.sync(group: group.groupId))) }
        }
    }

    private func syncAnswer(_ group: ConsumerGroup, _ member: GroupMember) -> SyncGroupResponse {
        SyncGroupResponse(errorCode: 0, protocolType: group.protocolType, protocolName: group.protocolName, assignment: member.assignment)
    }

    private mutating func rescheduleSession(_ group: ConsumerGroup, _ memberId: String) {
        guard let member = group.member(memberId) else { return }
        emit(.schedule(.session(group: group.groupId, member: memberId), milliseconds: Int64(member.sessionTimeoutMs)))
    }

    // MARK: Heartbeat and LeaveGroup

    mutating func heartbeat(groupId: String, generationId: Int32, memberId: String, groupInstanceId: String?, now: Int64) -> (KafkaErrorCode, [GroupAction]) {
        guard let group = groups[groupId] else { return (.unknownMemberId, []) }
        guard group.state != .dead else { return (.coordinatorNotAvailable, []) }
        if let error = Self.validateMember(group, memberId: memberId, instanceId: groupInstanceId) { return (error, []) }
        guard generationId == group.generationId else { return (.illegalGeneration, []) }
        switch group.state {
        case .empty, .dead:
            return (.unknownMemberId, [])
        case .preparingRebalance:
            rescheduleSession(group, memberId)
            return (.rebalanceInProgress, drain())
        case .completingRebalance, .stable:
            rescheduleSession(group, memberId)
            return (.noError, drain())
        }
    }

    /// Removes the given members (v3+ sends several; static ones may be named by instance id only).
    /// Returns the top-level error and one error per member.
    mutating func leave(groupId: String, members: [(memberId: String, groupInstanceId: String?)], now: Int64) -> (KafkaErrorCode, [KafkaErrorCode], [GroupAction]) {
        guard let group = groups[groupId] else { return (.noError, members.map { _ in .unknownMemberId }, []) }
        guard group.state != .dead else { return (.coordinatorNotAvailable, members.map { _ in .coordinatorNotAvailable }, []) }
        var errors: [KafkaErrorCode] = []
        for (requestedId, instanceId) in members {
            var memberId = requestedId
            if memberId.isEmpty, let instanceId {
                guard let mapped = group.staticMemberId(instanceId) else { errors.append(.unknownMemberId); continue }
                memberId = mapped
            } else if let instanceId, group.staticMemberId(instanceId) != memberId {
                errors.append(.fencedInstanceId)
                continue
            }
            if group.pendingMembers.remove(memberId) != nil {
                emit(.cancel(.session(group: groupId, member: memberId)))
                maybeCompleteJoin(group, now: now)
                errors.append(.noError)
            } else if group.member(memberId) == nil {
                errors.append(.unknownMemberId)
            } else {
                removeMemberAndUpdateGroup(group, memberId: memberId, now: now)
                errors.append(.noError)
            }
        }
        return (.noError, errors, drain())
    }

    // MARK: Offsets

    /// Kafka's `validateOffsetCommit` for classic groups; nil when the commit may go ahead.
    func validateOffsetCommit(groupId: String, generationId: Int32, memberId: String, groupInstanceId: String?) -> KafkaErrorCode? {
        guard let group = groups[groupId] else { return generationId < 0 ? nil : .illegalGeneration }
        guard group.state != .dead else { return .coordinatorNotAvailable }
        if generationId < 0 && group.state == .empty { return nil }
        if generationId >= 0 || !memberId.isEmpty || groupInstanceId != nil {
            if let error = Self.validateMember(group, memberId: memberId, instanceId: groupInstanceId) { return error }
            guard generationId == group.generationId else { return .illegalGeneration }
        } else if group.state != .empty {
            return .unknownMemberId
        }
        if group.state == .completingRebalance { return .rebalanceInProgress }
        return nil
    }

    /// Records offsets whose commit records are in the log; a group unknown so far is created Empty.
    mutating func offsetsCommitted(groupId: String, _ committed: [TopicPartition: CommittedOffset], now: Int64) {
        if groups[groupId] == nil { groups[groupId] = ConsumerGroup(groupId: groupId, now: now) }
        for (partition, offset) in committed { offsets.put(groupId, partition, offset) }
    }

    func committedOffsets(groupId: String) -> [TopicPartition: CommittedOffset] { offsets.offsets(of: groupId) }

    // MARK: Offset retention

    /// What one pass of offset expiry removed from a group: the partitions whose offsets need
    /// tombstones, and whether the group itself went (its metadata then needs one too).
    struct ExpiredOffsets: Equatable {
        var groupId: String
        var partitions: [TopicPartition]
        var groupRemoved: Bool
    }

    /// Expires committed offsets as Kafka does (`offsets.retention.minutes`, KIP-211): a group
    /// that uses group management (it has a protocol type) loses all its offsets once it has
    /// been Empty for the retention time; a group that only commits (no protocol type) loses
    /// each offset once its commit is that old; a Stable consumer group loses the offsets of
    /// topics none of its members subscribes to once their commit is that old (KIP-496), and
    /// keeps the others however old. An offset committed with a retention time (OffsetCommit
    /// v2-4) expires at its own expire timestamp instead, in those same cases. An Empty group
    /// left without offsets or members is removed.
    /// Groups in `skipping` (a commit of theirs is being written) are left for the next pass.
    mutating func expireOffsets(now: Int64, skipping: Set<String> = []) -> [ExpiredOffsets] {
        let retention = config.offsetsRetentionMs
        var expired: [ExpiredOffsets] = []
        for groupId in groups.keys.sorted() where !skipping.contains(groupId) {
            guard let group = groups[groupId], group.pendingMembers.isEmpty else { continue }
            let committed = offsets.offsets(of: groupId)
            let partitions: [TopicPartition]
            // An offset with its own expire timestamp (OffsetCommit v2-4) expires then; the
            // others once `base` is as old as the retention time.
            func isExpired(_ offset: CommittedOffset, since base: Int64) -> Bool {
                offset.expireTimestamp.map { now >= $0 } ?? (now - base >= retention)
            }
            switch group.state {
            case .empty where group.protocolType != nil:
                partitions = committed.filter { isExpired($0.value, since: group.stateTimestamp) }.keys.sorted()
            case .empty:
                partitions = committed.filter { isExpired($0.value, since: $0.value.commitTimestamp) }.keys.sorted()
            case .stable:
                guard let subscribed = group.subscribedTopics() else { continue }
                partitions = committed.filter { !subscribed.contains($0.key.topic) && isExpired($0.value, since: $0.value.commitTimestamp) }
                    .keys.sorted()
            default:
                continue
            }
            for partition in partitions { offsets.delete(groupId, partition) }
            let removed = group.state == .empty && offsets.offsets(of: groupId).isEmpty && group.members.isEmpty
            if removed {
                group.transition(to: .dead, now: now)
                groups[groupId] = nil
            }
            if !partitions.isEmpty || removed {
                expired.append(ExpiredOffsets(groupId: groupId, partitions: partitions, groupRemoved: removed))
            }
        }
        return expired
    }

    // MARK: Admin

    /// DeleteGroups: an Empty group is removed with its offsets. Returns the error, and for a
    /// deleted group the partitions whose offsets need tombstones.
    mutating func deleteGroup(_ groupId: String, now: Int64) -> (KafkaErrorCode, [TopicPartition]) {
        guard let group = groups[groupId], group.state != .dead else { return (.groupIdNotFound, []) }
        guard group.state == .empty else { return (.nonEmptyGroup, []) }
        group.transition(to: .dead, now: now)
        groups[groupId] = nil
        return (.noError, offsets.removeGroup(groupId))
    }

    /// The group metadata record Kafka writes: the generation, protocol, leader and members
    /// with their subscriptions (the chosen protocol's metadata) and assignments.
    func groupMetadata(_ group: ConsumerGroup, now: Int64) -> GroupMetadataValue {
        GroupMetadataValue(
            protocolType: group.protocolType ?? "", generation: group.generationId, protocol: group.protocolName,
            leader: group.leaderId, currentStateTimestamp: now,
            members: group.orderedMembers.map { member in
                .init(
                    memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                    clientHost: member.clientHost, rebalanceTimeout: member.rebalanceTimeoutMs, sessionTimeout: member.sessionTimeoutMs,
                    subscription: member.metadata(for: group.protocolName) ?? ByteBuffer(), assignment: member.assignment)
            })
    }

    // MARK: Loading

    /// Replays the records of `__consumer_offsets` (in log order per group): the latest value of
    /// each key wins and tombstones delete. A group whose last metadata record has members comes
    /// back Stable with them, their assignments, the generation, protocol and leader, as Kafka
    /// loads it: members that go on heartbeating keep their assignment without a rebalance, and
    /// the session timers returned here remove those that do not. Other groups come back Empty.
    mutating func restore(_ records: [GroupRecord], now: Int64) -> [GroupAction] {
        var metadata: [String: GroupMetadataValue] = [:]
        for record in records {
            switch record {
            case .offset(let group, let partition, let committed?): offsets.put(group, partition, committed)
            case .offset(let group, let partition, nil): offsets.delete(group, partition)
            case .groupMetadata(let group, let value?): metadata[group] = value
            case .groupMetadata(let group, nil): metadata[group] = nil
            }
        }
        for groupId in Set(metadata.keys).union(offsets.groupIds).sorted() where groups[groupId] == nil {
            // A group stored without members was Empty since the record's time, which offset
            // retention counts from; one stored with members became Empty now.
            let emptySince = metadata[groupId].flatMap { $0.members.isEmpty && $0.currentStateTimestamp > 0 ? $0.currentStateTimestamp : nil }
            let group = ConsumerGroup(groupId: groupId, now: emptySince ?? now)
            if let value = metadata[groupId] {
                group.generationId = value.generation
                group.protocolType = value.protocolType.isEmpty ? nil : value.protocolType
                if let protocolType = group.protocolType, let protocolName = value.protocol, !value.members.isEmpty {
                    restoreMembers(of: group, from: value, protocolType: protocolType, protocolName: protocolName, now: now)
                }
            }
            groups[groupId] = group
        }
        return drain()
    }

    /// Puts a stored generation's members back: each supports the protocol that was chosen,
    /// with the subscription it sent for it (all the record keeps), and has a session to renew.
    private mutating func restoreMembers(
        of group: ConsumerGroup, from value: GroupMetadataValue, protocolType: String, protocolName: String, now: Int64
    ) {
        for stored in value.members {
            group.add(GroupMember(
                memberId: stored.memberId, groupInstanceId: stored.groupInstanceId, clientId: stored.clientId,
                clientHost: stored.clientHost, sessionTimeoutMs: stored.sessionTimeout, rebalanceTimeoutMs: stored.rebalanceTimeout,
                protocolType: protocolType, protocols: [.init(name: protocolName, metadata: stored.subscription)],
                assignment: stored.assignment))
            rescheduleSession(group, stored.memberId)
        }
        group.protocolName = protocolName
        if let leader = value.leader, group.member(leader) != nil { group.leaderId = leader }
        group.restoreStable(now: now)
    }
}
