import NIOCore

/// A member of a classic consumer group, as the coordinator knows it: what it sent in its
/// JoinGroup and what the leader assigned to it.
struct GroupMember: Sendable {
    /// One protocol (assignor) a member supports, with its opaque metadata (for consumers, a
    /// ConsumerProtocolSubscription with its int16 version prefix).
    struct SupportedProtocol: Sendable, Equatable {
        var name: String
        var metadata: ByteBuffer
    }

    var memberId: String
    /// `group.instance.id` of a static member (KIP-345), nil for a dynamic one.
    var groupInstanceId: String?
    var clientId: String
    var clientHost: String
    var sessionTimeoutMs: Int32
    var rebalanceTimeoutMs: Int32
    var protocolType: String
    var protocols: [SupportedProtocol]
    /// The leader's assignment for this member (for consumers, a ConsumerProtocolAssignment).
    var assignment = ByteBuffer()
    /// The JoinGroup this member is parked in, while the group rebalances.
    var awaitingJoin: ResponderId?
    /// The SyncGroup this member is parked in, until the leader's assignment arrives.
    var awaitingSync: ResponderId?

    /// The metadata this member sent for `protocolName`.
    func metadata(for protocolName: String?) -> ByteBuffer? {
        protocols.first { $0.name == protocolName }?.metadata
    }

    /// Whether a rejoin carries exactly the protocols this member already has.
    func matches(_ other: [SupportedProtocol]) -> Bool { protocols == other }

    /// The member's vote among `candidates`: its first listed protocol that every member supports.
    func vote(among candidates: Set<String>) -> String? {
        protocols.first { candidates.contains($0.name) }?.name
    }
}
