/// A configuration value that cannot be used; `description` says which and why.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Kafka's `ssl.principal.mapping.rules`: how the distinguished name of a TLS client certificate
/// becomes the name of the principal `User:<name>`.
///
/// The text is a comma-separated list of `RULE:pattern/replacement/` (optionally followed by `L`
/// or `U` to lower- or upper-case the result) and `DEFAULT`. Commas inside a rule's pattern or
/// replacement belong to the rule; a "/" inside them is written "\/". The first rule whose pattern
/// matches the whole DN gives the name: every match of the pattern in the DN is replaced by the
/// replacement, in which `$1`… refer to the pattern's groups (Java's `replaceAll`, as Kafka's
/// SslPrincipalMapper does). `DEFAULT` gives the DN unchanged. When no rule applies there is no
/// name, and Kafka refuses the connection.
public struct PrincipalMappingRules: Sendable, Equatable {
    /// One parsed rule.
    enum Rule: Sendable, Equatable {
        case `default`
        case rule(pattern: String, replacement: String, caseConversion: CaseConversion)
    }

    enum CaseConversion: Sendable, Equatable {
        case none, lower, upper
    }

    /// The rules in order, as parsed; they alone define equality.
    let rules: [Rule]
    /// Each rule's compiled pattern (nil for DEFAULT), in the order of `rules`.
    private let compiled: [CompiledPattern?]

    /// Kafka's default, "DEFAULT": the principal name is the DN.
    public static let `default` = PrincipalMappingRules(rules: [.default], compiled: [nil])

    private init(rules: [Rule], compiled: [CompiledPattern?]) {
        self.rules = rules
        self.compiled = compiled
    }

    /// Parses the value of `ssl.principal.mapping.rules`. Throws for text that is neither a rule nor
    /// DEFAULT, a pattern that is not a valid regular expression, or a replacement Java would refuse.
    public init(parsing text: String) throws(ConfigurationError) {
        var rules = [Rule]()
        var compiled = [CompiledPattern?]()
        let trimmed = Substring(text).trimmingWhitespace()
        for split in trimmed.matches(of: Self.ruleSplitter) {
            let ruleText = split.output.1
            guard let parsed = ruleText.prefixMatch(of: Self.ruleParser) else {
                throw ConfigurationError("Invalid rule: \(ruleText)")
            }
            guard parsed.range.upperBound == ruleText.endIndex else {
                throw ConfigurationError(
                    "Invalid rule: `\(ruleText)`, unmatched substring: `\(ruleText[parsed.range.upperBound...])`")
            }
            if parsed.output.1 != nil {
                rules.append(.default)
                compiled.append(nil)
            } else if let pattern = parsed.output.2, let replacement = parsed.output.4 {
                let conversion: CaseConversion =
                    switch parsed.output.6 { case "L": .lower; case "U": .upper; default: .none }
                let compiledPattern = try CompiledPattern(pattern: String(pattern), replacement: String(replacement))
                rules.append(.rule(pattern: String(pattern), replacement: String(replacement), caseConversion: conversion))
                compiled.append(compiledPattern)
            }
            // Anything else is an empty rule (e.g. between two commas), which Kafka ignores.
        }
        self.init(rules: rules, compiled: compiled)
    }

    public static func == (lhs: PrincipalMappingRules, rhs: PrincipalMappingRules) -> Bool {
        lhs.rules == rhs.rules
    }

    /// The principal name for a certificate's distinguished name (RFC 2253 form, e.g.
    /// "CN=alice,OU=ServiceUsers,O=Example"), or nil when no rule applies.
    public func name(forDistinguishedName dn: String) -> String? {
        for (rule, pattern) in zip(rules, compiled) {
            switch rule {
            case .default:
                return dn
            case .rule(_, _, let conversion):
                guard let pattern, let name = pattern.apply(to: dn) else { continue }
                switch conversion {
                case .none: return name
                case .lower: return name.lowercased()
                case .upper: return name.uppercased()
                }
            }
        }
        return nil
    }

