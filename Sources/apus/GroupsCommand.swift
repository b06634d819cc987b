import ApusClient
import ApusProtocol
import ArgumentParser
import Foundation

/// `apus groups list|describe|delete|reset-offsets`: consumer groups as kafka-consumer-groups.sh shows them.
struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups", abstract: "List, describe, delete consumer groups and reset their offsets.",
        subcommands: [List.self, Describe.self, Delete.self, ResetOffsets.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the consumer groups.")
        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            try await CommandFailure.report {
                let admin = try await broker.admin()
                defer { Task { await admin.close() } }
                let groups = try await admin.listGroups()
                print(Table.render(
                    header: ["GROUP", "STATE", "PROTOCOL-TYPE"],
                    rows: groups.map { [$0.groupId, $0.state.isEmpty ? "-" : $0.state, $0.protocolType] }))
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per partition: committed offset, log end offset, lag, and the member that owns it.")
        @OptionGroup var broker: BrokerOptions
        @Argument(help: "The group id.") var group: String

        func run() async throws {
            try await CommandFailure.report {
                let admin = try await broker.admin()
                defer { Task { await admin.close() } }
                let info = try await admin.describeGroup(group)
                var owners: [TopicPartition: GroupDescription.Member] = [:]
                for member in info.members { for partition in member.assignment { owners[partition] = member } }
                let committed = try await admin.listGroupOffsets(group)
                let partitions = Set(committed.keys).union(owners.keys).sorted()
                let ends = partitions.isEmpty ? [:] : try await admin.listOffsets(partitions, at: .end)
                if info.members.isEmpty { print("Consumer group '\(group)' has no active members.\n") }
                let rows = partitions.map { partition -> [String] in
                    let current = committed[partition], end = ends[partition]
                    let lag = current.flatMap { c in end.map { String(max(0, $0 - c)) } } ?? "-"
                    let owner = owners[partition]
                    return [group, partition.topic, "\(partition.partition)", current.map(String.init) ?? "-", end.map(String.init) ?? "-", lag,
                            owner?.memberId ?? "-", owner?.clientHost ?? "-", owner?.clientId ?? "-"]
                }
                print(Table.render(
                    header: ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"],
                    rows: rows))
                print("\nstate \(info.state), protocol \(info.protocolName.isEmpty ? "-" : info.protocolName), \(info.members.count) member(s)")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete consumer groups (they must have no active members).")
        @OptionGroup var broker: BrokerOptions
        @Argument(help: "The group ids.") var groups: [String]

        func run() async throws {
            try await CommandFailure.report {
                let admin = try await broker.admin()
                defer { Task { await admin.close() } }
                try await admin.deleteGroups(groups)
                for group in groups { print("Deleted consumer group '\(group)'.") }
            }
        }
    }

    struct ResetOffsets: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-offsets",
            abstract: "Set a group's committed offsets for a topic (dry run unless --execute).")
        @OptionGroup var broker: BrokerOptions
        @Argument(help: "The group id.") var group: String
        @Option(name: [.customShort("t"), .long], help: "The topic.") var topic: String
        @Option(name: [.customShort("p"), .long], help: "Only this partition.") var partition: Int32?
        @Flag(name: .customLong("to-earliest"), help: "To the log start offset.") var toEarliest = false
        @Flag(name: .customLong("to-latest"), help: "To the log end offset.") var toLatest = false
        @Option(name: .customLong("to-offset"), help: "To this offset.") var toOffset: Int64?
        @Option(name: .customLong("to-timestamp"), help: "To the first offset at or after this time (ms since the epoch).") var toTimestamp: Int64?
        @Flag(help: "Apply the change; without it the new offsets are only printed.") var execute = false

        func validate() throws {
            let chosen = [toEarliest, toLatest, toOffset != nil, toTimestamp != nil].filter { $0 }.count
            guard chosen == 1 else { throw ValidationError("give exactly one of --to-earliest, --to-latest, --to-offset, --to-timestamp") }
        }

        func run() async throws {
            try await CommandFailure.report {
                let admin = try await broker.admin()
                defer { Task { await admin.close() } }
                let description = try await admin.describeTopics([topic])
                var partitions = description.first?.partitions.map { TopicPartition(topic, $0.partition) } ?? []
                if let partition {
                    guard partitions.contains(TopicPartition(topic, partition)) else { throw CommandFailure("topic '\(topic)' has no partition \(partition)") }
                    partitions = [TopicPartition(topic, partition)]
                }
                let position: SeekPosition =
                    toEarliest ? .beginning : toLatest ? .end : toOffset.map { .offset($0) } ?? .timestamp(toTimestamp!)
                let offsets = try await admin.listOffsets(partitions, at: position)
                if execute { try await admin.alterGroupOffsets(group, offsets: offsets) }
                print(Table.render(
                    header: ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"],
                    rows: offsets.sorted { $0.key < $1.key }.map { [group, $0.key.topic, "\($0.key.partition)", "\($0.value)"] }))
                if !execute { print("\n(dry run: add --execute to apply)") }
            }
        }
    }
}

