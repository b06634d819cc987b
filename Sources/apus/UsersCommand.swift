import ApusBroker
import ApusClient
import ApusSecurity
import ArgumentParser
import Foundation

/// `apus users add|delete|list`: SCRAM users, as `kafka-configs.sh --entity-type users
/// --alter --add-config SCRAM-SHA-256=[…]` sets them: against a running broker
/// (AlterUserScramCredentials, the password never sent) or offline in a data directory.
struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Add, delete and list SCRAM users (on a running broker, or offline with --data-dir).",
        subcommands: [Add.self, Delete.self, List.self])

    /// Where the users live: a broker reached with `-b` and the security options, or a data directory.
    struct Target: ParsableArguments {
        @OptionGroup var broker: BrokerOptions
        @Option(
            name: .customLong("data-dir"),
            help: "Edit the credentials file of this broker data directory instead of asking a running broker.")
        var dataDirectory: String?

        var store: ScramCredentialStore? { dataDirectory.map { ScramCredentialStore(dataDirectory: $0) } }
    }

    /// `--mechanism`, repeatable; both SCRAM mechanisms when absent.
    struct Mechanisms: ParsableArguments {
        @Option(name: .customLong("mechanism"), help: "SCRAM-SHA-256 or SCRAM-SHA-512; repeatable (default both).")
        var names: [String] = []

        func validate() throws { _ = try resolved() }

        func resolved() throws -> [ScramMechanism] {
            guard !names.isEmpty else { return ScramMechanism.allCases }
            var result: [ScramMechanism] = []
            for name in names {
                guard let mechanism = ScramMechanism(rawValue: name.uppercased()) else {
                    throw ValidationError("mechanism '\(name)' is not SCRAM-SHA-256 or SCRAM-SHA-512")
                }
                if !result.contains(mechanism) { result.append(mechanism) }
            }
            return result
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user or set its password (read from stdin when neither --password nor --password-file is given).")
        @OptionGroup var target: Target
        @OptionGroup var mechanisms: Mechanisms
        @Argument(help: "The user name.") var user: String
        @Option(help: "PBKDF2 iterations (4096 to 16384).") var iterations = ScramMechanism.minimumIterations
        @Option(help: "The password (visible to other users of this machine; prefer --password-file or stdin).") var password: String?
        @Option(name: .customLong("password-file"), help: "Read the password from the first line of this file.") var passwordFile: String?

        func validate() throws {
            guard !user.isEmpty else { throw ValidationError("the user name must not be empty") }
            guard (ScramMechanism.minimumIterations...ScramMechanism.maximumIterations).contains(iterations) else {
                throw ValidationError("iterations must be between \(ScramMechanism.minimumIterations) and \(ScramMechanism.maximumIterations)")
            }
            if password != nil && passwordFile != nil { throw ValidationError("give --password or --password-file, not both") }
        }

        func run() async throws {
            try await CommandFailure.report {
                let secret = try readPassword()
                let chosen = try mechanisms.resolved()
                if let store = target.store {
                    for mechanism in chosen {
                        try store.upsert(user: user, credential: .make(mechanism: mechanism, password: secret, iterations: iterations))
                    }
                } else {
                    let admin = try await target.broker.admin()
                    defer { Task { await admin.close() } }
                    for mechanism in chosen {
                        try await admin.upsertScramCredential(user: user, mechanism: mechanism, password: secret, iterations: iterations)
                    }
                }
                print("Set \(chosen.map(\.rawValue).joined(separator: " and ")) credentials of user '\(user)'.")
            }
        }

        private func readPassword() throws -> String {
            if let password { return password }
            let line: String?
            if let passwordFile {
                guard let data = FileManager.default.contents(atPath: passwordFile) else { throw CommandFailure("cannot read \(passwordFile)") }
                line = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init)
            } else {
                line = readLine(strippingNewline: true)
            }
            guard var secret = line else { throw CommandFailure("no password: give --password, --password-file, or one line on stdin") }
            if secret.hasSuffix("\r") { secret.removeLast() }
            guard !secret.isEmpty else { throw CommandFailure("the password must not be empty") }
            return secret
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user's credentials (all its mechanisms unless --mechanism).")
        @OptionGroup var target: Target
        @OptionGroup var mechanisms: Mechanisms
        @Argument(help: "The user name.") var user: String

        func run() async throws {
            try await CommandFailure.report {
                var deleted: [ScramMechanism] = []
                if let store = target.store {
                    for mechanism in try mechanisms.resolved() {
                        if try store.delete(user: user, mechanism: mechanism) { deleted.append(mechanism) }
                    }
                    if !mechanisms.names.isEmpty, deleted.count < mechanisms.names.count {
                        let missing = try mechanisms.resolved().filter { !deleted.contains($0) }.map(\.rawValue).joined(separator: ", ")
                        throw CommandFailure("user '\(user)' has no \(missing) credential")
                    }
                } else {
                    let admin = try await target.broker.admin()
                    defer { Task { await admin.close() } }
                    // Without --mechanism, delete what the user has: asking for a missing one is an error.
                    let wanted = mechanisms.names.isEmpty
                        ? try await admin.describeScramCredentials(users: [user])[user, default: []].map(\.mechanism)
                        : try mechanisms.resolved()
                    for mechanism in wanted {
                        try await admin.deleteScramCredential(user: user, mechanism: mechanism)
                        deleted.append(mechanism)
                    }
                }
                guard !deleted.isEmpty else { throw CommandFailure("user '\(user)' has no SCRAM credentials") }
                print("Deleted \(deleted.map(\.rawValue).joined(separator: " and ")) credentials of user '\(user)'.")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users with their SCRAM mechanisms and iteration counts.")
        @OptionGroup var target: Target
        @Argument(help: "Only these users (default all).") var users: [String] = []

        func run() async throws {
            try await CommandFailure.report {
                var rows: [[String]] = []
                if let store = target.store {
                    for (user, credentials) in try store.load() where users.isEmpty || users.contains(user) {
                        for credential in credentials.values {
                            rows.append([user, credential.mechanism.rawValue, "\(credential.iterations)"])
                        }
                    }
                } else {
                    let admin = try await target.broker.admin()
                    defer { Task { await admin.close() } }
                    for (user, credentials) in try await admin.describeScramCredentials(users: users.isEmpty ? nil : users) {
                        for credential in credentials { rows.append([user, credential.mechanism.rawValue, "\(credential.iterations)"]) }
                    }
                }
                print(Table.render(header: ["USER", "MECHANISM", "ITERATIONS"], rows: rows.sorted { ($0[0], $0[1]) < ($1[0], $1[1]) }))
            }
        }
    }
}
