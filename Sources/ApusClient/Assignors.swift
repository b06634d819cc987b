/// How the group leader divides the subscribed topics' partitions among the members. The names
/// are the Kafka protocol names, so Apus consumers share groups with Java, librdkafka and Python
/// consumers that use the same strategy.
public enum PartitionAssignmentStrategy: String, Sendable, CaseIterable {
    /// Per topic, members sorted by id each get a contiguous range; the first `P % C` one more.
    case range = "range"
    /// All partitions in (topic, partition) order dealt to the sorted members in turn.
    case roundRobin = "roundrobin"
    /// Balanced, and keeps each member's current partitions where balance allows (KIP-429's
    /// assignor). A consumer that offers only this strategy rebalances incrementally: it keeps
    /// its partitions through a rebalance and gives up only those that move.
    case cooperativeSticky = "cooperative-sticky"

    /// The assignment of every member's partitions, computed by the group leader.
    public func assign(members: [GroupMemberSubscription], partitionCounts: [String: Int]) -> [String: [TopicPartition]] {
        var result: [String: [TopicPartition]] = [:]
        for member in members { result[member.memberId] = [] }
        let sortedMembers = members.sorted { $0.memberId < $1.memberId }
        switch self {
        case .range:
            let topics = Set(members.flatMap(\.topics)).sorted()
            for topic in topics {
                guard let count = partitionCounts[topic], count > 0 else { continue }
                let subscribers = sortedMembers.filter { $0.topics.contains(topic) }
                guard !subscribers.isEmpty else { continue }
                let share = count / subscribers.count, extra = count % subscribers.count
                for (index, member) in subscribers.enumerated() {
                    let start = index * share + min(index, extra)
                    let length = share + (index < extra ? 1 : 0)
                    for partition in start..<(start + length) { result[member.memberId]!.append(TopicPartition(topic, Int32(partition))) }
                }
            }
        case .roundRobin:
            var next = 0
            for partition in Self.allPartitions(members: members, partitionCounts: partitionCounts) {
                for step in 0..<sortedMembers.count {
                    let member = sortedMembers[(next + step) % sortedMembers.count]
                    if member.topics.contains(partition.topic) {
                        result[member.memberId]!.append(partition)
                        next = (next + step + 1) % sortedMembers.count
                        break
                    }
                }
            }
        case .cooperativeSticky:
            let all = Self.allPartitions(members: members, partitionCounts: partitionCounts)
            let existing = Set(all)
            let total = all.count, memberCount = max(1, sortedMembers.count)
            let floor = total / memberCount
            var ceilingSlots = total % memberCount
            var taken = Set<TopicPartition>()
            // Keep what members own, up to a balanced share (largest owners are trimmed first).
            for member in sortedMembers.sorted(by: { ($0.ownedPartitions.count, $1.memberId) > ($1.ownedPartitions.count, $0.memberId) }) {
                var kept: [TopicPartition] = []
                for partition in member.ownedPartitions.sorted()
                where existing.contains(partition) && member.topics.contains(partition.topic) && !taken.contains(partition) {
                    let limit = floor + (ceilingSlots > 0 ? 1 : 0)
                    guard kept.count < limit else { break }
                    kept.append(partition)
                    taken.insert(partition)
                }
                if kept.count > floor { ceilingSlots -= 1 }
                result[member.memberId] = kept
            }
            // Give the rest to the eligible member with the fewest partitions.
            for partition in all where !taken.contains(partition) {
                let eligible = sortedMembers.filter { $0.topics.contains(partition.topic) }
                guard let target = eligible.min(by: { (result[$0.memberId]!.count, $0.memberId) < (result[$1.memberId]!.count, $1.memberId) })
                else { continue }
                result[target.memberId]!.append(partition)
            }
        }
        for (member, partitions) in result { result[member] = partitions.sorted() }
        return result
    }

    static func allPartitions(members: [GroupMemberSubscription], partitionCounts: [String: Int]) -> [TopicPartition] {
        Set(members.flatMap(\.topics)).sorted().flatMap { topic in
            (0..<(partitionCounts[topic] ?? 0)).map { TopicPartition(topic, Int32($0)) }
        }
    }
}

/// One member's subscription as the group leader sees it in JoinGroup.
public struct GroupMemberSubscription: Sendable, Hashable {
    /// The member id the coordinator gave it.
    public var memberId: String
    /// The topics it subscribes to.
    public var topics: [String]
    /// The partitions it owned before this rebalance (subscription v1+), for stickiness.
    public var ownedPartitions: [TopicPartition]

    public init(memberId: String, topics: [String], ownedPartitions: [TopicPartition] = []) {
        self.memberId = memberId
        self.topics = topics
        self.ownedPartitions = ownedPartitions
    }
}
