import ApusProtocol
import ApusStorage
import NIOCore
import Synchronization
import Testing
@testable import ApusBroker

/// Drives ``GroupStateMachine`` in memory: responses are collected, timers kept as deadlines on
/// a fake clock that the test advances.
struct GroupHarness {
    var machine: GroupStateMachine
    var now: Int64 = 1_700_000_000_000
    var nextResponder: ResponderId = 0
    var joins: [ResponderId: JoinGroupResponse] = [:]
    var syncs: [ResponderId: SyncGroupResponse] = [:]
    var timers: [GroupTimer: Int64] = [:]
    var stored: [(group: String, value: GroupMetadataValue?)] = []

    init(initialDelayMs: Int32 = 0, maxSize: Int32 = .max) {
        var config = GroupCoordinatorConfig()
        config.initialRebalanceDelayMs = initialDelayMs
        config.maxSize = maxSize
        machine = GroupStateMachine(config: config)
        let ids = MemberIdCounter()
        machine.makeMemberId = { prefix in "\(prefix)-\(ids.next())" }
    }

    mutating func apply(_ actions: [GroupAction]) {
        for action in actions {
            switch action {
            case .joinResponse(let id, let response): joins[id] = response
            case .syncResponse(let id, let response): syncs[id] = response
            case .schedule(let timer, let ms): timers[timer] = now + ms
            case .cancel(let timer): timers[timer] = nil
            case .storeGroup(let group, let value): stored.append((group, value))
            }
        }
    }

    static func subscription(_ topics: [String]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int16(0))
        ConsumerProtocolSubscription(topics: topics).write(to: &buffer, version: 0)
        return buffer
    }

    /// Sends a JoinGroup; returns the responder id (its answer lands in `joins` when given).
    @discardableResult
    mutating func join(
        _ group: String = "g", member: String = "", instance: String? = nil, client: String = "client",
        session: Int32 = 10_000, rebalance: Int32 = 30_000, protocols: [String] = ["range"], topics: [String] = ["t"],
        requireKnownMemberId: Bool = true
    ) -> ResponderId {
        nextResponder += 1
        let parameters = JoinParameters(
            groupId: group, memberId: member, groupInstanceId: instance, clientId: client, clientHost: "/127.0.0.1",
            sessionTimeoutMs: session, rebalanceTimeoutMs: rebalance, protocolType: "consumer",
            protocols: protocols.map { .init(name: $0, metadata: Self.subscription(topics)) }, requireKnownMemberId: requireKnownMemberId)
        apply(machine.join(parameters, responder: nextResponder, now: now))
        return nextResponder
    }

    @discardableResult
    mutating func sync(_ group: String = "g", member: String, generation: Int32, assignments: [String: String] = [:]) -> ResponderId {
        nextResponder += 1
        let parameters = SyncParameters(
            groupId: group, generationId: generation, memberId: member, groupInstanceId: nil, protocolType: nil, protocolName: nil,
            assignments: assignments.mapValues { ByteBuffer(string: $0) })
        apply(machine.sync(parameters, responder: nextResponder, now: now))
        return nextResponder
    }

    mutating func heartbeat(_ group: String = "g", member: String, generation: Int32, instance: String? = nil) -> KafkaErrorCode {
        let (error, actions) = machine.heartbeat(groupId: group, generationId: generation, memberId: member, groupInstanceId: instance, now: now)
        apply(actions)
        return error
    }

    mutating func leave(_ group: String = "g", member: String, instance: String? = nil) -> KafkaErrorCode {
        let (_, errors, actions) = machine.leave(groupId: group, members: [(member, instance)], now: now)
        apply(actions)
        return errors[0]
    }

    /// Moves the clock forward, firing due timers in deadline order.
    mutating func advance(by milliseconds: Int64) {
        let end = now + milliseconds
        while let (timer, deadline) = timers.filter({ $0.value <= end }).min(by: { $0.value < $1.value }) {
            now = max(now, deadline)
            timers[timer] = nil
            apply(machine.timerFired(timer, now: now))
        }
        now = end
    }

    func state(_ group: String = "g") -> GroupState? { machine.group(group)?.state }

    /// A member joins with the v4 handshake; returns its member id.
    mutating func joinWithHandshake(_ group: String = "g", client: String = "client", session: Int32 = 10_000, protocols: [String] = ["range"]) -> (member: String, responder: ResponderId) {
        let first = join(group, client: client, session: session, protocols: protocols)
        let answer = joins[first]!
        #expect(answer.errorCode == KafkaErrorCode.memberIdRequired.rawValue)
        let responder = join(group, member: answer.memberId, client: client, session: session, protocols: protocols)
        return (answer.memberId, responder)
    }

    /// One member joins an empty group and syncs; returns its id. The group is then Stable.
    mutating func stableGroupOfOne(_ group: String = "g") -> String {
        let (member, responder) = joinWithHandshake(group)
        advance(by: 0)
        #expect(joins[responder]?.errorCode == 0)
        sync(group, member: member, generation: joins[responder]!.generationId, assignments: [member: "all"])
        #expect(state(group) == .stable)
        return member
    }
}

