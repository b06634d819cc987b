/// Java `.properties` text, read as `java.util.Properties.load` reads it: Kafka's
/// `server.properties`, its tools' `--command-config` files and the broker's own metadata files.
///
/// - One entry per logical line: `key=value`, `key:value` or `key value`; whitespace around the
///   separator is dropped, the value's trailing whitespace is kept (Kafka's config parsing
///   trims it later, as ``trimmed(_:)`` does for the broker's and client's settings).
/// - Lines starting with `#` or `!` are comments; blank lines are skipped.
/// - A line ending in an odd number of backslashes goes on with the next line, whose leading
///   whitespace is dropped.
/// - Escapes: `\t`, `\n`, `\r`, `\f`, `\uXXXX`, and a backslash before any other character
///   stands for that character (`\=`, `\:`, `\ `, `\\`, `\#`).
/// - Lines end at `\n`, `\r` or `\r\n`.
public enum JavaProperties {
    /// The entries in file order; a key given twice appears twice (the later one wins in Java).
    public static func parse(_ text: String) -> [(key: String, value: String)] {
        var entries: [(key: String, value: String)] = []
        var logical: [Character] = []
        var continuing = false
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            let content = line.drop(while: isWhitespace)
            if !continuing && (content.isEmpty || content.first == "#" || content.first == "!") { continue }
            let trailingBackslashes = content.reversed().prefix { $0 == "\\" }.count
            if trailingBackslashes % 2 == 1 {
                logical += content.dropLast()
                continuing = true
                continue
            }
            logical += content
            continuing = false
            if let entry = entry(logical) { entries.append(entry) }
            logical.removeAll(keepingCapacity: true)
        }
        if continuing, let entry = entry(logical) { entries.append(entry) }
        return entries
    }

    /// One `key=value` line (without its line end) that ``parse(_:)`` reads back as exactly
    /// `key` and `value`: separators, leading whitespace, backslashes, line ends and comment
    /// characters are escaped.
    public static func line(key: String, value: String) -> String {
        var line = ""
        for (index, character) in key.enumerated() {
            line += escape(character, leadingSpace: true, separator: true, first: index == 0)
        }
        line += "="
        for (index, character) in value.enumerated() {
            line += escape(character, leadingSpace: index == 0, separator: false, first: false)
        }
        return line
    }

    private static func escape(_ character: Character, leadingSpace: Bool, separator: Bool, first: Bool) -> String {
        switch character {
        case "\\": return "\\\\"
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        case "\u{0C}": return "\\f"
        case "\r\n": return "\\r\\n"
        case " " where leadingSpace: return "\\ "
        case "=", ":": return separator ? "\\" + String(character) : String(character)
        case "#", "!": return first ? "\\" + String(character) : String(character)
        default: return String(character)
        }
    }

    /// `value` without leading and trailing characters at or below U+0020 (spaces, tabs, line
    /// ends, other controls), as Java's `String.trim` and so Kafka's config parsing trim it.
    public static func trimmed(_ value: some StringProtocol) -> String {
        func isTrimmed(_ scalar: Unicode.Scalar) -> Bool { scalar.value <= 0x20 }
        let scalars = value.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isTrimmed($0) }),
            let last = scalars.lastIndex(where: { !isTrimmed($0) })
        else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }

    private static func isWhitespace(_ character: Character) -> Bool {
        character == " " || character == "\t" || character == "\u{0C}"
    }

    /// Splits a logical line at its first unescaped separator and unescapes both sides.
    private static func entry(_ line: [Character]) -> (key: String, value: String)? {
        var index = 0
        var keyEnd = line.count
        while index < line.count {
            let character = line[index]
            if character == "\\" {
                index += 2
                continue
            }
            if character == "=" || character == ":" || isWhitespace(character) {
                keyEnd = index
                break
            }
            index += 1
        }
        let key = unescape(line[0..<min(keyEnd, line.count)])
        var valueStart = min(keyEnd, line.count)
        while valueStart < line.count && isWhitespace(line[valueStart]) { valueStart += 1 }
        if valueStart < line.count && (line[valueStart] == "=" || line[valueStart] == ":") {
            valueStart += 1
            while valueStart < line.count && isWhitespace(line[valueStart]) { valueStart += 1 }
        }
        guard !key.isEmpty || valueStart < line.count else { return nil }
        return (key, unescape(line[valueStart...]))
    }

    private static func unescape(_ characters: ArraySlice<Character>) -> String {
        var result = ""
        var index = characters.startIndex
        while index < characters.endIndex {
            let character = characters[index]
            index += 1
            guard character == "\\", index < characters.endIndex else {
                if character != "\\" { result.append(character) }
                continue
            }
            let escaped = characters[index]
            index += 1
            switch escaped {
            case "t": result.append("\t")
            case "n": result.append("\n")
            case "r": result.append("\r")
            case "f": result.append("\u{0C}")
            case "u":
                let digits = characters[index..<min(index + 4, characters.endIndex)]
                if digits.count == 4, let code = UInt32(String(digits), radix: 16), let scalar = Unicode.Scalar(code) {
                    result.append(Character(scalar))
                    index += 4
                } else {
                    result.append("u")  // Java throws on a malformed \u; keep the text instead.
                }
            default: result.append(escaped)
            }
        }
        return result
    }
}
