import ApusSecurity

/// One entry of `listeners`: `NAME://HOST:PORT`, where NAME is a security protocol or a name
/// mapped to one by `listener.security.protocol.map`.
public struct Listener: Sendable, Equatable {
    public var name: String
    public var securityProtocol: SecurityProtocol
    public var host: String
    public var port: Int

    public init(name: String, securityProtocol: SecurityProtocol, host: String, port: Int) {
        self.name = name
        self.securityProtocol = securityProtocol
        self.host = host
        self.port = port
    }

    /// Whether only this machine can connect.
    public var isLoopback: Bool { host == "127.0.0.1" || host == "localhost" || host == "::1" }

    /// Parses a `listeners` / `advertised.listeners` value. A bare `HOST:PORT` is a PLAINTEXT
    /// listener. Names not in `protocolMap` must be security protocol names.
    static func parseList(
        _ value: String, key: String, protocolMap: [String: SecurityProtocol]
    ) throws(ConfigError) -> [Listener] {
        var listeners: [Listener] = []
        for entry in value.split(separator: ",").map({ String($0).trimmed }) where !entry.isEmpty {
            var name = SecurityProtocol.plaintext.rawValue
            var address = entry
            if let scheme = entry.range(of: "://") {
                name = String(entry[..<scheme.lowerBound]).uppercased()
                address = String(entry[scheme.upperBound...])
            }
            guard let securityProtocol = protocolMap[name] ?? SecurityProtocol(rawValue: name) else {
                throw ConfigError(
                    "\(key)=\(value): unknown listener name \(name); use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, or map it in listener.security.protocol.map")
            }
            let (host, port) = try BrokerConfig.parseHostPort(address, key: key)
            guard !listeners.contains(where: { $0.name == name }) else {
                throw ConfigError("\(key)=\(value): listener name \(name) appears twice")
            }
            listeners.append(Listener(name: name, securityProtocol: securityProtocol, host: host, port: port))
        }
        guard !listeners.isEmpty else { throw ConfigError("\(key) is empty") }
        return listeners
    }

    /// Parses `listener.security.protocol.map`: `NAME:PROTOCOL,NAME:PROTOCOL`.
    static func parseProtocolMap(_ value: String) throws(ConfigError) -> [String: SecurityProtocol] {
        var map: [String: SecurityProtocol] = [:]
        for entry in value.split(separator: ",").map({ String($0).trimmed }) where !entry.isEmpty {
            let parts = entry.split(separator: ":", maxSplits: 1).map { String($0).trimmed.uppercased() }
            guard parts.count == 2, let securityProtocol = SecurityProtocol(rawValue: parts[1]) else {
                throw ConfigError("listener.security.protocol.map=\(value): expected NAME:PROTOCOL entries, got \(entry)")
            }
            map[parts[0]] = securityProtocol
        }
        return map
    }
}
