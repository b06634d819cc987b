/// Kafka's principal "Type:name", e.g. User:alice or User:ANONYMOUS: who a connection is
/// authenticated as, and what an ACL names.
public struct KafkaPrincipal: Hashable, Sendable, Codable, CustomStringConvertible {
    public var type: String
    public var name: String

    public init(type: String = "User", name: String) {
        self.type = type
        self.name = name
    }

    /// Parses "Type:name", splitting at the first ':' ("User:a:b" is type User, name "a:b"); nil
    /// when there is no ':' or either part is empty.
    public init?(parsing text: String) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let type = text[..<colon]
        let name = text[text.index(after: colon)...]
        guard !type.isEmpty, !name.isEmpty else { return nil }
        self.init(type: String(type), name: String(name))
    }

    /// The principal of an unauthenticated (PLAINTEXT or SSL without client certificate) connection.
    public static let anonymous = KafkaPrincipal(name: "ANONYMOUS")

    /// The principal "User:*" that an ACL uses to mean every user.
    public static let wildcard = KafkaPrincipal(name: "*")

    public var description: String { "\(type):\(name)" }
}
