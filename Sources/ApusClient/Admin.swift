import ApusProtocol
import Logging
import NIOCore

/// Configuration of an ``Admin`` client. Every field has the default shown.
public struct AdminConfiguration: Sendable {
    /// Brokers to bootstrap from (`HOST:PORT`). Default `127.0.0.1:9092`.
    public var bootstrapServers: [String] = ["127.0.0.1:9092"]
    /// Default `apus-admin`.
    public var clientId = "apus-admin"
    /// How long the broker may take to create or delete topics. Default 30 s.
    public var requestTimeout: Duration = .seconds(30)
    /// Connect timeout per broker. Default 10 s.
    public var connectTimeout: Duration = .seconds(10)
    /// TLS and SASL (`security.protocol`, `sasl.*`, `ssl.*`). Default plaintext, unauthenticated.
    public var security: ClientSecurity = .plaintext

    public init(bootstrapServers: [String] = ["127.0.0.1:9092"]) {
        self.bootstrapServers = bootstrapServers
    }
}

/// A topic as ``Admin/describeTopics(_:)`` reports it.
public struct TopicDescription: Sendable, Hashable {
    public struct Partition: Sendable, Hashable {
        public var partition: Int32
        public var leader: Int32
        public var replicas: [Int32]
        public var inSyncReplicas: [Int32]
    }

    public var name: String
    public var isInternal: Bool
    public var partitions: [Partition]
    /// Topic configs (DescribeConfigs), name → value.
    public var configs: [String: String]
}

/// A consumer group as ``Admin/listGroups()`` reports it.
public struct GroupListing: Sendable, Hashable {
    public var groupId: String
    /// `Stable`, `Empty`, … (empty if the broker does not say).
    public var state: String
    public var protocolType: String
}

/// A consumer group's members and what they own, as ``Admin/describeGroup(_:)`` reports it.
public struct GroupDescription: Sendable, Hashable {
    public struct Member: Sendable, Hashable {
        public var memberId: String
        public var clientId: String
        public var clientHost: String
        public var assignment: [TopicPartition]
    }

    public var groupId: String
    public var state: String
    public var protocolType: String
    /// The assignor in use (`range`, …).
    public var protocolName: String
    public var members: [Member]
}

/// Cluster administration: topics, partitions, offsets and consumer groups; ACLs and SCRAM
/// users (in AdminSecurity.swift).
///
/// ```swift
/// let admin = Admin(configuration: .init(bootstrapServers: ["127.0.0.1:9092"]))
/// try await admin.createTopic("events", partitions: 6)
/// let ends = try await admin.listOffsets(topic: "events", at: .end)
/// await admin.close()
/// ```
public final class Admin: Sendable {
    /// The configuration it was made with.
    public let configuration: AdminConfiguration
    let cluster: Cluster

    public init(configuration: AdminConfiguration, logger: Logger = Logger(label: "apus.admin")) {
        self.configuration = configuration
        self.cluster = Cluster(
            bootstrapServers: configuration.bootstrapServers, clientId: configuration.clientId,
            connectTimeout: configuration.connectTimeout, metadataMaxAge: .seconds(1), security: configuration.security, logger: logger)
    }

    private var timeoutMs: Int32 { Int32(clamping: configuration.requestTimeout.components.seconds * 1000) }

    static func check(_ code: Int16, _ message: String?, _ what: String) throws {
        guard code != 0 else { return }
        let detail = message.flatMap { $0.isEmpty ? nil : "\(what): \($0)" } ?? what
        throw KafkaClientError.broker(KafkaErrorCode(rawValue: code) ?? .unknownServerError, detail)
    }

    /// Checks that a broker answers (connects and negotiates versions).
    public func ping() async throws {
        _ = try await cluster.anyConnection()
    }

    // MARK: Topics

    /// Creates a topic with `partitions` partitions and Kafka topic `configs`.
    public func createTopic(_ name: String, partitions: Int32 = 1, replicationFactor: Int16 = 1, configs: [String: String] = [:]) async throws {
        let response = try await cluster.send(CreateTopicsRequest(
            topics: [.init(name: name, numPartitions: partitions, replicationFactor: replicationFactor,
                           configs: configs.map { .init(name: $0.key, value: $0.value) })],
            timeoutMs: timeoutMs), maximumVersion: 7)
        for topic in response.topics { try Self.check(topic.errorCode, topic.errorMessage, "creating topic \(topic.name)") }
    }