@Suite struct GroupStateMachineTests {
    @Test func memberIdRequiredThenJoinAndSyncMakeTheGroupStable() throws {
        var h = GroupHarness()
        let first = h.join()
        let required = try #require(h.joins[first])
        #expect(required.errorCode == KafkaErrorCode.memberIdRequired.rawValue && required.memberId == "client-1")
        #expect(h.state() == .empty)
        let second = h.join(member: "client-1")
        #expect(h.state() == .preparingRebalance && h.joins[second] == nil)  // parked for the initial delay
        h.advance(by: 0)
        let joined = try #require(h.joins[second])
        #expect(joined.errorCode == 0 && joined.generationId == 1 && joined.leader == "client-1" && joined.protocolName == "range")
        #expect(joined.members.map(\.memberId) == ["client-1"])
        #expect(h.state() == .completingRebalance)
        let sync = h.sync(member: "client-1", generation: 1, assignments: ["client-1": "p0,p1"])
        #expect(h.syncs[sync]?.errorCode == 0 && h.syncs[sync]?.assignment == ByteBuffer(string: "p0,p1"))
        #expect(h.state() == .stable)
        let stored = try #require(h.stored.last?.value)
        #expect(stored.generation == 1 && stored.leader == "client-1" && stored.members.map(\.memberId) == ["client-1"])
        #expect(stored.members[0].assignment == ByteBuffer(string: "p0,p1"))
        #expect(h.heartbeat(member: "client-1", generation: 1) == .noError)
    }

    @Test func aNewMemberRebalancesTheGroupAndOnlyTheLeaderGetsTheMembers() throws {
        var h = GroupHarness()
        let a = h.stableGroupOfOne()
        let bJoin = h.join(client: "b", requireKnownMemberId: false)  // v0-3: no handshake
        #expect(h.state() == .preparingRebalance && h.joins[bJoin] == nil)
        #expect(h.heartbeat(member: a, generation: 1) == .rebalanceInProgress)
        let aJoin = h.join(member: a)
        let leader = try #require(h.joins[aJoin])
        let follower = try #require(h.joins[bJoin])
        #expect(leader.generationId == 2 && follower.generationId == 2 && leader.leader == a && follower.leader == a)
        #expect(leader.members.count == 2 && follower.members.isEmpty)
        let b = follower.memberId
        let bSync = h.sync(member: b, generation: 2)
        #expect(h.syncs[bSync] == nil)  // waits for the leader
        #expect(h.heartbeat(member: b, generation: 2) == .noError)
        let aSync = h.sync(member: a, generation: 2, assignments: [a: "A", b: "B"])
        #expect(h.syncs[aSync]?.assignment == ByteBuffer(string: "A") && h.syncs[bSync]?.assignment == ByteBuffer(string: "B"))
        #expect(h.state() == .stable)
    }

