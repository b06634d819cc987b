import ArgumentParser

/// The `apus` command line: one subcommand per file; each parses arguments and calls the libraries.
@main
struct Apus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apus",
        abstract: "Apus, a Kafka-compatible append-log broker.",
        subcommands: [BrokerCommand.self, GroupsCommand.self, Bench.self])
}

/// `apus bench …`: benchmarks of the parts of Apus.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure throughput and CPU cost.", subcommands: [BenchStorage.self])
}
