import NIOCore

extension RequestContext {
    /// The client's address as Kafka shows it in DescribeGroups (`/127.0.0.1`).
    var memberClientHost: String { "/" + clientHost }

    /// The client id of the request header ("" when null).
    var clientId: String { header.clientId ?? "" }
}
