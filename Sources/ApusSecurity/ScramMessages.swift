/// Parsing and formatting of SCRAM's four messages (RFC 5802 section 7), shared by `ScramServer` and
/// `ScramClient`. Every message is a comma-separated list of `name=value` attributes; values never
/// contain a comma (user names escape it as "=2C" and "=" as "=3D").
enum ScramMessages {
    /// One `name=value` attribute. `name` is a single letter for RFC 5802 attributes and a word for
    /// Kafka's extensions (e.g. "tokenauth").
    struct Attribute {
        var name: Substring
        var value: Substring
    }

    /// The attributes of `text`, or nil when one of them has no "=" or an empty name.
    static func attributes(_ text: Substring) -> [Attribute]? {
        var result = [Attribute]()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let equals = part.firstIndex(of: "="), equals != part.startIndex else { return nil }
            result.append(Attribute(name: part[..<equals], value: part[part.index(after: equals)...]))
        }
        return result
    }

    /// A SCRAM message as text: nil when too long, not UTF-8, or containing NUL.
    static func text(_ message: [UInt8]) -> Substring? {
        guard message.count <= maximumSaslMessageLength, !message.contains(0),
              let text = String(validating: message, as: UTF8.self)
        else { return nil }
        return Substring(text)
    }

    /// RFC 5802's saslname → user name: "=2C" is ",", "=3D" is "=", any other "=" (and an empty
    /// name) is malformed.
    static func decodeSaslName(_ saslName: Substring) -> String? {
        guard !saslName.isEmpty else { return nil }
        var result = ""
        var rest = saslName[...]
        while let equals = rest.firstIndex(of: "=") {
            result += rest[..<equals]
            let escape = rest[equals...].prefix(3)
            switch escape {
            case "=2C": result += ","
            case "=3D": result += "="
            default: return nil
            }
            rest = rest[rest.index(equals, offsetBy: 3)...]
        }
        return result + rest
    }

    /// User name → saslname: "=" becomes "=3D", "," becomes "=2C".
    static func encodeSaslName(_ name: String) -> String {
        var result = ""
        for character in name {
            switch character {
            case "=": result += "=3D"
            case ",": result += "=2C"
            default: result.append(character)
            }
        }
        return result
    }

    /// A nonce is one or more printable ASCII characters other than "," (RFC 5802's `printable`).
    static func isValidNonce(_ nonce: Substring) -> Bool {
        !nonce.isEmpty && nonce.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E && $0 != UInt8(ascii: ",") }
    }

    /// A fresh nonce: base64 of 32 random bytes.
    static func randomNonce() -> String {
        Base64.encode(randomBytes(32))
    }

    /// client-final-message-without-proof, from the channel-binding header and the combined nonce.
    static func clientFinalWithoutProof(gs2Header: Substring, nonce: Substring) -> String {
        "c=\(Base64.encode(Array(gs2Header.utf8))),r=\(nonce)"
    }

    /// AuthMessage = client-first-message-bare "," server-first-message "," client-final-message-without-proof.
    static func authMessage(clientFirstBare: Substring, serverFirst: Substring, clientFinalWithoutProof: Substring) -> [UInt8] {
        Array("\(clientFirstBare),\(serverFirst),\(clientFinalWithoutProof)".utf8)
    }
}
