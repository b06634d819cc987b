import ApusSecurity
import ApusStorage
import Foundation

/// The SCRAM credentials of the broker's users, in `<data dir>/security/scram-credentials.json`.
///
/// Each user has, per mechanism, the salt, iteration count, StoredKey and ServerKey of RFC 5802:
/// enough to check a SCRAM proof or a PLAIN password, never the password itself. Writes replace
/// the file atomically and durably, each change (read, change, replace) under an exclusive lock
/// on `scram-credentials.json.lock`, so that the broker (AlterUserScramCredentials) and
/// `apus users --data-dir`, which edits the same file while the broker is stopped or running,
/// never lose each other's changes. The broker rereads the file when its ``FileSystem/Version``
/// changes.
public struct ScramCredentialStore: Sendable {
    /// The JSON file.
    public let path: String

    /// The lock file every change of ``path`` holds.
    var lockPath: String { path + ".lock" }

    public init(dataDirectory: String) {
        path = dataDirectory + "/security/scram-credentials.json"
    }

    /// The file's layout: `{"version": 1, "users": {"alice": {"SCRAM-SHA-256": {...}}}}`, byte
    /// strings in base64.
    private struct File: Codable {
        struct Entry: Codable {
            var salt: String
            var storedKey: String
            var serverKey: String
            var iterations: Int
        }
        var version = 1
        var users: [String: [String: Entry]] = [:]
    }

    /// Every user's credentials; empty when the file does not exist.
    public func load() throws -> [String: [ScramMechanism: ScramCredential]] {
        guard let file = try SecurityFile.read(File.self, from: path, kind: "credentials file") else { return [:] }
        var users: [String: [ScramMechanism: ScramCredential]] = [:]
        for (user, entries) in file.users {
            for (name, entry) in entries {
                guard let mechanism = ScramMechanism(rawValue: name), let salt = Data(base64Encoded: entry.salt),
                    let storedKey = Data(base64Encoded: entry.storedKey), let serverKey = Data(base64Encoded: entry.serverKey)
                else { throw ConfigError("\(path): the \(name) entry of user \(user) is malformed") }
                users[user, default: [:]][mechanism] = ScramCredential(
                    mechanism: mechanism, salt: Array(salt), storedKey: Array(storedKey), serverKey: Array(serverKey),
                    iterations: entry.iterations)
            }
        }
        return users
    }

    /// Removes what writes interrupted by a crash left in `security/` (`*.tmp` files of the
    /// credentials and ACL files). Holds the credentials lock, so that no `apus users` write is
    /// in progress; the broker calls it at start, before it writes ACLs.
    public func removeLeftovers() throws {
        let directory = FileSystem.parentDirectory(of: path)
        guard FileManager.default.fileExists(atPath: directory) else { return }
        try FileSystem.withExclusiveLock(lockPath) { try FileSystem.removeTemporaryFiles(in: directory) }
    }

    /// Adds or replaces the credential of `user` for its mechanism.
    public func upsert(user: String, credential: ScramCredential) throws {
        try FileSystem.withExclusiveLock(lockPath) {
            var users = try load()
            users[user, default: [:]][credential.mechanism] = credential
            try save(users)
        }
    }

    /// Deletes the credential of `user` for `mechanism` (all mechanisms when nil); false when
    /// there was none.
    @discardableResult
    public func delete(user: String, mechanism: ScramMechanism?) throws -> Bool {
        try FileSystem.withExclusiveLock(lockPath) {
            var users = try load()
            guard var entries = users[user] else { return false }
            if let mechanism {
                guard entries.removeValue(forKey: mechanism) != nil else { return false }
            } else {
                entries = [:]
            }
            users[user] = entries.isEmpty ? nil : entries
            try save(users)
            return true
        }
    }

    /// The file's version, to notice edits by another process.
    var version: FileSystem.Version? { FileSystem.version(path) }

    private func save(_ users: [String: [ScramMechanism: ScramCredential]]) throws {
        var file = File()
        for (user, entries) in users {
            for (mechanism, credential) in entries {
                file.users[user, default: [:]][mechanism.rawValue] = .init(
                    salt: Data(credential.salt).base64EncodedString(), storedKey: Data(credential.storedKey).base64EncodedString(),
                    serverKey: Data(credential.serverKey).base64EncodedString(), iterations: credential.iterations)
            }
        }
        try SecurityFile.write(file, to: path)
    }
}
