import ApusClient
import ArgumentParser
import Foundation

/// `apus topics create|list|describe|delete|alter`, as kafka-topics.sh.
struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics", abstract: "Create, list, describe, delete topics and add partitions.",
        subcommands: [Create.self, List.self, Describe.self, Delete.self, Alter.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a topic.")
        @OptionGroup var broker: BrokerOptions
        @Argument(help: "The topic name.") var topic: String
        @Option(name: [.customShort("p"), .long], help: "Number of partitions (default 1).") var partitions: Int32 = 1
        @Option(name: [.customShort("r"), .customLong("replication-factor")], help: "Replication factor (default 1).") var replicationFactor: Int16 = 1
        @Option(name: [.customShort("c"), .customLong("config")], help: "A topic config as key=value; repeatable.") var configs: [String] = []

        func run() async throws {
            try await CommandFailure.report {
                var settings: [String: String] = [:]
                for entry in configs {
                    guard let equals = entry.firstIndex(of: "=") else { throw CommandFailure("config '\(entry)' is not key=value") }
                    settings[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
                }
                let admin = try await broker.admin()
                defer { Task { await admin.close() } }
                try await admin.createTopic(topic, partitions: partitions, replicationFactor: replicationFactor, configs: settings)
                print("Created topic \(topic).")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List topic names.")
        @OptionGroup var broker: BrokerOptions
        @Flag(name: .customLong("internal"), help: "Include internal topics (__consumer_offsets).") var includeInternal = false

        func run() async throws {
            try await CommandFailure.report {
                let admin = try await broker.admin()
                defer { Task { await admin.close() } }
                for name in try await admin.listTopics(includeInternal: includeInternal) { print(name) }
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Partitions, leaders, replicas and configs of topics (all if none given).")
        @OptionGroup var broker: BrokerOptions
        @Argument(help: "Topic names.") var topics: [String] = []

        func run() async throws {
            try await CommandFailure.report {
                let admin = try await broker.admin()
                defer { Task { await admin.close() } }
                for topic in try await admin.describeTopics(topics) where !topic.isInternal || !topics.isEmpty {
                    let configs = topic.configs.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                    print("Topic: \(topic.name)\tPartitionCount: \(topic.partitions.count)\tConfigs: \(configs)")
                    for partition in topic.partitions {
                        print("\tTopic: \(topic.name)\tPartition: \(partition.partition)\tLeader: \(partition.leader)\t"
                            + "Replicas: \(partition.replicas.map(String.init).joined(separator: ","))\t"
                            + "Isr: \(partition.inSyncReplicas.map(String.init).joined(separator: ","))")
                    }
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete topics.")
        @OptionGroup var broker: BrokerOptions
        @Argument(help: "Topic names.") var topics: [String]

        func run() async throws {
            try await CommandFailure.report {
                let admin = try await broker.admin()
                defer { Task { await admin.close() } }
                try await admin.deleteTopics(topics)
                for topic in topics { print("Deleted topic \(topic).") }
            }
        }
    }

    struct Alter: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Grow a topic to more partitions.")
        @OptionGroup var broker: BrokerOptions
        @Argument(help: "The topic name.") var topic: String
        @Option(name: [.customShort("p"), .long], help: "The new total number of partitions.") var partitions: Int32

        func run() async throws {
            try await CommandFailure.report {
                let admin = try await broker.admin()
                defer { Task { await admin.close() } }
                try await admin.createPartitions(topic: topic, totalPartitions: partitions)
                print("Topic \(topic) now has \(partitions) partitions.")
            }
        }
    }
}
