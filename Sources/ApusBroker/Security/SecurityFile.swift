import ApusStorage
import Foundation

/// The JSON state files under `<data dir>/security/` (credentials, ACLs): read whole, replaced
/// atomically and durably, with sorted keys so that edits show as small diffs.
enum SecurityFile {
    /// The decoded file, nil when it does not exist; `kind` names it in the error
    /// ("credentials file").
    static func read<Contents: Decodable>(_ type: Contents.Type, from path: String, kind: String) throws -> Contents? {
        guard let bytes = try FileSystem.readFile(path) else { return nil }
        do { return try JSONDecoder().decode(type, from: Data(bytes)) } catch {
            throw ConfigError("\(path) is not a valid \(kind): \(error)")
        }
    }

    /// Replaces the file (creating its directory if needed).
    static func write(_ contents: some Encodable, to path: String) throws {
        try FileSystem.createDirectory(FileSystem.parentDirectory(of: path))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileSystem.writeAtomically(path, contents: Array(try encoder.encode(contents)))
    }
}