    @Test func illegalGenerationAndUnknownMembersAreRefused() {
        var h = GroupHarness()
        let a = h.stableGroupOfOne()
        #expect(h.heartbeat(member: a, generation: 7) == .illegalGeneration)
        #expect(h.heartbeat(member: "nobody", generation: 1) == .unknownMemberId)
        #expect(h.heartbeat("other", member: a, generation: 1) == .unknownMemberId)
        let sync = h.sync(member: a, generation: 0)
        #expect(h.syncs[sync]?.errorCode == KafkaErrorCode.illegalGeneration.rawValue)
        let rejoin = h.join(member: "nobody")
        #expect(h.joins[rejoin]?.errorCode == KafkaErrorCode.unknownMemberId.rawValue)
        let badTimeout = h.join(session: 1000)
        #expect(h.joins[badTimeout]?.errorCode == KafkaErrorCode.invalidSessionTimeout.rawValue)
        let otherProtocol = h.join(member: a, protocols: [])
        #expect(h.joins[otherProtocol]?.errorCode == KafkaErrorCode.inconsistentGroupProtocol.rawValue)
    }

    @Test func sessionExpiryRemovesTheMemberAndRebalances() throws {
        var h = GroupHarness()
        let a = h.stableGroupOfOne()
        let bJoin = h.join(client: "b", requireKnownMemberId: false)
        let aJoin = h.join(member: a)
        let b = try #require(h.joins[bJoin]).memberId
        _ = h.sync(member: b, generation: 2)
        _ = h.sync(member: a, generation: 2, assignments: [a: "A", b: "B"])
        #expect(h.state() == .stable && h.joins[aJoin]?.generationId == 2)
        // a keeps heartbeating; b goes silent past its 10 s session.
        for _ in 0..<6 {
            h.advance(by: 2000)
            _ = h.heartbeat(member: a, generation: h.machine.group("g")!.generationId)
        }
        #expect(h.machine.group("g")?.member(b) == nil)
        #expect(h.state() == .preparingRebalance)
        let rejoin = h.join(member: a)
        #expect(h.joins[rejoin]?.generationId == 3 && h.joins[rejoin]?.members.map(\.memberId) == [a])
    }

    @Test func membersThatDoNotRejoinWithinTheRebalanceTimeoutAreRemoved() throws {
        var h = GroupHarness()
        let a = h.stableGroupOfOne()
        let bJoin = h.join(client: "b", session: 60_000, rebalance: 20_000, requireKnownMemberId: false)
        _ = h.join(member: a, session: 60_000, rebalance: 20_000)
        let b = try #require(h.joins[bJoin]).memberId
        _ = h.sync(member: b, generation: 2)
        _ = h.sync(member: a, generation: 2, assignments: [a: "A", b: "B"])
        let cJoin = h.join(client: "c", session: 60_000, rebalance: 20_000, requireKnownMemberId: false)
        _ = h.join(member: a, session: 60_000, rebalance: 20_000)  // a rejoins, b never does
        h.advance(by: 19_000)
        #expect(h.joins[cJoin] == nil)
        h.advance(by: 2000)
        let c = try #require(h.joins[cJoin])
        #expect(c.generationId == 3)
        #expect(Set(h.machine.group("g")!.members.keys) == [a, c.memberId])
    }

    @Test func leavingRebalancesAndTheLastLeaveEmptiesTheGroup() throws {
        var h = GroupHarness()
        let a = h.stableGroupOfOne()
        #expect(h.leave(member: "ghost") == .unknownMemberId)
        #expect(h.leave(member: a) == .noError)
        #expect(h.state() == .empty)
        let group = try #require(h.machine.group("g"))
        #expect(group.generationId == 2)
        let stored = try #require(h.stored.last)
        #expect(stored.value?.members.isEmpty == true && stored.value?.generation == 2)
        #expect(h.heartbeat(member: a, generation: 2) == .unknownMemberId)
    }

    @Test func pendingMembersExpireWhenTheyNeverRejoin() {
        var h = GroupHarness()
        let first = h.join()
        #expect(h.joins[first]?.errorCode == KafkaErrorCode.memberIdRequired.rawValue)
        #expect(h.machine.group("g")?.pendingMembers.count == 1)
        h.advance(by: 10_001)
        #expect(h.machine.group("g") == nil)  // nothing was ever committed or joined
    }

