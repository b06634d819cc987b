import Testing
@testable import ApusPlacement

/// Adding or removing a broker moves at most 1.05× the replicas that must move: the new broker's
/// fair share, or the replicas the lost broker held.
@Suite struct MovementTests {
    let placer = PartitionPlacer()

    @Test(arguments: [(3, 1, 1_000), (5, 3, 1_000), (10, 3, 10_000), (30, 1, 10_000), (30, 3, 10_000), (100, 3, 10_000)])
    func addingABrokerMovesOnlyItsFairShare(brokerCount: Int, replicationFactor: Int, partitions: Int) throws {
        let wanted = topics(partitions: partitions, replicationFactor: replicationFactor)
        let before = try placer.place(brokers: brokers(brokerCount), topics: wanted)
        let after = try placer.place(brokers: brokers(brokerCount + 1), topics: wanted, current: before.assignment)
        let fairShare = Double(partitions * replicationFactor) / Double(brokerCount + 1)
        let moved = after.assignment.movedReplicas(from: before.assignment)
        #expect(Double(moved) <= 1.05 * fairShare)
        // Every moved replica went to the new broker, which took at least 95 % of its share.
        #expect(after.assignment.replicaCounts()[Int32(brokerCount + 1)] == moved)
        #expect(Double(moved) >= 0.95 * fairShare)
    }

    @Test(arguments: [(3, 1, 1_000), (5, 3, 1_000), (10, 3, 10_000), (30, 1, 10_000), (30, 3, 10_000), (100, 3, 10_000)])
    func removingABrokerMovesOnlyWhatItHeld(brokerCount: Int, replicationFactor: Int, partitions: Int) throws {
        let wanted = topics(partitions: partitions, replicationFactor: replicationFactor)
        let cluster = brokers(brokerCount)
        let lost = cluster[brokerCount / 2].id
        let before = try placer.place(brokers: cluster, topics: wanted)
        let held = before.assignment.replicaCounts()[lost]!
        let after = try placer.place(brokers: cluster.filter { $0.id != lost }, topics: wanted, current: before.assignment)
        let moved = after.assignment.movedReplicas(from: before.assignment)
        #expect(Double(moved) <= 1.05 * Double(held))
        #expect(after.assignment.replicaCounts()[lost] == nil)
        #expect(allReplicaLists(after.assignment).allSatisfy { $0.count == replicationFactor && Set($0).count == $0.count })
    }

    @Test func losingARackMovesOnlyItsReplicasAndKeepsRacksDistinct() throws {
        let cluster = brokers(12, racks: 4)
        let wanted = topics(partitions: 2_000, replicationFactor: 3)
        let before = try placer.place(brokers: cluster, topics: wanted)
        let survivors = cluster.filter { $0.rack != "rack-0" }
        let held = cluster.filter { $0.rack == "rack-0" }.reduce(0) { $0 + before.assignment.replicaCounts()[$1.id, default: 0] }
        let after = try placer.place(brokers: survivors, topics: wanted, current: before.assignment)
        let rackOf = Dictionary(uniqueKeysWithValues: survivors.map { ($0.id, $0.rack!) })
        #expect(after.assignment.movedReplicas(from: before.assignment) <= held * 105 / 100)
        for replicas in allReplicaLists(after.assignment) {
            #expect(Set(replicas.map { rackOf[$0]! }).count == 3)
        }
    }
}
