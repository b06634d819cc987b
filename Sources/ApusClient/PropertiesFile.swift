import ApusProperties
import Foundation

/// Java `.properties` text, as Kafka's tools read `--command-config` files
/// (``JavaProperties``: `key=value`, `key: value` or `key value`, comments, continuation lines
/// and escapes). Later keys win; values are trimmed, as Kafka's config parsing does.
public enum PropertiesFile {
    /// Parses properties text.
    public static func parse(_ text: String) -> [String: String] {
        Dictionary(JavaProperties.parse(text).map { ($0.key, JavaProperties.trimmed($0.value)) }, uniquingKeysWith: { $1 })
    }

    /// Reads and parses a properties file; throws a plain error if it cannot be read.
    public static func load(path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ClientSecurityError("cannot read the properties file '\(path)'.")
        }
        return parse(String(decoding: data, as: UTF8.self))
    }
}
