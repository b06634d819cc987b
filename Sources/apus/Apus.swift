import ArgumentParser
import Foundation

/// The `apus` command line: one subcommand per file; each parses arguments and calls the libraries.
@main
struct Apus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apus",
        abstract: "Apus, a Kafka-compatible append-log broker.",
        subcommands: [
            BrokerCommand.self, ProduceCommand.self, ConsumeCommand.self, TopicsCommand.self, GroupsCommand.self, UsersCommand.self,
            AclsCommand.self, Bench.self,
        ])

    /// Bad flags print one plain line (`apus: …`) on stderr and exit with status 64; help and
    /// exit codes behave as ArgumentParser's defaults.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data("apus: \(message(for: error))\n".utf8))
                Foundation.exit(code.rawValue)
            }
            exit(withError: error)
        }
    }
}

/// `apus bench …`: benchmarks of the parts of Apus.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure throughput and CPU cost.",
        subcommands: [BenchStorage.self, BenchProduceCommand.self, BenchConsumeCommand.self, BenchLatencyCommand.self])
}
