import Testing
@testable import ApusPlacement

@Suite struct PartitionPlacerTests {
    let placer = PartitionPlacer()

    @Test func sameInputGivesSameAssignmentOnEveryCall() throws {
        let first = try placer.place(brokers: brokers(7), topics: topics(partitions: 1_000, replicationFactor: 3))
        let second = try placer.place(brokers: brokers(7), topics: topics(partitions: 1_000, replicationFactor: 3))
        #expect(first == second)
    }

    @Test func assignmentDoesNotDependOnInputOrder() throws {
        let cluster = brokers(9, racks: 3)
        let wanted = topics(partitions: 1_000, replicationFactor: 3, perTopic: 37)
        let ordered = try placer.place(brokers: cluster, topics: wanted)
        let shuffled = try placer.place(brokers: cluster.reversed(), topics: wanted.reversed())
        #expect(ordered == shuffled)
        var rotated = cluster
        rotated.append(contentsOf: rotated.prefix(4))
        rotated.removeFirst(4)
        let again = try placer.place(brokers: rotated, topics: wanted, current: ordered.assignment)
        let againShuffled = try placer.place(brokers: rotated.reversed(), topics: wanted.reversed(), current: ordered.assignment)
        #expect(again == againShuffled)
    }

    @Test func everyPartitionGetsItsReplicationFactorOnDistinctBrokers() throws {
        let result = try placer.place(brokers: brokers(5), topics: topics(partitions: 2_000, replicationFactor: 3))
        #expect(result.assignment.partitionCount == 2_000)
        for replicas in allReplicaLists(result.assignment) {
            #expect(replicas.count == 3)
            #expect(Set(replicas).count == 3)
        }
        #expect(result.underReplicated.isEmpty)
    }

    @Test func replicasOfAPartitionAreOnDistinctRacks() throws {
        let cluster = brokers(12, racks: 4)
        let rackOf = Dictionary(uniqueKeysWithValues: cluster.map { ($0.id, $0.rack!) })
        let result = try placer.place(brokers: cluster, topics: topics(partitions: 3_000, replicationFactor: 3))
        for replicas in allReplicaLists(result.assignment) {
            #expect(Set(replicas.map { rackOf[$0]! }).count == 3)
        }
        #expect(result.replicasOverBound == 0)
    }

    @Test func racksOfUnequalSizeKeepDistinctRacksAndReportTheExcess() throws {
        // One broker alone in rack "small": with RF 3 over 3 racks it must hold every partition.
        let cluster = [PlacementBroker(id: 1, rack: "small")]
            + (2...4).map { PlacementBroker(id: $0, rack: "big-1") }
            + (5...7).map { PlacementBroker(id: $0, rack: "big-2") }
        let rackOf = Dictionary(uniqueKeysWithValues: cluster.map { ($0.id, $0.rack!) })
        let result = try placer.place(brokers: cluster, topics: topics(partitions: 700, replicationFactor: 3))
        for replicas in allReplicaLists(result.assignment) {
            #expect(Set(replicas.map { rackOf[$0]! }).count == 3)
        }
        #expect(result.assignment.replicaCounts()[1] == 700)
        #expect(result.replicasOverBound > 0)
    }

    @Test(arguments: [(3, 1), (5, 3), (10, 3), (30, 1), (30, 3), (100, 3)])
    func noBrokerExceedsTheBoundedLoad(brokerCount: Int, replicationFactor: Int) throws {
        let cluster = brokers(brokerCount)
        let result = try placer.place(brokers: cluster, topics: topics(partitions: 10_000, replicationFactor: replicationFactor))
        let replicaLimit = boundedLoadLimit(total: 10_000 * replicationFactor, brokers: cluster)
        let leaderLimit = boundedLoadLimit(total: 10_000, brokers: cluster)
        let replicas = result.assignment.replicaCounts()
        let leaders = result.assignment.leaderCounts()
        for broker in cluster {
            #expect(replicas[broker.id, default: 0] <= replicaLimit[broker.id]!, "broker \(broker.id) replicas")
            #expect(leaders[broker.id, default: 0] <= leaderLimit[broker.id]!, "broker \(broker.id) leaders")
        }
    }