    @Test func aRestartedStaticMemberReplacesItsOldIdWithoutARebalanceAndTheOldOneIsFenced() throws {
        var h = GroupHarness()
        let first = h.join(instance: "instance-1")
        let joined = h.advanceAndGet(first)
        #expect(joined?.errorCode == 0 && joined?.memberId == "instance-1-1")
        let old = try #require(joined?.memberId)
        _ = h.sync(member: old, generation: 1, assignments: [old: "A"])
        #expect(h.state() == .stable)
        // The same instance comes back without its member id (a restart): new id, same generation.
        let again = h.join(instance: "instance-1")
        let replaced = try #require(h.joins[again])
        #expect(replaced.errorCode == 0 && replaced.generationId == 1 && replaced.memberId != old)
        #expect(h.state() == .stable)
        #expect(h.heartbeat(member: old, generation: 1, instance: "instance-1") == .fencedInstanceId)
        #expect(h.heartbeat(member: replaced.memberId, generation: 1, instance: "instance-1") == .noError)
        let fencedJoin = h.join(member: old, instance: "instance-1")
        #expect(h.joins[fencedJoin]?.errorCode == KafkaErrorCode.fencedInstanceId.rawValue)
        #expect(h.leave(member: "", instance: "instance-1") == .noError)
        #expect(h.state() == .empty)
    }

