import ApusProtocol
import ApusRecord
import ApusStorage
import Foundation
import NIOCore
import Testing
@testable import ApusBroker

/// Waits until the broker has read `__consumer_offsets` back (group requests get
/// COORDINATOR_LOAD_IN_PROGRESS until then).
func waitForGroupCoordinator(_ broker: Broker) async throws {
    for _ in 0..<500 where !broker.context.groups.isLoaded { try await Task.sleep(for: .milliseconds(10)) }
    #expect(broker.context.groups.isLoaded)
}

func subscription(_ topics: [String]) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(Int16(0))
    ConsumerProtocolSubscription(topics: topics).write(to: &buffer, version: 0)
    return buffer
}

func commitRequest(_ group: String, _ offsets: [(String, Int32, Int64)], generation: Int32 = -1, member: String = "", metadata: String? = "m") -> OffsetCommitRequest {
    OffsetCommitRequest(
        groupId: group, generationIdOrMemberEpoch: generation, memberId: member,
        topics: Dictionary(grouping: offsets, by: \.0).sorted { $0.key < $1.key }.map { topic, entries in
            .init(name: topic, partitions: entries.map { .init(partitionIndex: $0.1, committedOffset: $0.2, committedLeaderEpoch: 0, committedMetadata: metadata) })
        })
}

