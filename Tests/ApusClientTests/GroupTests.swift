import ApusBroker
import ApusClient
import Foundation
import Testing

/// A wait that took longer than its bound: the test fails instead of hanging.
struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out: \(what)" }
}

/// Runs `body`, failing with ``TimedOut`` after `limit`. On timeout `onTimeout` runs (close the
/// clients, so requests still in flight fail) before the body is cancelled and awaited.
func withTimeout<T: Sendable>(
    _ limit: Duration, _ what: String, onTimeout: @escaping @Sendable () async -> Void = {},
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        guard let first = try await group.next(), let result = first else {
            await onTimeout()
            group.cancelAll()
            throw TimedOut(what: what)
        }
        group.cancelAll()
        return result
    }
}

/// Polls `condition` every 50 ms until it holds; throws ``TimedOut`` after `limit`.
func waitUntil(_ what: String, within limit: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// Settings that make group tests quick: no initial rebalance delay, short sessions allowed.
let groupBrokerSettings = [("group.initial.rebalance.delay.ms", "0"), ("group.min.session.timeout.ms", "500")]

/// What the members of a group processed: the values of the batches whose commit succeeded.
actor Ledger {
    var values: [String] = []
    var byMember: [String: Int] = [:]
    func record(_ batch: ConsumerBatch, by member: String) {
        values += batch.records.map { $0.valueString ?? "" }
        byMember[member, default: 0] += batch.records.count
    }
    var count: Int { values.count }
}

/// Consumes with `consumer`, committing each batch after "processing" it, until `ledger` holds
/// `total` records or `stop` says so. A batch whose commit a rebalance refused is not counted: the
/// group hands it out again, as at-least-once processing requires.
func consumeCommitting(
    _ consumer: Consumer, name: String, into ledger: Ledger, total: Int, stop: @escaping @Sendable () async -> Bool = { false }
) async throws {
    while await ledger.count < total, await !stop() {
        guard let batch = try await consumer.nextBatch() else { return }
        do {
            try await consumer.commit(batch)
            await ledger.record(batch, by: name)
        } catch KafkaClientError.broker(let code, _) where [.rebalanceInProgress, .illegalGeneration, .unknownMemberId].contains(code) {
            continue
        }
    }
}

@Suite(.serialized) struct GroupTests {
    func member(_ broker: EmbeddedBroker, group: String, strategy: PartitionAssignmentStrategy) -> Consumer {
        var configuration = consumerConfiguration(broker, groupId: group)
        configuration.assignmentStrategies = [strategy]
        configuration.enableAutoCommit = false
        configuration.stopAtEndOfLog = false
        configuration.heartbeatInterval = .milliseconds(200)
        configuration.sessionTimeout = .seconds(5)
        configuration.rebalanceTimeout = .seconds(20)
        return Consumer(configuration: configuration)
    }

    @Test(arguments: [PartitionAssignmentStrategy.range, .roundRobin, .cooperativeSticky])
    func twoMembersConsumeEveryRecordOnceWhileOneLeavesMidStream(strategy: PartitionAssignmentStrategy) async throws {
        try await withEmbeddedBroker(settings: groupBrokerSettings) { broker in
            let groupId = "g-\(strategy.rawValue)"
            let admin = Admin(configuration: .init(bootstrapServers: [broker.bootstrapAddress]))
            try await admin.createTopic("grouped", partitions: 4)
            let first = member(broker, group: groupId, strategy: strategy)
            let second = member(broker, group: groupId, strategy: strategy)
            try await first.subscribe(topics: ["grouped"])
            try await second.subscribe(topics: ["grouped"])
            let total = 400
            let ledger = Ledger()
            try await withTimeout(.seconds(90), "consuming \(total) records with \(strategy.rawValue)", onTimeout: {
                await first.close()
                await second.close()
            }) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do { try await consumeCommitting(first, name: "first", into: ledger, total: total) } catch is CancellationError {}
                    }
                    // The second member leaves once half the records are processed.
                    group.addTask {
                        try await consumeCommitting(second, name: "second", into: ledger, total: total) {
                            await ledger.count >= total / 2
                        }
                        await second.close()
                    }
                    // Both members hold two partitions before anything is produced.
                    try await waitUntil("both members assigned") {
                        let a = await first.assignedPartitions, b = await second.assignedPartitions
                        return a.count == 2 && b.count == 2 && Set(a + b).count == 4
                    }
                    let producer = Producer(configuration: producerConfiguration(broker))
                    for i in 0..<total {
                        _ = try await producer.submit(ProducerRecord(topic: "grouped", partition: Int32(i % 4), value: "\(i)"))
                        if i % 50 == 49 { try await Task.sleep(for: .milliseconds(20)) }
                    }
                    await producer.close()
                    try await waitUntil("every record processed", within: .seconds(60)) { await ledger.count >= total }
                    group.cancelAll()   // the first member may be waiting for records that will not come
                    try await group.waitForAll()
                }
            }
            // Every record once: none lost, none processed (and committed) twice.
            let values = await ledger.values
            #expect(values.count == total)
            #expect(Set(values) == Set((0..<total).map { "\($0)" }))
            #expect(await ledger.byMember["second", default: 0] > 0)
            // The remaining member took over all four partitions.
            #expect(await first.assignedPartitions.count == 4)
            await first.close()
            let committed = try await admin.listGroupOffsets(groupId)
            #expect(committed.values.sorted() == [100, 100, 100, 100])
            // A new member starts from the commits: nothing left.
            var thirdConfiguration = consumerConfiguration(broker, groupId: groupId)
            thirdConfiguration.assignmentStrategies = [strategy]
            let third = Consumer(configuration: thirdConfiguration)
            try await third.subscribe(topics: ["grouped"])
            let rest = try await withTimeout(.seconds(30), "draining the committed group", onTimeout: { await third.close() }) {
                try await drain(third)
            }
            #expect(rest.isEmpty)
            await third.close()
            #expect(try await admin.describeGroup(groupId).members.isEmpty)
            try await admin.deleteGroups([groupId])
            #expect(try await admin.listGroups().isEmpty)
            await admin.close()
        }
    }

    /// KIP-429: a second member takes two of the first member's four partitions, and the first
    /// keeps reading the other two where it was, without a commit (nothing was committed) and
    /// without reading any record again, as an eager rebalance would make it.
    @Test func aJoiningMemberTakesSomePartitionsWithoutTheOwnerLosingTheRest() async throws {
        try await withEmbeddedBroker(settings: groupBrokerSettings) { broker in
            let admin = Admin(configuration: .init(bootstrapServers: [broker.bootstrapAddress]))
            try await admin.createTopic("sticky", partitions: 4)
            let producer = Producer(configuration: producerConfiguration(broker))
            for i in 0..<40 { _ = try await producer.submit(ProducerRecord(topic: "sticky", partition: Int32(i % 4), value: "\(i)")) }
            await producer.close()
            let first = member(broker, group: "sticky", strategy: .cooperativeSticky)
            let second = member(broker, group: "sticky", strategy: .cooperativeSticky)
            try await first.subscribe(topics: ["sticky"])
            try await second.subscribe(topics: ["sticky"])
            let all = Set((0..<4).map { TopicPartition("sticky", Int32($0)) })
            let received = Ledger()
            try await withTimeout(.seconds(60), "cooperative rebalance", onTimeout: {
                await first.close()
                await second.close()
            }) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do { while let batch = try await first.nextBatch() { await received.record(batch, by: "first") } } catch is CancellationError {}
                    }
                    try await waitUntil("the first member read everything") {
                        guard await Set(first.assignedPartitions) == all else { return false }
                        for partition in all where await first.position(of: partition) != 10 { return false }
                        return true
                    }
                    #expect(await received.byMember["first"] == 40)
                    group.addTask {
                        do { while let batch = try await second.nextBatch() { await received.record(batch, by: "second") } } catch is CancellationError {}
                    }
                    try await waitUntil("both members hold two partitions") {
                        let a = await first.assignedPartitions, b = await second.assignedPartitions
                        return a.count == 2 && b.count == 2 && Set(a + b) == all
                    }
                    let kept = await first.assignedPartitions, taken = await second.assignedPartitions
                    try await waitUntil("the second member read its partitions") {
                        for partition in taken where await second.position(of: partition) != 10 { return false }
                        return true
                    }
                    // The first member kept its positions: it read nothing twice.
                    for partition in kept { #expect(await first.position(of: partition) == 10) }
                    #expect(await received.byMember["first"] == 40)
                    #expect(await received.byMember["second"] == 20)
                    group.cancelAll()
                    try await group.waitForAll()
                }
            }
            await first.close()
            await second.close()
            await admin.close()
        }
    }

    @Test func processingLongerThanTheSessionTimeoutKeepsTheMembership() async throws {
        try await withEmbeddedBroker(settings: groupBrokerSettings) { broker in
            let admin = Admin(configuration: .init(bootstrapServers: [broker.bootstrapAddress]))
            try await admin.createTopic("slow", partitions: 2)
            let producer = Producer(configuration: producerConfiguration(broker))
            for i in 0..<10 { _ = try await producer.submit(ProducerRecord(topic: "slow", partition: Int32(i % 2), value: "\(i)")) }
            await producer.close()
            var configuration = consumerConfiguration(broker, groupId: "slow")
            configuration.enableAutoCommit = false
            configuration.stopAtEndOfLog = false
            configuration.sessionTimeout = .seconds(1)
            configuration.heartbeatInterval = .milliseconds(200)
            configuration.rebalanceTimeout = .seconds(30)
            let consumer = Consumer(configuration: configuration)
            try await consumer.subscribe(topics: ["slow"])
            try await withTimeout(.seconds(60), "slow processing", onTimeout: { await consumer.close() }) {
                let batch = try #require(try await consumer.nextBatch())
                let description = try await admin.describeGroup("slow")
                #expect(description.members.count == 1)
                // Three session timeouts of "processing": only background heartbeats keep the member.
                try await Task.sleep(for: .seconds(3))
                try await consumer.commit(batch)   // would fail with UNKNOWN_MEMBER_ID had the session expired
                #expect(try await admin.describeGroup("slow").members.map(\.memberId) == description.members.map(\.memberId))
                #expect(await consumer.assignedPartitions.count == 2)
            }
            await consumer.close()
            await admin.close()
        }
    }

    @Test func alterGroupOffsetsMovesWhereTheGroupResumes() async throws {
        try await withEmbeddedBroker(settings: groupBrokerSettings) { broker in
            let producer = Producer(configuration: producerConfiguration(broker))
            for i in 0..<10 { _ = try await producer.submit(ProducerRecord(topic: "moved", partition: 0, value: "\(i)")) }
            await producer.close()
            let admin = Admin(configuration: .init(bootstrapServers: [broker.bootstrapAddress]))
            try await admin.alterGroupOffsets("mover", offsets: [TopicPartition("moved", 0): 7])
            let consumer = Consumer(configuration: consumerConfiguration(broker, groupId: "mover"))
            try await consumer.subscribe(topics: ["moved"])
            let records = try await withTimeout(.seconds(30), "draining", onTimeout: { await consumer.close() }) {
                try await drain(consumer)
            }
            #expect(records.map(\.offset) == [7, 8, 9])
            await consumer.close()
            #expect(try await admin.listGroupOffsets("mover") == [TopicPartition("moved", 0): 10])
            await admin.close()
        }
    }
}