    @Test func protocolIsChosenByVotesAmongThoseAllSupport() throws {
        var h = GroupHarness(initialDelayMs: 100)
        let a = h.join(client: "a", protocols: ["roundrobin", "range"], requireKnownMemberId: false)
        let b = h.join(client: "b", protocols: ["range", "roundrobin"], requireKnownMemberId: false)
        let c = h.join(client: "c", protocols: ["range", "sticky"], requireKnownMemberId: false)
        h.advance(by: 100)
        h.advance(by: 100)  // the initial delay was extended once for the later joiners
        for responder in [a, b, c] { #expect(h.joins[responder]?.protocolName == "range") }
        #expect(h.joins[a]?.members.count == 3)
    }

    @Test func initialRebalanceDelayWaitsForMoreMembers() {
        var h = GroupHarness(initialDelayMs: 3000)
        let a = h.join(client: "a", requireKnownMemberId: false)
        h.advance(by: 2000)
        let b = h.join(client: "b", requireKnownMemberId: false)
        h.advance(by: 1500)
        #expect(h.joins[a] == nil && h.joins[b] == nil)  // extended by b's arrival
        h.advance(by: 3000)
        #expect(h.joins[a]?.generationId == 1 && h.joins[b]?.generationId == 1)
    }

    @Test func groupMaxSizeIsEnforced() {
        var h = GroupHarness(maxSize: 1)
        _ = h.join(client: "a", requireKnownMemberId: false)
        let b = h.join(client: "b", requireKnownMemberId: false)
        #expect(h.joins[b]?.errorCode == KafkaErrorCode.groupMaxSizeReached.rawValue)
    }

    @Test func offsetCommitChecksFollowKafka() throws {
        var h = GroupHarness()
        // A non-member commit to an unknown group creates it Empty.
        #expect(h.machine.validateOffsetCommit(groupId: "fresh", generationId: -1, memberId: "", groupInstanceId: nil) == nil)
        #expect(h.machine.validateOffsetCommit(groupId: "fresh", generationId: 3, memberId: "m", groupInstanceId: nil) == .illegalGeneration)
        h.machine.offsetsCommitted(groupId: "fresh", [TopicPartition(topic: "t", partition: 0): CommittedOffset(offset: 5, commitTimestamp: 1)], now: h.now)
        #expect(h.state("fresh") == .empty)
        let a = h.stableGroupOfOne()
        #expect(h.machine.validateOffsetCommit(groupId: "g", generationId: 1, memberId: a, groupInstanceId: nil) == nil)
        #expect(h.machine.validateOffsetCommit(groupId: "g", generationId: -1, memberId: "", groupInstanceId: nil) == .unknownMemberId)
        #expect(h.machine.validateOffsetCommit(groupId: "g", generationId: 0, memberId: a, groupInstanceId: nil) == .illegalGeneration)
        #expect(h.machine.validateOffsetCommit(groupId: "g", generationId: 1, memberId: "x", groupInstanceId: nil) == .unknownMemberId)
        let bJoin = h.join(client: "b", requireKnownMemberId: false)
        _ = h.join(member: a)
        #expect(h.state() == .completingRebalance && h.joins[bJoin] != nil)
        #expect(h.machine.validateOffsetCommit(groupId: "g", generationId: 2, memberId: a, groupInstanceId: nil) == .rebalanceInProgress)
        #expect(h.machine.deleteGroup("g", now: h.now).0 == .nonEmptyGroup)
        #expect(h.machine.deleteGroup("fresh", now: h.now) == (.noError, [TopicPartition(topic: "t", partition: 0)]))
        #expect(h.machine.deleteGroup("fresh", now: h.now).0 == .groupIdNotFound)
    }

    @Test func restoredGroupsKeepOffsetsAndGenerationButNoMembers() {
        var h = GroupHarness()
        let tp = TopicPartition(topic: "t", partition: 1)
        h.apply(h.machine.restore([
            .offset(group: "g", partition: tp, CommittedOffset(offset: 10, commitTimestamp: 1)),
            .groupMetadata(group: "g", GroupMetadataValue(protocolType: "consumer", generation: 7, protocol: "range", leader: "m", members: [])),
            .offset(group: "g", partition: tp, CommittedOffset(offset: 20, commitTimestamp: 2)),
            .offset(group: "gone", partition: tp, CommittedOffset(offset: 1, commitTimestamp: 1)),
            .offset(group: "gone", partition: tp, nil),
        ], now: h.now))
        #expect(h.machine.committedOffsets(groupId: "g")[tp]?.offset == 20)
        #expect(h.machine.group("g")?.generationId == 7 && h.state() == .empty)
        #expect(h.machine.group("gone") == nil)
        // An old member id gets UNKNOWN_MEMBER_ID; a fresh join starts generation 8.
        #expect(h.heartbeat(member: "m", generation: 7) == .unknownMemberId)
        let (_, responder) = h.joinWithHandshake()
        h.advance(by: 0)
        #expect(h.joins[responder]?.generationId == 8)
    }

    @Test func restoredMembersKeepTheirGenerationAndAssignmentUntilTheirSessionsEnd() throws {
        var before = GroupHarness()
        let member = before.stableGroupOfOne()
        let stored = try #require(before.stored.last?.value)
        #expect(stored.members.map(\.memberId) == [member])
        var h = GroupHarness()
        h.apply(h.machine.restore([.groupMetadata(group: "g", stored)], now: h.now))
        let group = try #require(h.machine.group("g"))
        #expect(h.state() == .stable && group.generationId == stored.generation && group.leaderId == member)
        #expect(group.protocolName == "range" && group.member(member)?.assignment == ByteBuffer(string: "all"))
        #expect(group.member(member)?.metadata(for: "range") == stored.members[0].subscription)
        #expect(h.timers[.session(group: "g", member: member)] == h.now + 10_000)
        // It goes on as before: heartbeats and commits of its generation are accepted.
        h.advance(by: 9000)
        #expect(h.heartbeat(member: member, generation: stored.generation) == .noError)
        #expect(h.machine.validateOffsetCommit(groupId: "g", generationId: stored.generation, memberId: member, groupInstanceId: nil) == nil)
        h.advance(by: 9000)
        #expect(h.machine.group("g")?.member(member) != nil)
        // Silent for a whole session: it is removed and the group rebalances to Empty.
        h.advance(by: 2000)
        #expect(h.machine.group("g")?.member(member) == nil)
        h.advance(by: 1000)
        #expect(h.state() == .empty && h.machine.group("g")?.generationId == stored.generation + 1)
    }

    @Test func offsetsOfAGroupExpireOnceItHasBeenEmptyForTheRetentionTime() throws {
        var h = GroupHarness()
        h.machine.config.offsetsRetentionMs = 60_000
        let tp = TopicPartition(topic: "t", partition: 0)
        let member = h.stableGroupOfOne()
        h.machine.offsetsCommitted(groupId: "g", [tp: CommittedOffset(offset: 5, commitTimestamp: h.now)], now: h.now)
        // A group with members keeps its offsets however old they are.
        #expect(h.machine.expireOffsets(now: h.now + 600_000).isEmpty)
        h.now += 1000
        #expect(h.leave(member: member) == .noError)
        let emptySince = h.now
        #expect(h.machine.expireOffsets(now: emptySince + 59_999).isEmpty)
        #expect(h.machine.expireOffsets(now: emptySince + 60_000, skipping: ["g"]).isEmpty)
        #expect(h.machine.committedOffsets(groupId: "g")[tp]?.offset == 5)
        let expired = h.machine.expireOffsets(now: emptySince + 60_000)
        #expect(expired == [.init(groupId: "g", partitions: [tp], groupRemoved: true)])
        #expect(h.machine.committedOffsets(groupId: "g").isEmpty && h.machine.group("g") == nil)
    }

    /// KIP-496: a Stable consumer group keeps the offsets of the topics its members subscribe
    /// to however old they are, and loses those of other topics once their commit is as old as
    /// the retention time; a group in the middle of a rebalance loses nothing.
    @Test func aStableGroupLosesTheOffsetsOfTopicsItNoLongerSubscribesTo() throws {
        var h = GroupHarness()
        h.machine.config.offsetsRetentionMs = 60_000
        let member = h.stableGroupOfOne()  // subscribed to "t"
        let (kept, dropped, later) = (
            TopicPartition(topic: "t", partition: 0), TopicPartition(topic: "gone", partition: 0), TopicPartition(topic: "gone", partition: 1))
        let start = h.now
        h.machine.offsetsCommitted(groupId: "g", [kept: CommittedOffset(offset: 7, commitTimestamp: start), dropped: CommittedOffset(offset: 3, commitTimestamp: start)], now: start)
        h.machine.offsetsCommitted(groupId: "g", [later: CommittedOffset(offset: 4, commitTimestamp: start + 30_000)], now: start + 30_000)
        #expect(h.machine.expireOffsets(now: start + 59_999).isEmpty)
        #expect(h.machine.expireOffsets(now: start + 60_000, skipping: ["g"]).isEmpty)
        #expect(h.machine.expireOffsets(now: start + 60_000) == [.init(groupId: "g", partitions: [dropped], groupRemoved: false)])
        #expect(h.machine.expireOffsets(now: start + 600_000) == [.init(groupId: "g", partitions: [later], groupRemoved: false)])
        #expect(Set(h.machine.committedOffsets(groupId: "g").keys) == [kept])
        #expect(h.state() == .stable && h.machine.group("g")?.member(member) != nil)
        // While the group rebalances, what its members subscribe to is not settled: nothing expires.
        h.machine.offsetsCommitted(groupId: "g", [dropped: CommittedOffset(offset: 9, commitTimestamp: h.now)], now: h.now)
        h.join(member: member, topics: ["t"])
        #expect(h.state() == .completingRebalance)
        #expect(h.machine.expireOffsets(now: h.now + 600_000).isEmpty)
    }

    /// OffsetCommit v2-4's retention time: an offset with its own expire timestamp expires then,
    /// earlier or later than `offsets.retention.minutes` would have it, in the cases where
    /// offsets expire at all.
    @Test func anOffsetsOwnExpireTimestampReplacesTheRetentionTime() {
        var h = GroupHarness()
        h.machine.config.offsetsRetentionMs = 60_000
        let (early, late, usual) = (TopicPartition(topic: "t", partition: 0), TopicPartition(topic: "t", partition: 1), TopicPartition(topic: "t", partition: 2))
        let start = h.now
        h.machine.offsetsCommitted(groupId: "s", [
            early: CommittedOffset(offset: 1, commitTimestamp: start, expireTimestamp: start + 5000),
            late: CommittedOffset(offset: 2, commitTimestamp: start, expireTimestamp: start + 120_000),
            usual: CommittedOffset(offset: 3, commitTimestamp: start),
        ], now: start)
        #expect(h.machine.expireOffsets(now: start + 4999).isEmpty)
        #expect(h.machine.expireOffsets(now: start + 5000) == [.init(groupId: "s", partitions: [early], groupRemoved: false)])
        #expect(h.machine.expireOffsets(now: start + 60_000) == [.init(groupId: "s", partitions: [usual], groupRemoved: false)])
        #expect(h.machine.expireOffsets(now: start + 119_999).isEmpty)
        #expect(h.machine.expireOffsets(now: start + 120_000) == [.init(groupId: "s", partitions: [late], groupRemoved: true)])
        // A group with members keeps even an offset past its expire timestamp.
        let member = h.stableGroupOfOne()
        h.machine.offsetsCommitted(groupId: "g", [early: CommittedOffset(offset: 9, commitTimestamp: h.now, expireTimestamp: h.now + 1)], now: h.now)
        #expect(h.machine.expireOffsets(now: h.now + 600_000).isEmpty)
        #expect(h.machine.group("g")?.member(member) != nil)
    }

    @Test func offsetsOfAGroupThatOnlyCommitsExpireOneByOne() {
        var h = GroupHarness()
        h.machine.config.offsetsRetentionMs = 60_000
        let (first, second) = (TopicPartition(topic: "t", partition: 0), TopicPartition(topic: "t", partition: 1))
        let start = h.now
        h.machine.offsetsCommitted(groupId: "s", [first: CommittedOffset(offset: 1, commitTimestamp: start)], now: start)
        h.machine.offsetsCommitted(groupId: "s", [second: CommittedOffset(offset: 2, commitTimestamp: start + 30_000)], now: start + 30_000)
        #expect(h.machine.expireOffsets(now: start + 60_000) == [.init(groupId: "s", partitions: [first], groupRemoved: false)])
        #expect(h.machine.committedOffsets(groupId: "s") == [second: CommittedOffset(offset: 2, commitTimestamp: start + 30_000)])
        #expect(h.machine.expireOffsets(now: start + 89_999).isEmpty)
        #expect(h.machine.expireOffsets(now: start + 90_000) == [.init(groupId: "s", partitions: [second], groupRemoved: true)])
        #expect(h.machine.group("s") == nil)
    }

    @Test func restoredEmptyGroupsCountTheirRetentionFromWhenTheyBecameEmpty() {
        var h = GroupHarness()
        h.machine.config.offsetsRetentionMs = 60_000
        let tp = TopicPartition(topic: "t", partition: 0)
        let emptySince = h.now - 50_000
        h.apply(h.machine.restore([
            .offset(group: "g", partition: tp, CommittedOffset(offset: 3, commitTimestamp: emptySince - 1000)),
            .groupMetadata(group: "g", GroupMetadataValue(
                protocolType: "consumer", generation: 2, protocol: nil, leader: nil, currentStateTimestamp: emptySince, members: [])),
        ], now: h.now))
        #expect(h.machine.expireOffsets(now: h.now).isEmpty)
        #expect(h.machine.expireOffsets(now: emptySince + 60_000) == [.init(groupId: "g", partitions: [tp], groupRemoved: true)])
    }
}

extension GroupHarness {
    mutating func advanceAndGet(_ responder: ResponderId) -> JoinGroupResponse? {
        advance(by: 0)
        return joins[responder]
    }
}

/// Deterministic member ids for the tests: `prefix-1`, `prefix-2`, …
final class MemberIdCounter: Sendable {
    private let count = Mutex(0)
    func next() -> Int {
        count.withLock { value in
            value += 1
            return value
        }
    }
}