/// The records of one partition of `__consumer_offsets`, decoded as Kafka's formats.
func offsetsTopicRecords(_ client: TestClient, partition: Int32) throws -> [(offset: Int64, record: GroupRecord, keyVersion: Int16, valueVersion: Int16?)] {
    var next: Int64 = 0
    let listed = try client.call(ListOffsetsRequest(replicaId: -1, topics: [.init(name: "__consumer_offsets", partitions: [.init(partitionIndex: partition, timestamp: -2)])]), version: 5)
    next = listed.topics[0].partitions[0].offset
    var result: [(Int64, GroupRecord, Int16, Int16?)] = []
    while true {
        let response = try client.call(fetchRequest(topic: "__consumer_offsets", partition: partition, offset: next), version: 11)
        let data = try #require(response.responses.first?.partitions.first)
        guard let records = data.records, records.readableBytes > 0 else { break }
        for batch in try RecordBatchDecoder.decodeAll(Array(records.readableBytesView)) {
            for record in batch.records where record.offset >= next {
                let key = try #require(record.key)
                let keyVersion = Int16(key[0]) << 8 | Int16(key[1])
                let valueVersion = record.value.map { Int16($0[0]) << 8 | Int16($0[1]) }
                result.append((record.offset, try #require(try GroupRecord.decode(key: key, value: record.value)), keyVersion, valueVersion))
                next = record.offset + 1
            }
        }
        if next >= data.highWatermark { break }
    }
    return result
}

@Suite(.serialized) struct GroupCoordinatorWireTests {
    static let settings = [("group.initial.rebalance.delay.ms", "0")]

    @Test func commitsSurviveARestartAndOffsetFetchAnswersEveryVersion() async throws {
        let directory = NSTemporaryDirectory() + "apus-groups-restart-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withBroker(settings: Self.settings, dataDirectory: directory) { broker, port in
            try await waitForGroupCoordinator(broker)
            let client = try TestClient(port: port)
            try createTopic(client, "orders", partitions: 3)
            let committed = try client.call(commitRequest("billing", [("orders", 0, 42), ("orders", 2, 7), ("orders", 9, 1)]), version: 8)
            #expect(committed.topics[0].partitions.map(\.errorCode) == [0, 0, KafkaErrorCode.unknownTopicOrPartition.rawValue])
            let tooLarge = try client.call(commitRequest("billing", [("orders", 1, 5)], metadata: String(repeating: "x", count: 4097)), version: 2)
            #expect(tooLarge.topics[0].partitions[0].errorCode == KafkaErrorCode.offsetMetadataTooLarge.rawValue)
            let fromNonMember = try client.call(commitRequest("billing", [("orders", 1, 5)], generation: 3, member: "ghost"), version: 7)
            #expect(fromNonMember.topics[0].partitions[0].errorCode == KafkaErrorCode.unknownMemberId.rawValue)
        }
        try await withBroker(settings: Self.settings, dataDirectory: directory) { broker, port in
            try await waitForGroupCoordinator(broker)
            let client = try TestClient(port: port)
            let v1 = try client.call(OffsetFetchRequest(groupId: "billing", topics: [.init(name: "orders", partitionIndexes: [0, 1, 2])]), version: 1)
            #expect(v1.topics[0].partitions.map(\.committedOffset) == [42, -1, 7])
            #expect(v1.topics[0].partitions[0].metadata == "m")
            let all = try client.call(OffsetFetchRequest(groupId: "billing", topics: nil), version: 7)
            #expect(all.errorCode == 0 && all.topics.map(\.name) == ["orders"])
            #expect(all.topics[0].partitions.map(\.partitionIndex) == [0, 2] && all.topics[0].partitions[0].committedLeaderEpoch == 0)
            let v8 = try client.call(OffsetFetchRequest(groups: [
                .init(groupId: "billing", topics: [.init(name: "orders", partitionIndexes: [2])]), .init(groupId: "unknown", topics: nil),
            ]), version: 8)
            #expect(v8.groups.map(\.groupId) == ["billing", "unknown"])
            #expect(v8.groups[0].topics[0].partitions[0].committedOffset == 7 && v8.groups[1].topics.isEmpty)
            let listed = try client.call(ListGroupsRequest(), version: 4)
            #expect(listed.groups.map(\.groupId) == ["billing"] && listed.groups[0].groupState == "Empty")
            let metadata = try client.call(MetadataRequest(topics: [.init(name: "__consumer_offsets")]), version: 9)
            #expect(metadata.topics[0].isInternal && metadata.topics[0].partitions.count == 50)
        }
    }

    /// OffsetCommit v2 with a retention time: the offset is stored as OffsetCommitValue v1 with
    /// its expire timestamp (Kafka's format for it) and expires then, long before
    /// offsets.retention.minutes; one committed with -1 is stored as v3 and stays.
    @Test func aCommitsOwnRetentionTimeIsStoredAndHonoured() async throws {
        try await withBroker(settings: Self.settings + [("offsets.topic.num.partitions", "1")], configure: {
            $0.groupCoordinator.offsetsRetentionCheckIntervalMs = 50
        }) { broker, port in
            try await waitForGroupCoordinator(broker)
            let client = try TestClient(port: port)
            try createTopic(client, "orders", partitions: 2)
            var shortLived = commitRequest("audit", [("orders", 0, 42)])
            shortLived.retentionTimeMs = 300
            #expect(try client.call(shortLived, version: 2).topics[0].partitions[0].errorCode == 0)
            #expect(try client.call(commitRequest("audit", [("orders", 1, 7)]), version: 2).topics[0].partitions[0].errorCode == 0)
            let stored = try offsetsTopicRecords(client, partition: 0).compactMap { entry -> (Int32, Int16?, Int64?)? in
                guard case .offset(_, let partition, let committed?) = entry.record else { return nil }
                return (partition.partition, entry.valueVersion, committed.expireTimestamp.map { $0 - committed.commitTimestamp })
            }
            #expect(stored.map(\.0) == [0, 1] && stored.map(\.1) == [1, 3] && stored.map(\.2) == [300, nil])
            let fetch = OffsetFetchRequest(groupId: "audit", topics: [.init(name: "orders", partitionIndexes: [0, 1])])
            var offsets: [Int64] = []
            for _ in 0..<100 {
                offsets = try client.call(fetch, version: 1).topics[0].partitions.map(\.committedOffset)
                if offsets.first == -1 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(offsets == [-1, 7])
        }
    }

    /// offsets.retention.minutes, shortened here to milliseconds: the offsets of a group that
    /// only commits go once they are that old, with tombstones that a restart honours.
    @Test func expiredOffsetsAreRemovedWithTombstonesThatSurviveARestart() async throws {
        let directory = NSTemporaryDirectory() + "apus-groups-retention-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withBroker(settings: Self.settings + [("offsets.topic.num.partitions", "1")], dataDirectory: directory, configure: {
            $0.groupCoordinator.offsetsRetentionMs = 400
            $0.groupCoordinator.offsetsRetentionCheckIntervalMs = 50
        }) { broker, port in
            try await waitForGroupCoordinator(broker)
            let client = try TestClient(port: port)
            try createTopic(client, "orders", partitions: 1)
            let fetch = OffsetFetchRequest(groupId: "reporting", topics: [.init(name: "orders", partitionIndexes: [0])])
            #expect(try client.call(commitRequest("reporting", [("orders", 0, 42)]), version: 8).topics[0].partitions[0].errorCode == 0)
            #expect(try client.call(fetch, version: 7).topics[0].partitions[0].committedOffset == 42)
            var committed: Int64 = 42
            for _ in 0..<100 where committed != -1 {
                try await Task.sleep(for: .milliseconds(50))
                committed = try client.call(fetch, version: 7).topics[0].partitions[0].committedOffset
            }
            #expect(committed == -1)
            #expect(try client.call(ListGroupsRequest(), version: 4).groups.isEmpty)
            // The tombstones are in the log: the offset's and the group's (it had no metadata,
            // but a removed group always gets one).
            var tombstones: [String] = []
            for _ in 0..<40 {
                tombstones = try offsetsTopicRecords(client, partition: 0).compactMap {
                    switch $0.record {
                    case .offset(let group, _, nil): "offset \(group)"
                    case .groupMetadata(let group, nil): "group \(group)"
                    default: nil
                    }
                }
                if tombstones.count == 2 { break }
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(tombstones == ["offset reporting", "group reporting"])
        }
        try await withBroker(settings: Self.settings + [("offsets.topic.num.partitions", "1")], dataDirectory: directory) { broker, port in
            try await waitForGroupCoordinator(broker)
            let client = try TestClient(port: port)
            let fetched = try client.call(OffsetFetchRequest(groupId: "reporting", topics: nil), version: 7)
            #expect(fetched.errorCode == 0 && fetched.topics.isEmpty)
            #expect(try client.call(ListGroupsRequest(), version: 4).groups.isEmpty)
        }
    }

    @Test func aConsumerJoinsSyncsHeartbeatsAndLeavesOverTheWire() async throws {
        try await withBroker(settings: Self.settings) { broker, port in
            try await waitForGroupCoordinator(broker)
            let client = try TestClient(port: port)
            try createTopic(client, "events", partitions: 2)
            let coordinator = try client.call(FindCoordinatorRequest(keyType: 0, coordinatorKeys: ["readers"]), version: 4)
            #expect(coordinator.coordinators.map(\.port) == [Int32(port)] && coordinator.coordinators[0].errorCode == 0)
            let v0 = try client.call(FindCoordinatorRequest(key: "readers"), version: 0)
            #expect(v0.errorCode == 0 && v0.port == Int32(port))
            let join = JoinGroupRequest(
                groupId: "readers", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: "", protocolType: "consumer",
                protocols: [.init(name: "range", metadata: subscription(["events"]))])
            let required = try client.call(join, version: 7)
            #expect(required.errorCode == KafkaErrorCode.memberIdRequired.rawValue && !required.memberId.isEmpty)
            var rejoin = join
            rejoin.memberId = required.memberId
            let joined = try client.call(rejoin, version: 7)
            #expect(joined.errorCode == 0 && joined.generationId == 1 && joined.leader == required.memberId)
            #expect(joined.protocolType == "consumer" && joined.protocolName == "range" && joined.members.count == 1)
            let synced = try client.call(SyncGroupRequest(
                groupId: "readers", generationId: 1, memberId: joined.memberId, protocolType: "consumer", protocolName: "range",
                assignments: [.init(memberId: joined.memberId, assignment: ByteBuffer(string: "assignment"))]), version: 5)
            #expect(synced.errorCode == 0 && synced.assignment == ByteBuffer(string: "assignment"))
            let beat = try client.call(HeartbeatRequest(groupId: "readers", generationId: 1, memberId: joined.memberId), version: 4)
            #expect(beat.errorCode == 0)
            let stale = try client.call(HeartbeatRequest(groupId: "readers", generationId: 0, memberId: joined.memberId), version: 1)
            #expect(stale.errorCode == KafkaErrorCode.illegalGeneration.rawValue)
            let commit = try client.call(commitRequest("readers", [("events", 1, 11)], generation: 1, member: joined.memberId), version: 8)
            #expect(commit.topics[0].partitions[0].errorCode == 0)
            let described = try client.call(DescribeGroupsRequest(groups: ["readers", "nobody"]), version: 5)
            #expect(described.groups[0].groupState == "Stable" && described.groups[0].protocolData == "range")
            #expect(described.groups[0].members.map(\.memberAssignment) == [ByteBuffer(string: "assignment")])
            #expect(described.groups[0].members[0].clientHost == "/127.0.0.1" && described.groups[0].members[0].clientId == "apus-tests")
            #expect(described.groups[1].errorCode == 0 && described.groups[1].groupState == "Dead")
            let stableOnly = try client.call(ListGroupsRequest(statesFilter: ["stable"]), version: 4)
            #expect(stableOnly.groups.map(\.groupId) == ["readers"])
            let notEmpty = try client.call(DeleteGroupsRequest(groupsNames: ["readers"]), version: 2)
            #expect(notEmpty.results[0].errorCode == KafkaErrorCode.nonEmptyGroup.rawValue)
            let left = try client.call(LeaveGroupRequest(groupId: "readers", members: [.init(memberId: joined.memberId)]), version: 4)
            #expect(left.errorCode == 0 && left.members.map(\.errorCode) == [0])
            let empty = try client.call(DescribeGroupsRequest(groups: ["readers"]), version: 0)
            #expect(empty.groups[0].groupState == "Empty" && empty.groups[0].members.isEmpty)
            let deleted = try client.call(DeleteGroupsRequest(groupsNames: ["readers", "readers-never"]), version: 2)
            #expect(deleted.results.map(\.errorCode) == [0, KafkaErrorCode.groupIdNotFound.rawValue])
            let fetched = try client.call(OffsetFetchRequest(groupId: "readers", topics: [.init(name: "events", partitionIndexes: [1])]), version: 3)
            #expect(fetched.topics[0].partitions[0].committedOffset == -1)
        }
    }

    @Test func recordsInTheOffsetsTopicDecodeAsKafkasFormats() async throws {
        #expect(GroupRecord.javaHashCode("abc") == 96354)
        #expect(GroupRecord.javaHashCode("polygenelubricants") == Int32.min)  // Java's classic: abs() would stay negative
        #expect(GroupRecord.partition(for: "polygenelubricants", partitionCount: 50) == 0)
        try await withBroker(settings: Self.settings) { broker, port in
            try await waitForGroupCoordinator(broker)
            let client = try TestClient(port: port)
            try createTopic(client, "logs", partitions: 1)
            let group = "format-check"
            let join = JoinGroupRequest(
                groupId: group, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: "", protocolType: "consumer",
                protocols: [.init(name: "range", metadata: subscription(["logs"]))])
            let joined = try client.call(join, version: 2)
            _ = try client.call(SyncGroupRequest(
                groupId: group, generationId: joined.generationId, memberId: joined.memberId,
                assignments: [.init(memberId: joined.memberId, assignment: ByteBuffer(string: "A"))]), version: 1)
            _ = try client.call(commitRequest(group, [("logs", 0, 99)], generation: joined.generationId, member: joined.memberId), version: 2)
            let partition = GroupRecord.partition(for: group, partitionCount: 50)
            #expect(partition == Int32(abs(GroupRecord.javaHashCode(group)) % 50))
            // Wait for the group record, written without blocking the SyncGroup answer.
            var records = try offsetsTopicRecords(client, partition: partition)
            for _ in 0..<100 where records.count < 2 {
                try await Task.sleep(for: .milliseconds(10))
                records = try offsetsTopicRecords(client, partition: partition)
            }
            #expect(records.map(\.keyVersion) == [2, 1])
            #expect(records.map(\.valueVersion) == [3, 3])
            guard case .groupMetadata(group, let value?) = records[0].record else { Issue.record("no group record: \(records)"); return }
            #expect(value.protocolType == "consumer" && value.generation == 1 && value.protocol == "range" && value.leader == joined.memberId)
            #expect(value.members.map(\.memberId) == [joined.memberId] && value.members[0].assignment == ByteBuffer(string: "A"))
            #expect(value.members[0].subscription == subscription(["logs"]) && value.members[0].sessionTimeout == 10_000)
            guard case .offset(group, TopicPartition(topic: "logs", partition: 0), let committed?) = records[1].record else {
                Issue.record("no offset record: \(records)")
                return
            }
            #expect(committed.offset == 99 && committed.leaderEpoch == -1 && committed.metadata == "m" && committed.commitTimestamp > 0)
        }
    }

    @Test func compactionKeepsOnlyTheLatestValuesAndDropsDeletedGroups() async throws {
        let directory = NSTemporaryDirectory() + "apus-groups-compact-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let settings = Self.settings + [("offsets.topic.segment.bytes", "2048"), ("offsets.topic.num.partitions", "1")]
        try await withBroker(settings: settings, dataDirectory: directory) { broker, port in
            try await waitForGroupCoordinator(broker)
            let client = try TestClient(port: port)
            try createTopic(client, "clicks", partitions: 2)
            for round in 0..<150 {
                let response = try client.call(commitRequest("keeper", [("clicks", 0, Int64(round)), ("clicks", 1, Int64(1000 + round))]), version: 8)
                #expect(response.topics[0].partitions.map(\.errorCode) == [0, 0])
                _ = try client.call(commitRequest("doomed", [("clicks", 0, Int64(round))]), version: 8)
            }
            #expect(try client.call(DeleteGroupsRequest(groupsNames: ["doomed"]), version: 2).results[0].errorCode == 0)
            // Enough further commits to trigger a compaction after the tombstones.
            for round in 150..<200 {
                _ = try client.call(commitRequest("keeper", [("clicks", 0, Int64(round)), ("clicks", 1, Int64(1000 + round))]), version: 8)
            }
            let records = try offsetsTopicRecords(client, partition: 0)
            // 600+ commits were written; compaction leaves at most the live keys plus what came since.
            #expect(records.count < 40, "\(records.count) records left")
            #expect(!records.contains { $0.record.groupId == "doomed" })
            let latest = Dictionary(records.compactMap { entry -> (TopicPartition, Int64)? in
                if case .offset("keeper", let partition, let committed?) = entry.record { return (partition, committed.offset) }
                return nil
            }, uniquingKeysWith: { $1 })
            #expect(latest[TopicPartition(topic: "clicks", partition: 0)] == 199 && latest[TopicPartition(topic: "clicks", partition: 1)] == 1199)
        }
        try await withBroker(settings: settings, dataDirectory: directory) { broker, port in
            try await waitForGroupCoordinator(broker)
            let client = try TestClient(port: port)
            let fetched = try client.call(OffsetFetchRequest(groupId: "keeper", topics: nil), version: 7)
            #expect(fetched.topics.first?.partitions.map(\.committedOffset) == [199, 1199])
            let doomed = try client.call(OffsetFetchRequest(groupId: "doomed", topics: nil), version: 7)
            #expect(doomed.topics.isEmpty)
            #expect(try client.call(ListGroupsRequest(), version: 3).groups.map(\.groupId) == ["keeper"])
        }
    }
}
