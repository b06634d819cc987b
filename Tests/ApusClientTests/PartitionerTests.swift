import ApusClient
import Testing

@Suite struct PartitionerTests {
    @Test func murmur2MatchesTheJavaClientTestVectors() {
        let vectors: [(String, Int32)] = [
            ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829), ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            ("abc", 479_470_107),
        ]
        for (key, expected) in vectors { #expect(Murmur2.hash(Array(key.utf8)) == expected, "\(key)") }
        #expect(UInt32(bitPattern: Murmur2.hash(Array("kafka".utf8))) == 0xd067_cf64)
        #expect(UInt32(bitPattern: Murmur2.hash([])) == 0x106e_08d9)
    }

    @Test func keyedPartitionIsPositiveHashModuloCount() {
        // "21" hashes negative: the sign bit is masked, not abs().
        #expect(Murmur2.partition(forKey: Array("21".utf8), partitionCount: 7) == Int32((-973_932_308 & 0x7fff_ffff) % 7))
    }
}

@Suite struct AssignorTests {
    let members = [
        GroupMemberSubscription(memberId: "b", topics: ["t"]), GroupMemberSubscription(memberId: "a", topics: ["t", "u"]),
    ]

    @Test func rangeGivesContiguousRangesAndTheFirstMembersOneMore() {
        let plan = PartitionAssignmentStrategy.range.assign(members: members, partitionCounts: ["t": 5, "u": 2])
        #expect(plan["a"] == [TopicPartition("t", 0), TopicPartition("t", 1), TopicPartition("t", 2), TopicPartition("u", 0), TopicPartition("u", 1)])
        #expect(plan["b"] == [TopicPartition("t", 3), TopicPartition("t", 4)])
    }

    @Test func roundRobinDealsSortedPartitionsInTurnSkippingUnsubscribedMembers() {
        let plan = PartitionAssignmentStrategy.roundRobin.assign(members: members, partitionCounts: ["t": 3, "u": 2])
        #expect(plan["a"] == [TopicPartition("t", 0), TopicPartition("t", 2), TopicPartition("u", 0), TopicPartition("u", 1)])
        #expect(plan["b"] == [TopicPartition("t", 1)])
    }

    @Test func cooperativeStickyKeepsOwnedPartitionsAndBalances() {
        let owned = (0..<6).map { TopicPartition("t", Int32($0)) }
        let plan = PartitionAssignmentStrategy.cooperativeSticky.assign(
            members: [GroupMemberSubscription(memberId: "old", topics: ["t"], ownedPartitions: owned),
                      GroupMemberSubscription(memberId: "new", topics: ["t"])],
            partitionCounts: ["t": 6])
        #expect(plan["old"]!.count == 3 && plan["new"]!.count == 3)
        #expect(Set(plan["old"]!).isSubset(of: Set(owned)))
        #expect(Set(plan["old"]! + plan["new"]!) == Set(owned))
        // Nothing moves when the group is already balanced.
        let again = PartitionAssignmentStrategy.cooperativeSticky.assign(
            members: [GroupMemberSubscription(memberId: "old", topics: ["t"], ownedPartitions: plan["old"]!),
                      GroupMemberSubscription(memberId: "new", topics: ["t"], ownedPartitions: plan["new"]!)],
            partitionCounts: ["t": 6])
        #expect(again == plan)
    }
}