    /// Deletes topics by name.
    public func deleteTopics(_ names: [String]) async throws {
        let response = try await cluster.send(DeleteTopicsRequest(
            topics: names.map { .init(name: $0) }, topicNames: names, timeoutMs: timeoutMs), maximumVersion: 5)
        for topic in response.responses { try Self.check(topic.errorCode, topic.errorMessage, "deleting topic \(topic.name ?? "?")") }
    }

    /// Grows a topic to `totalPartitions` partitions.
    public func createPartitions(topic: String, totalPartitions: Int32) async throws {
        let response = try await cluster.send(CreatePartitionsRequest(
            topics: [.init(name: topic, count: totalPartitions, assignments: nil)], timeoutMs: timeoutMs), maximumVersion: 3)
        for result in response.results { try Self.check(result.errorCode, result.errorMessage, "adding partitions to \(result.name)") }
        await cluster.invalidate(topic: topic)
    }

    /// The names of all topics (internal ones too if `includeInternal`).
    public func listTopics(includeInternal: Bool = false) async throws -> [String] {
        let response = try await cluster.refresh(topics: nil)
        return response.topics.filter { includeInternal || !$0.isInternal }.compactMap(\.name).sorted()
    }

    /// Partitions, leaders and configs of `names` (all topics if empty). Throws
    /// ``KafkaClientError/unknownTopic(_:)`` for a missing topic.
    public func describeTopics(_ names: [String] = []) async throws -> [TopicDescription] {
        let response = try await cluster.refresh(topics: names.isEmpty ? nil : names)
        var result: [TopicDescription] = []
        for topic in response.topics {
            guard let name = topic.name else { continue }
            if topic.errorCode == KafkaErrorCode.unknownTopicOrPartition.rawValue { throw KafkaClientError.unknownTopic(name) }
            try Self.check(topic.errorCode, nil, "describing topic \(name)")
            result.append(TopicDescription(
                name: name, isInternal: topic.isInternal,
                partitions: topic.partitions.map { .init(partition: $0.partitionIndex, leader: $0.leaderId, replicas: $0.replicaNodes, inSyncReplicas: $0.isrNodes) }
                    .sorted { $0.partition < $1.partition },
                configs: [:]))
        }
        if !result.isEmpty, let configs = try? await cluster.send(DescribeConfigsRequest(
            resources: result.map { .init(resourceType: 2, resourceName: $0.name, configurationKeys: nil) }), maximumVersion: 4)
        {
            for resource in configs.results where resource.errorCode == 0 {
                guard let index = result.firstIndex(where: { $0.name == resource.resourceName }) else { continue }
                for entry in resource.configs { result[index].configs[entry.name] = entry.value ?? "" }
            }
        }
        return result.sorted { $0.name < $1.name }
    }

    // MARK: Offsets

    /// The offset of every partition of `topic` at `position` (`.beginning`, `.end`,
    /// `.timestamp(ms)`; `.offset(n)` answers n).
    public func listOffsets(topic: String, at position: SeekPosition) async throws -> [TopicPartition: Int64] {
        let layout = try await cluster.layout(of: topic)
        let partitions = layout.leaders.keys.map { TopicPartition(topic, $0) }
        return try await listOffsets(partitions, at: position)
    }

