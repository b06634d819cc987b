import NIOCore

extension RequestContext {
    /// The client's address as Kafka shows it in DescribeGroups (`/127.0.0.1`), taken from the
    /// connection's `peer` log metadata (a SocketAddress description such as
    /// `[IPv4]127.0.0.1/127.0.0.1:54321`).
    var clientHost: String {
        guard case .string(let peer)? = logger[metadataKey: "peer"] ?? nil else { return "" }
        var text = Substring(peer)
        if let bracket = text.firstIndex(of: "]") { text = text[text.index(after: bracket)...] }
        if let slash = text.firstIndex(of: "/") { text = text[..<slash] } else if let colon = text.lastIndex(of: ":") { text = text[..<colon] }
        return "/" + text
    }

    /// The client id of the request header ("" when null).
    var clientId: String { header.clientId ?? "" }
}