    // Kafka's SslPrincipalMapper.RULE_SPLITTER and RULE_PARSER: a rule's pattern and replacement run
    // to the next unescaped "/", so commas inside them do not split rules.
    nonisolated(unsafe) private static let ruleSplitter =
        #/\s*((DEFAULT)|RULE:((\\.|[^\\\/])*)\/((\\.|[^\\\/])*)\/([LU]?).*?|(.*?))\s*(,\s*|$)/#
    nonisolated(unsafe) private static let ruleParser =
        #/(DEFAULT)|RULE:((\\.|[^\\\/])*)\/((\\.|[^\\\/])*)\/([LU]?).*?|(.*?)/#
}

/// A rule's pattern, compiled, with its replacement template.
private struct CompiledPattern: @unchecked Sendable {
    // A Regex holds no mutable state once built and is only read here.
    let regex: Regex<AnyRegexOutput>
    let replacement: [Character]

    init(pattern: String, replacement: String) throws(ConfigurationError) {
        do {
            regex = try Regex(pattern).matchingSemantics(.unicodeScalar)
        } catch {
            throw ConfigurationError("Invalid rule pattern `\(pattern)`: \(error)")
        }
        self.replacement = Array(replacement)
        // Java refuses these when the rule is applied; refuse them when the rules are read instead.
        var index = 0
        while index < self.replacement.count {
            switch self.replacement[index] {
            case "\\":
                guard index + 1 < self.replacement.count else {
                    throw ConfigurationError("Invalid rule replacement `\(replacement)`: character to be escaped is missing")
                }
                index += 2
            case "$":
                guard index + 1 < self.replacement.count, self.replacement[index + 1].isASCIIDigit else {
                    throw ConfigurationError(
                        "Invalid rule replacement `\(replacement)`: illegal group reference (only $0, $1, … are supported)")
                }
                index += 2
            default:
                index += 1
            }
        }
    }

    /// The name for `dn` if the pattern matches all of it: every match replaced (Java's replaceAll),
    /// or nil when the pattern does not match or the replacement names a group the pattern lacks.
    func apply(to dn: String) -> String? {
        guard (try? regex.wholeMatch(in: dn)) != nil else { return nil }
        var failed = false
        let result = dn.replacing(regex) { match -> String in
            guard let expanded = expand(match.output) else {
                failed = true
                return ""
            }
            return expanded
        }
        return failed ? nil : result
    }

    /// The replacement for one match, with Java's Matcher.appendReplacement rules after Kafka's
    /// escapeLiteralBackReferences: "\\x" is a literal x; "$n" is group n, taking further digits while
    /// they name an existing group; a "$n" whose first digit is beyond the groups is literal text
    /// (or, when the pattern has no group at all, an error, as in Java).
    private func expand(_ output: AnyRegexOutput) -> String? {
        let groupCount = output.count - 1
        var result = ""
        var index = 0
        while index < replacement.count {
            let character = replacement[index]
            index += 1
            if character == "\\" {
                result.append(replacement[index])
                index += 1
                continue
            }
            guard character == "$" else {
                result.append(character)
                continue
            }
            var group = replacement[index].asciiDigitValue
            if group > groupCount {
                guard groupCount > 0 else { return nil }
                result.append("$")
                continue
            }
            index += 1
            while index < replacement.count, replacement[index].isASCIIDigit,
                  group * 10 + replacement[index].asciiDigitValue <= groupCount
            {
                group = group * 10 + replacement[index].asciiDigitValue
                index += 1
            }
            if let captured = output[group].substring { result += captured }
        }
        return result
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
    fileprivate var asciiDigitValue: Int { Int(asciiValue! - UInt8(ascii: "0")) }
}

extension Substring {
    /// The text without leading and trailing whitespace (Java's String.trim()).
    fileprivate func trimmingWhitespace() -> Substring {
        let start = firstIndex(where: { !$0.isWhitespace }) ?? endIndex
        let end = lastIndex(where: { !$0.isWhitespace }).map(index(after:)) ?? start
        return self[start..<end]
    }
}
