import ApusProtocol
import NIOCore

/// The states of a classic group (Kafka's `ClassicGroupState`), with their DescribeGroups names.
public enum GroupState: String, Sendable, CaseIterable {
    case empty = "Empty"
    case preparingRebalance = "PreparingRebalance"
    case completingRebalance = "CompletingRebalance"
    case stable = "Stable"
    case dead = "Dead"

    /// The states a group may come from into this one (Kafka's static table).
    var validPreviousStates: Set<GroupState> {
        switch self {
        case .empty: [.preparingRebalance]
        case .preparingRebalance: [.stable, .completingRebalance, .empty]
        case .completingRebalance: [.preparingRebalance]
        case .stable: [.completingRebalance]
        case .dead: Set(GroupState.allCases)
        }
    }
}

/// One classic consumer group: its state, generation, members and chosen protocol.
///
/// A reference type confined to the coordinator's event loop (it lives inside
/// ``GroupStateMachine``, which that loop owns); not Sendable.
final class ConsumerGroup {
    let groupId: String
    private(set) var state: GroupState = .empty
    private(set) var previousState: GroupState = .empty
    /// When the group entered its current state (ms since the epoch).
    private(set) var stateTimestamp: Int64
    var generationId: Int32 = 0
    var protocolType: String?
    var protocolName: String?
    var leaderId: String?
    private(set) var members: [String: GroupMember] = [:]
    /// Member ids in the order they joined: the first is the leader's successor.
    private(set) var memberOrder: [String] = []
    /// Member ids handed out with MEMBER_ID_REQUIRED whose owners have not rejoined yet (KIP-394).
    var pendingMembers: Set<String> = []
    /// Members of the current generation that have not sent their SyncGroup yet.
    var pendingSync: Set<String> = []
    /// group.instance.id → member id of the static members.
    private(set) var staticMembers: [String: String] = [:]
    /// Set when a member joins during the initial rebalance delay, which extends it.
    var newMemberAdded = false
    /// While the initial rebalance delay runs: what is left of the rebalance timeout after it.
    var initialRebalanceRemainingMs: Int64?

    init(groupId: String, now: Int64) {
        self.groupId = groupId
        self.stateTimestamp = now
    }

    /// A group read back from `__consumer_offsets` with its members: Stable, as Kafka loads it,
    /// whatever the state machine's transition table says about coming from Empty.
    func restoreStable(now: Int64) {
        previousState = state
        state = .stable
        stateTimestamp = now
    }

    func transition(to next: GroupState, now: Int64) {
        assert(next.validPreviousStates.contains(state), "illegal group transition \(state) → \(next)")
        previousState = state
        state = next
        stateTimestamp = now
    }

    var isLeaderless: Bool { leaderId == nil }

    /// The group's rebalance timeout: the largest of its members'.
    var rebalanceTimeoutMs: Int32 { members.values.map(\.rebalanceTimeoutMs).max() ?? 0 }

    /// Every member is parked in a JoinGroup and no MEMBER_ID_REQUIRED member is outstanding.
    var hasAllMembersJoined: Bool {
        members.values.allSatisfy { $0.awaitingJoin != nil } && pendingMembers.isEmpty
    }

    func member(_ id: String) -> GroupMember? { members[id] }

    func updateMember(_ id: String, _ body: (inout GroupMember) -> Void) {
        guard var member = members[id] else { return }
        body(&member)
        members[id] = member
    }

    /// Members in join order.
    var orderedMembers: [GroupMember] { memberOrder.compactMap { members[$0] } }

    func add(_ member: GroupMember) {
        if members.isEmpty { protocolType = member.protocolType }
        members[member.memberId] = member
        memberOrder.append(member.memberId)
        if leaderId == nil { leaderId = member.memberId }
        if let instance = member.groupInstanceId { staticMembers[instance] = member.memberId }
    }

    /// Removes a member; if it led the group, the next member in join order leads.
    @discardableResult
    func remove(_ id: String) -> GroupMember? {
        guard let member = members.removeValue(forKey: id) else { return nil }
        memberOrder.removeAll { $0 == id }
        pendingSync.remove(id)
        if let instance = member.groupInstanceId, staticMembers[instance] == id { staticMembers[instance] = nil }
        if leaderId == id { leaderId = memberOrder.first }
        return member
    }

    /// Gives a static member a new member id (its old id is fenced), keeping its place.
    func replaceStaticMember(_ oldId: String, with newId: String) {
        guard var member = members.removeValue(forKey: oldId) else { return }
        member.memberId = newId
        member.awaitingJoin = nil
        member.awaitingSync = nil
        members[newId] = member
        if let index = memberOrder.firstIndex(of: oldId) { memberOrder[index] = newId }
        if pendingSync.remove(oldId) != nil { pendingSync.insert(newId) }
        if let instance = member.groupInstanceId { staticMembers[instance] = newId }
        if leaderId == oldId { leaderId = newId }
    }

    func staticMemberId(_ instanceId: String) -> String? { staticMembers[instanceId] }

    /// The topics the members subscribe to, read from their consumer-protocol metadata for the
    /// chosen protocol (a newer version read as the newest this code knows, as Kafka reads it);
    /// nil unless this is a consumer group whose every member's subscription can be read.
    func subscribedTopics() -> Set<String>? {
        guard protocolType == "consumer", let protocolName else { return nil }
        var topics = Set<String>()
        for member in members.values {
            guard var metadata = member.metadata(for: protocolName), let version = metadata.readInteger(as: Int16.self),
                let subscription = try? ConsumerProtocolSubscription(
                    from: &metadata, version: min(max(version, 0), ConsumerProtocolSubscription.validVersions.upperBound))
            else { return nil }
            topics.formUnion(subscription.topics)
        }
        return topics
    }

    /// Whether a joining member's protocols fit the group: a protocol type and at least one
    /// protocol for an empty group, otherwise the same type and a protocol every member supports.
    func supports(protocolType: String, protocols: [GroupMember.SupportedProtocol]) -> Bool {
        if members.isEmpty { return !protocolType.isEmpty && !protocols.isEmpty }
        guard protocolType == self.protocolType else { return false }
        return !candidateProtocols(adding: protocols.map(\.name)).isEmpty
    }

    /// The protocols every member supports (plus, when given, the joining member).
    func candidateProtocols(adding extra: [String]? = nil) -> Set<String> {
        var sets = members.values.map { Set($0.protocols.map(\.name)) }
        if let extra { sets.append(Set(extra)) }
        guard var result = sets.first else { return [] }
        for set in sets.dropFirst() { result.formIntersection(set) }
        return result
    }

    /// Kafka's selection: each member votes for its first protocol that all support; the most
    /// votes win (ties go to the protocol listed first by the earliest member).
    func selectProtocol() -> String? {
        let candidates = candidateProtocols()
        var votes: [String: Int] = [:]
        for member in orderedMembers { if let vote = member.vote(among: candidates) { votes[vote, default: 0] += 1 } }
        let preference = orderedMembers.first?.protocols.map(\.name) ?? []
        return votes.max { a, b in
            a.value != b.value ? a.value < b.value
                : (preference.firstIndex(of: a.key) ?? .max) > (preference.firstIndex(of: b.key) ?? .max)
        }?.key
    }
}