    /// The offset of each partition at `position`.
    public func listOffsets(_ partitions: [TopicPartition], at position: SeekPosition) async throws -> [TopicPartition: Int64] {
        let timestamp: Int64
        switch position {
        case .offset(let offset): return Dictionary(uniqueKeysWithValues: partitions.map { ($0, offset) })
        case .beginning: timestamp = -2
        case .end: timestamp = -1
        case .timestamp(let time): timestamp = time
        }
        return try await ApusClient.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, timestamp) }), cluster: cluster)
    }

    // MARK: Groups

    /// Every consumer group the broker knows.
    public func listGroups() async throws -> [GroupListing] {
        let response = try await cluster.send(ListGroupsRequest(), maximumVersion: 4)
        try Self.check(response.errorCode, nil, "listing groups")
        return response.groups.map { GroupListing(groupId: $0.groupId, state: $0.groupState, protocolType: $0.protocolType) }
            .sorted { $0.groupId < $1.groupId }
    }

    /// A group's state, members and their assignments.
    public func describeGroup(_ groupId: String) async throws -> GroupDescription {
        let node = try await cluster.coordinator(of: groupId)
        let response = try await cluster.send(DescribeGroupsRequest(groups: [groupId]), to: node, maximumVersion: 5)
        guard let group = response.groups.first else { throw KafkaClientError.protocolViolation("no answer for group \(groupId)") }
        try Self.check(group.errorCode, nil, "describing group \(groupId)")
        let members = group.members.map { member -> GroupDescription.Member in
            var assignment: [TopicPartition] = []
            var bytes = member.memberAssignment
            if group.protocolType == "consumer", bytes.readableBytes >= 2, let version = bytes.readInteger(as: Int16.self),
                let decoded = try? ConsumerProtocolAssignment(from: &bytes, version: min(max(version, 0), ConsumerProtocolAssignment.validVersions.upperBound))
            {
                assignment = decoded.assignedPartitions.flatMap { t in t.partitions.map { TopicPartition(t.topic, $0) } }.sorted()
            }
            return .init(memberId: member.memberId, clientId: member.clientId, clientHost: member.clientHost, assignment: assignment)
        }
        return GroupDescription(
            groupId: group.groupId, state: group.groupState, protocolType: group.protocolType, protocolName: group.protocolData, members: members)
    }

    /// Deletes groups (they must have no members).
    public func deleteGroups(_ groupIds: [String]) async throws {
        for groupId in groupIds {
            let node = try await cluster.coordinator(of: groupId)
            let response = try await cluster.send(DeleteGroupsRequest(groupsNames: [groupId]), to: node, maximumVersion: 2)
            for result in response.results { try Self.check(result.errorCode, nil, "deleting group \(result.groupId)") }
        }
    }

    /// A group's committed offsets (all its partitions if `partitions` is nil).
    public func listGroupOffsets(_ groupId: String, partitions: [TopicPartition]? = nil) async throws -> [TopicPartition: Int64] {
        let node = try await cluster.coordinator(of: groupId)
        let topics = partitions.map { parts in
            Dictionary(grouping: parts, by: \.topic).map { OffsetFetchRequest.OffsetFetchRequestTopic(name: $0.key, partitionIndexes: $0.value.map(\.partition)) }
        }
        let response = try await cluster.send(OffsetFetchRequest(groupId: groupId, topics: topics), to: node, maximumVersion: 7)
        try Self.check(response.errorCode, nil, "fetching offsets of \(groupId)")
        var result: [TopicPartition: Int64] = [:]
        for topic in response.topics {
            for partition in topic.partitions where partition.committedOffset >= 0 {
                result[TopicPartition(topic.name, partition.partitionIndex)] = partition.committedOffset
            }
        }
        return result
    }

    /// Sets a group's committed offsets (the group must have no active members, as in
    /// `kafka-consumer-groups.sh --reset-offsets`).
    public func alterGroupOffsets(_ groupId: String, offsets: [TopicPartition: Int64]) async throws {
        let node = try await cluster.coordinator(of: groupId)
        let topics = Dictionary(grouping: offsets, by: \.key.topic).map { topic, entries in
            OffsetCommitRequest.OffsetCommitRequestTopic(name: topic, partitions: entries.map {
                .init(partitionIndex: $0.key.partition, committedOffset: $0.value, committedLeaderEpoch: -1, committedMetadata: "")
            })
        }
        let response = try await cluster.send(OffsetCommitRequest(
            groupId: groupId, generationIdOrMemberEpoch: -1, memberId: "", groupInstanceId: nil, retentionTimeMs: -1, topics: topics),
            to: node, maximumVersion: 8)
        for topic in response.topics {
            for partition in topic.partitions {
                try Self.check(partition.errorCode, nil, "committing \(topic.name)/\(partition.partitionIndex) for \(groupId)")
            }
        }
    }

    /// Closes the connections.
    public func close() async {
        await cluster.close()
    }
}
