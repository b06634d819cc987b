/// The group coordinator's settings, with Kafka's names and defaults (`server.properties`).
public struct GroupCoordinatorConfig: Sendable, Equatable {
    /// `group.min.session.timeout.ms`: the shortest session timeout a member may ask for.
    public var minSessionTimeoutMs: Int32 = 6000
    /// `group.max.session.timeout.ms`: the longest session timeout a member may ask for.
    public var maxSessionTimeoutMs: Int32 = 1_800_000
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members (extended per new member, never past the rebalance timeout).
    public var initialRebalanceDelayMs: Int32 = 3000
    /// `group.max.size`: members per group; more get GROUP_MAX_SIZE_REACHED.
    public var maxSize: Int32 = Int32.max
    /// `offset.metadata.max.bytes`: the longest metadata string of a commit.
    public var offsetMetadataMaxBytes = 4096
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets` (read when it is created).
    public var offsetsTopicPartitions: Int32 = 50
    /// `offsets.topic.segment.bytes`: segment size of `__consumer_offsets`, and the size at
    /// which a partition of it is compacted (Docs/consumer-groups.md).
    public var offsetsTopicSegmentBytes = 104_857_600
    /// `offsets.retention.minutes` (here in milliseconds): how long committed offsets are kept
    /// after a group has become Empty, or, for a group that only commits, after each commit.
    public var offsetsRetentionMs: Int64 = 7 * 24 * 60 * 60 * 1000
    /// `offsets.retention.check.interval.ms`: how often expired offsets are looked for.
    public var offsetsRetentionCheckIntervalMs: Int64 = 600_000

    public init() {}
}