/// `-b HOST:PORT[,HOST:PORT…]`, default 127.0.0.1:9092 or `$APUS_BROKERS`; client security as
/// kcat and Kafka's tools take it: `-X key=value` (librdkafka names) and `--command-config FILE`
/// (a properties file), `-X` winning.
struct BrokerOptions: ParsableArguments {
    @Option(name: [.customShort("b"), .customLong("brokers")], help: "Bootstrap brokers HOST:PORT[,HOST:PORT…] (default 127.0.0.1:9092). Env: APUS_BROKERS.")
    var brokers: String = ProcessInfo.processInfo.environment["APUS_BROKERS"] ?? "127.0.0.1:9092"

    @Option(
        name: .customShort("X"),
        help: ArgumentHelp(
            "A client property KEY=VALUE, librdkafka's names: security.protocol, sasl.mechanism, sasl.username, sasl.password, "
                + "ssl.ca.location, ssl.certificate.location, ssl.key.location, ssl.key.password, ssl.endpoint.identification.algorithm; repeatable.",
            valueName: "key=value"))
    var properties: [String] = []

    @Option(
        name: .customLong("command-config"),
        help: ArgumentHelp("A properties file with the same keys, as Kafka's tools take it. Env: APUS_COMMAND_CONFIG.", valueName: "file"))
    var commandConfig: String?

    var addresses: [String] { brokers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    func validate() throws {
        for property in properties where !property.contains("=") { throw ValidationError("-X \(property) is not key=value") }
    }

    /// TLS and SASL settings from `--command-config` and `-X`. A `-X` key apus does not know is
    /// an error; a properties file may hold other clients' keys, which are ignored, but an unknown
    /// `security.`, `sasl.` or `ssl.` key in it is an error too.
    func security() throws -> ClientSecurity {
        var settings: [String: String] = [:]
        if let commandConfig = commandConfig ?? ProcessInfo.processInfo.environment["APUS_COMMAND_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 }) {
            do {
                settings = try PropertiesFile.load(path: commandConfig)
            } catch {
                throw CommandFailure("--command-config: \(error)")
            }
        }
        for property in properties {
            let equals = property.firstIndex(of: "=")!
            let key = String(property[..<equals]).trimmingCharacters(in: .whitespaces)
            guard ClientSecurity.propertyNames.contains(key) else {
                throw CommandFailure("-X \(key): unknown property; apus takes \(ClientSecurity.propertyNames.joined(separator: ", "))")
            }
            settings[key] = String(property[property.index(after: equals)...])
        }
        do {
            return try ClientSecurity(properties: settings)
        } catch {
            throw CommandFailure(error.message)
        }
    }

    /// An admin client that has checked that a broker answers.
    func admin() async throws -> Admin {
        var configuration = AdminConfiguration(bootstrapServers: addresses)
        configuration.connectTimeout = .seconds(5)
        configuration.clientId = "apus-cli"
        configuration.security = try security()
        let admin = Admin(configuration: configuration)
        do {
            try await admin.ping()
        } catch {
            await admin.close()
            throw error
        }
        return admin
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

    /// Runs `body`; any error but an exit code becomes `apus: <message>` on stderr and exit status 1.
    static func report(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("apus: \(error)\n".utf8))
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
