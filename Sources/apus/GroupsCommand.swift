import ApusClient
import ApusProtocol
import ArgumentParser
import Foundation
import NIOCore

/// `apus groups list|describe`: consumer groups as kafka-consumer-groups.sh shows them.
struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups", abstract: "List and describe consumer groups, with their lag.",
        subcommands: [List.self, Describe.self])

    struct Connection: ParsableArguments {
        @Option(name: [.customShort("b"), .long], help: "Broker HOST:PORT. Env: APUS_BOOTSTRAP.")
        var bootstrapServer: String = ProcessInfo.processInfo.environment["APUS_BOOTSTRAP"] ?? "127.0.0.1:9092"

        func connect() async throws -> KafkaConnection {
            do {
                return try await KafkaConnection.connect(to: bootstrapServer, clientId: "apus-groups")
            } catch {
                throw CommandFailure("cannot connect to \(bootstrapServer): \(error)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the consumer groups.")
        @OptionGroup var connection: Connection

        func run() async throws {
            try await CommandFailure.report {
                let client = try await connection.connect()
                defer { Task { await client.close() } }
                let response = try await client.send(ListGroupsRequest())
                try CommandFailure.check(response.errorCode, "listing groups")
                print(Table.render(
                    header: ["GROUP", "STATE", "PROTOCOL-TYPE"],
                    rows: response.groups.sorted { $0.groupId < $1.groupId }.map { [$0.groupId, $0.groupState.isEmpty ? "-" : $0.groupState, $0.protocolType] }))
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per partition: committed offset, log end offset, lag, and the member that owns it.")
        @OptionGroup var connection: Connection
        @Argument(help: "The group id.") var group: String

        func run() async throws {
            try await CommandFailure.report {
                let client = try await connection.connect()
                defer { Task { await client.close() } }
                let described = try await client.send(DescribeGroupsRequest(groups: [group]))
                guard let info = described.groups.first else { throw CommandFailure("no answer for group \(group)") }
                try CommandFailure.check(info.errorCode, "describing group \(group)")
                // Who owns what, from the members' assignments (consumer protocol).
                var owners: [String: (member: String, host: String, client: String)] = [:]
                for member in info.members where info.protocolType == "consumer" {
                    var bytes = member.memberAssignment
                    guard bytes.readableBytes >= 2, let version = bytes.readInteger(as: Int16.self),
                        let assignment = try? ConsumerProtocolAssignment(from: &bytes, version: min(version, ConsumerProtocolAssignment.validVersions.upperBound))
                    else { continue }
                    for topic in assignment.assignedPartitions {
                        for partition in topic.partitions {
                            owners["\(topic.topic)/\(partition)"] = (member.memberId, member.clientHost, member.clientId)
                        }
                    }
                }
                let offsets = try await client.send(OffsetFetchRequest(groupId: group, topics: nil), maximumVersion: 7)
                try CommandFailure.check(offsets.errorCode, "fetching offsets of \(group)")
                var committed: [String: Int64] = [:]
                for topic in offsets.topics {
                    for partition in topic.partitions where partition.committedOffset >= 0 {
                        committed["\(topic.name)/\(partition.partitionIndex)"] = partition.committedOffset
                    }
                }
                let keys = Set(committed.keys).union(owners.keys).sorted { a, b in
                    let (ta, pa) = Self.split(a), (tb, pb) = Self.split(b)
                    return (ta, pa) < (tb, pb)
                }
                let byTopic = Dictionary(grouping: keys.map(Self.split), by: \.0)
                let ends = try await client.send(ListOffsetsRequest(
                    replicaId: -1, topics: byTopic.map { topic, partitions in
                        .init(name: topic, partitions: partitions.map { .init(partitionIndex: $0.1, timestamp: -1, maxNumOffsets: 1) })
                    }), maximumVersion: 5)
                var logEnd: [String: Int64] = [:]
                for topic in ends.topics {
                    for partition in topic.partitions where partition.errorCode == 0 {
                        logEnd["\(topic.name)/\(partition.partitionIndex)"] = partition.offset
                    }
                }
                if info.members.isEmpty {
                    print("Consumer group '\(group)' has no active members.\n")
                }
                let rows = keys.map { key -> [String] in
                    let (topic, partition) = Self.split(key)
                    let current = committed[key]
                    let end = logEnd[key]
                    let lag = current.flatMap { c in end.map { String(max(0, $0 - c)) } } ?? "-"
                    let owner = owners[key]
                    return [group, topic, "\(partition)", current.map(String.init) ?? "-", end.map(String.init) ?? "-", lag,
                            owner?.member ?? "-", owner?.host ?? "-", owner?.client ?? "-"]
                }
                print(Table.render(
                    header: ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"],
                    rows: rows))
                print("\nstate \(info.groupState), protocol \(info.protocolData.isEmpty ? "-" : info.protocolData), \(info.members.count) member(s)")
            }
        }

        static func split(_ key: String) -> (String, Int32) {
            let slash = key.lastIndex(of: "/")!
            return (String(key[..<slash]), Int32(key[key.index(after: slash)...])!)
        }
    }
}

/// A failure reported as one plain line on standard error, with exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }

    static func check(_ code: Int16, _ what: String) throws {
        guard code != 0 else { return }
        let error = KafkaErrorCode(rawValue: code)
        throw CommandFailure("\(what): \(error?.name ?? "error") (\(code))")
    }

    static func report(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as CommandFailure {
            FileHandle.standardError.write(Data("apus: \(failure.description)\n".utf8))
            throw ExitCode.failure
        } catch let error as KafkaClientError {
            FileHandle.standardError.write(Data("apus: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}

/// Left-aligned columns, as Kafka's tools print them.
enum Table {
    static func render(header: [String], rows: [[String]]) -> String {
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column] + 2, withPad: " ", startingAt: 0)
            }.joined()
        }.joined(separator: "\n")
    }
}