    @Test func leadersAreBalancedWithinTheBound() throws {
        // 1,200 partitions over 12 brokers: a share of exactly 100 leaders each, bound 105.
        let result = try placer.place(brokers: brokers(12), topics: topics(partitions: 1_200, replicationFactor: 3))
        let leaders = result.assignment.leaderCounts()
        #expect(leaders.count == 12)
        #expect(leaders.values.max()! <= 105)
        #expect(leaders.values.reduce(0, +) == 1_200)
    }

    @Test func weightsScaleReplicaAndLeaderShares() throws {
        var cluster = brokers(6)
        cluster[0].weight = 2  // broker 1: a share of 2 / 6.5 (weights 2 + 0.5 + 4 × 1)
        cluster[1].weight = 0.5  // broker 2: a share of 0.5 / 6.5
        let total = 7_000
        let result = try placer.place(brokers: cluster, topics: topics(partitions: total, replicationFactor: 1))
        let counts = result.assignment.replicaCounts()
        let totalWeight = cluster.reduce(0) { $0 + $1.weight }
        for broker in cluster {
            let share = Double(total) * broker.weight / totalWeight
            let held = Double(counts[broker.id, default: 0])
            #expect(held <= (share * 1.05).rounded(.up), "broker \(broker.id) holds \(held), share \(share)")
            #expect(held >= (share * 0.95).rounded(.down), "broker \(broker.id) holds \(held), share \(share)")
        }
        #expect(counts[1]! > 2 * counts[3]! * 95 / 100)
    }

    @Test func weightsBoundReplicasAndLeadersWithReplication() throws {
        let cluster = [PlacementBroker(id: 1, weight: 2)] + (2...8).map { PlacementBroker(id: $0) }
        let result = try placer.place(brokers: cluster, topics: topics(partitions: 9_000, replicationFactor: 3))
        let replicaLimit = boundedLoadLimit(total: 27_000, brokers: cluster)
        let leaderLimit = boundedLoadLimit(total: 9_000, brokers: cluster)
        let replicas = result.assignment.replicaCounts()
        let leaders = result.assignment.leaderCounts()
        for broker in cluster {
            #expect(replicas[broker.id]! <= replicaLimit[broker.id]!)
            #expect(leaders[broker.id]! <= leaderLimit[broker.id]!)
        }
        #expect(replicas[1]! >= 5_700)  // share 6,000
        #expect(leaders[1]! >= 1_900)  // share 2,000
    }

    @Test func weightsOnTheRingScaleVirtualNodes() {
        let ring = HashRing(
            brokers: [PlacementBroker(id: 1, weight: 3), PlacementBroker(id: 2, weight: 1)], virtualNodesPerBroker: 100)
        #expect(ring.pointCount == 150 + 50)
    }

    @Test func placingAgainWithTheCurrentAssignmentMovesNothing() throws {
        let cluster = brokers(10, racks: 5)
        let wanted = topics(partitions: 3_000, replicationFactor: 3)
        let first = try placer.place(brokers: cluster, topics: wanted)
        let second = try placer.place(brokers: cluster, topics: wanted, current: first.assignment)
        #expect(second.assignment == first.assignment)
    }

    @Test func newPartitionsAndTopicsArePlacedWithoutMovingExistingReplicas() throws {
        let cluster = brokers(8)
        let first = try placer.place(brokers: cluster, topics: topics(partitions: 800, replicationFactor: 3))
        var grown = topics(partitions: 800, replicationFactor: 3)
        grown[0].partitionCount = 150
        grown.append(PlacementTopic(name: "new", partitionCount: 50, replicationFactor: 2))
        let second = try placer.place(brokers: cluster, topics: grown, current: first.assignment)
        #expect(second.assignment.movedReplicas(from: first.assignment) == 50 * 3 + 50 * 2)
        #expect(second.assignment.topics["new"]!.allSatisfy { Set($0).count == 2 })
    }
}
