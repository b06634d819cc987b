import Testing
@testable import ApusPlacement

@Suite struct PlacementErrorTests {
    let placer = PartitionPlacer()

    @Test func replicationFactorAboveBrokersIsRefused() {
        #expect(throws: PlacementError.replicationFactorExceedsBrokers(topic: "orders", replicationFactor: 4, brokers: 3)) {
            try placer.place(brokers: brokers(3), topics: [PlacementTopic(name: "orders", partitionCount: 1, replicationFactor: 4)])
        }
        #expect(PlacementError.replicationFactorExceedsBrokers(topic: "orders", replicationFactor: 4, brokers: 3).kafkaErrorCode == 38)
    }

    @Test func replicationFactorAboveRacksIsRefused() {
        #expect(throws: PlacementError.replicationFactorExceedsRacks(topic: "orders", replicationFactor: 3, racks: 2)) {
            try placer.place(brokers: brokers(6, racks: 2), topics: [PlacementTopic(name: "orders", partitionCount: 1, replicationFactor: 3)])
        }
    }

    @Test func invalidInputIsRefusedWithItsReason() {
        let topic = [PlacementTopic(name: "orders", partitionCount: 3, replicationFactor: 1)]
        #expect(throws: PlacementError.noBrokers) { try placer.place(brokers: [], topics: topic) }
        #expect(throws: PlacementError.duplicateBrokerId(2)) {
            try placer.place(brokers: [PlacementBroker(id: 2), PlacementBroker(id: 1), PlacementBroker(id: 2)], topics: topic)
        }
        #expect(throws: PlacementError.invalidWeight(brokerId: 1, weight: 0)) {
            try placer.place(brokers: [PlacementBroker(id: 1, weight: 0)], topics: topic)
        }
        #expect(throws: PlacementError.mixedRackInformation(brokersWithoutRack: [2])) {
            try placer.place(brokers: [PlacementBroker(id: 1, rack: "a"), PlacementBroker(id: 2)], topics: topic)
        }
        #expect(throws: PlacementError.duplicateTopic("orders")) { try placer.place(brokers: brokers(1), topics: topic + topic) }
        #expect(throws: PlacementError.invalidPartitionCount(topic: "empty", partitionCount: 0)) {
            try placer.place(brokers: brokers(1), topics: [PlacementTopic(name: "empty", partitionCount: 0, replicationFactor: 1)])
        }
        #expect(throws: PlacementError.invalidReplicationFactor(topic: "none", replicationFactor: 0)) {
            try placer.place(brokers: brokers(1), topics: [PlacementTopic(name: "none", partitionCount: 1, replicationFactor: 0)])
        }
    }

    @Test func underReplicationShrinksReplicaListsAndReportsThem() throws {
        let lenient = PartitionPlacer(policy: PlacementPolicy(allowUnderReplication: true))
        let wanted = [PlacementTopic(name: "orders", partitionCount: 30, replicationFactor: 3)]
        let before = try lenient.place(brokers: brokers(3), topics: wanted)
        let after = try lenient.place(brokers: brokers(2), topics: wanted, current: before.assignment)
        #expect(after.underReplicated == ["orders": Array(0..<30)])
        #expect(after.assignment.movedReplicas(from: before.assignment) == 0)
        for replicas in after.assignment.topics["orders"]! {
            #expect(replicas.sorted() == [1, 2])
        }
        // Leaders stay balanced over the brokers that are left.
        #expect(after.assignment.leaderCounts() == [1: 15, 2: 15])
        // When the broker returns, the partitions get their third replica back.
        let healed = try lenient.place(brokers: brokers(3), topics: wanted, current: after.assignment)
        #expect(healed.underReplicated.isEmpty)
        #expect(healed.assignment.topics["orders"]!.allSatisfy { $0.count == 3 })
    }

    @Test func underReplicationWithRacksKeepsRacksDistinct() throws {
        let lenient = PartitionPlacer(policy: PlacementPolicy(allowUnderReplication: true))
        let result = try lenient.place(brokers: brokers(4, racks: 2), topics: [PlacementTopic(name: "t", partitionCount: 10, replicationFactor: 3)])
        #expect(result.underReplicated["t"]?.count == 10)
        #expect(result.assignment.topics["t"]!.allSatisfy { $0.count == 2 && Set($0.map { $0 % 2 }).count == 2 })
    }

    @Test func errorsSayWhatToDo() {
        let error = PlacementError.replicationFactorExceedsBrokers(topic: "orders", replicationFactor: 4, brokers: 3)
        #expect(error.description.contains("lower the replication factor or add brokers"))
    }
}
