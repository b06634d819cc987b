import Foundation

/// Java `.properties` text, as Kafka's tools read `--command-config` files: `key=value`,
/// `key: value` or `key value` per line, `#` and `!` comments, a trailing backslash joins the
/// next line, and `\t`, `\n`, `\\`, `\=`, `\:` escapes. Later keys win.
public enum PropertiesFile {
    /// Parses properties text.
    public static func parse(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        var logical = ""
        var continuing = false
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            var line = Substring(rawLine)
            line = line.drop { $0 == " " || $0 == "\t" || $0 == "\u{0C}" }
            if !continuing && (line.isEmpty || line.first == "#" || line.first == "!") { continue }
            // An odd number of trailing backslashes continues the line.
            let trailing = line.reversed().prefix { $0 == "\\" }.count
            if trailing % 2 == 1 {
                logical += line.dropLast()
                continuing = true
                continue
            }
            logical += line
            continuing = false
            if let (key, value) = split(logical) { result[key] = value }
            logical = ""
        }
        if continuing, let (key, value) = split(logical) { result[key] = value }
        return result
    }

    /// Reads and parses a properties file; throws a plain error if it cannot be read.
    public static func load(path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ClientSecurityError("cannot read the properties file '\(path)'.")
        }
        return parse(String(decoding: data, as: UTF8.self))
    }

    /// Splits one logical line at the first unescaped `=`, `:` or whitespace.
    private static func split(_ line: String) -> (String, String)? {
        var key = ""
        var rest = Substring(line)
        var escaped = false
        while let character = rest.first {
            if escaped {
                key.append(unescape(character))
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "=" || character == ":" || character == " " || character == "\t" {
                break
            } else {
                key.append(character)
            }
            rest = rest.dropFirst()
        }
        guard !key.isEmpty else { return nil }
        rest = rest.drop { $0 == " " || $0 == "\t" }
        if rest.first == "=" || rest.first == ":" { rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" } }
        var value = ""
        escaped = false
        for character in rest {
            if escaped {
                value.append(unescape(character))
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else {
                value.append(character)
            }
        }
        return (key, value)
    }

    private static func unescape(_ character: Character) -> Character {
        switch character {
        case "t": "\t"
        case "n": "\n"
        case "r": "\r"
        case "f": "\u{0C}"
        default: character
        }
    }
}
