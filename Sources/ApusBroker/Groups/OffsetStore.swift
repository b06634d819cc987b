import ApusStorage

/// A committed offset, as OffsetCommit sent it and OffsetFetch returns it.
public struct CommittedOffset: Sendable, Equatable {
    public var offset: Int64
    public var leaderEpoch: Int32
    public var metadata: String
    public var commitTimestamp: Int64
    /// When the offset expires, set only by an OffsetCommit v2-4 that gave a retention time;
    /// nil: `offsets.retention.minutes` decides.
    public var expireTimestamp: Int64?

    public init(offset: Int64, leaderEpoch: Int32 = -1, metadata: String = "", commitTimestamp: Int64, expireTimestamp: Int64? = nil) {
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
        self.commitTimestamp = commitTimestamp
        self.expireTimestamp = expireTimestamp
    }
}

/// The committed offsets of every group, in memory. `__consumer_offsets` holds the same
/// (``GroupRecord``); this is what OffsetFetch reads.
struct OffsetStore {
    private(set) var byGroup: [String: [TopicPartition: CommittedOffset]] = [:]

    func offsets(of group: String) -> [TopicPartition: CommittedOffset] { byGroup[group] ?? [:] }

    func offset(of group: String, _ partition: TopicPartition) -> CommittedOffset? { byGroup[group]?[partition] }

    mutating func put(_ group: String, _ partition: TopicPartition, _ offset: CommittedOffset) {
        byGroup[group, default: [:]][partition] = offset
    }

    mutating func delete(_ group: String, _ partition: TopicPartition) {
        byGroup[group]?[partition] = nil
        if byGroup[group]?.isEmpty == true { byGroup[group] = nil }
    }

    /// Drops every offset of `group` and returns the partitions that had one.
    mutating func removeGroup(_ group: String) -> [TopicPartition] {
        (byGroup.removeValue(forKey: group) ?? [:]).keys.sorted()
    }

    var groupIds: Dictionary<String, [TopicPartition: CommittedOffset]>.Keys { byGroup.keys }
}
