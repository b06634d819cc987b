import ApusProtocol
import ApusSecurity
import Logging
import NIOCore

/// What a handler knows about the request it answers, who sent it and the broker it runs in.
public struct RequestContext: Sendable {
    public var header: RequestHeader
    public var broker: BrokerContext
    /// The connection's event loop: handlers complete their futures on it.
    public var eventLoop: EventLoop
    public var logger: Logger
    /// The authenticated client (User:ANONYMOUS without authentication).
    public var principal: KafkaPrincipal
    /// The client's IP address.
    public var clientHost: String
    /// The listener the connection came in on: Metadata advertises that listener's address.
    public var listener: Listener
    /// The connection's SASL state, for the SASL handlers; only touched on `eventLoop`.
    let session: NIOLoopBound<ConnectionSession>
    /// What the connection reuses from request to request; only touched on `eventLoop`.
    let scratch: NIOLoopBound<RequestScratch>
    /// Where an answer given as ``PendingResponse/deferred`` goes.
    let responder: DeferredResponder

    public var apiVersion: Int16 { header.requestApiVersion }

    /// Whether the client may do `operation` on the resource (always, without an authorizer).
    public func isAuthorized(_ operation: AclOperation, _ resourceType: AclResourceType, _ name: String) -> Bool {
        broker.security.authorize(principal, host: clientHost, operation, resourceType, name)
    }

    /// The operations the client may do on the resource, among those that apply to its type, as
    /// KIP-430's bit field: bit n set for the operation whose code is n.
    public func authorizedOperations(_ resourceType: AclResourceType, _ name: String) -> Int32 {
        resourceType.supportedOperations.reduce(Int32(0)) { field, operation in
            isAuthorized(operation, resourceType, name) ? field | (1 << Int32(operation.rawValue)) : field
        }
    }

    /// Whether the client may do `operation` on the cluster resource.
    public func isAuthorizedOnCluster(_ operation: AclOperation) -> Bool {
        isAuthorized(operation, .cluster, BrokerSecurity.clusterResourceName)
    }

    /// The address of this connection's listener, as Metadata and FindCoordinator advertise it.
    public var advertisedAddress: (host: String, port: Int) { broker.advertisedAddress(of: listener) }
}

/// One Kafka API: the versions it serves and how it answers a request's body. Produce and
/// Fetch answer this way directly (their answers are encoded into the connection's buffer,
/// Fetch's records sent from the segment files); the others are ``APIHandler``s.
public protocol APIResponder: Sendable {
    associatedtype Request: RequestMessage
    /// The versions advertised in ApiVersions; every one of them is implemented.
    static var versions: ClosedRange<Int16> { get }
    /// Decodes the body and answers: the frame now, or later.
    static func respond(to body: inout ByteBuffer, context: RequestContext) throws -> PendingResponse
}

/// One Kafka API answered by a function from the decoded request to a future response body.
///
/// Handlers are small and one per file under `Handlers/`; they get the decoded request and a
/// ``RequestContext`` and return the response body, or nil for no response.
public protocol APIHandler: APIResponder {
    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<Request.Response?>
}

/// A handler's answer to one request: ready when the request was read, or later.
public enum PendingResponse: Sendable {
    /// Answered at once; nil for no response (Produce with acks=0).
    case ready(ResponseFrame?)
    /// Answered when the future completes; a failure closes the connection.
    case later(EventLoopFuture<ResponseFrame?>)
    /// Answered when the handler calls the context's ``DeferredResponder/complete(_:)``,
    /// exactly once, on the connection's loop and after the handler has returned: a later
    /// answer with no future, promise or callback to allocate.
    case deferred
}

/// The connection's side of a ``PendingResponse/deferred`` answer to one request: the
/// connection, the request's place in its order, and its API and start for the metrics.
struct DeferredResponder: Sendable {
    let connection: NIOLoopBound<KafkaConnectionHandler>
    let sequence: Int
    let apiName: String
    let started: NIODeadline

    /// Hands the request's answer (nil for none; a failure closes the connection) to the
    /// connection. Must be called once, on the connection's event loop.
    func complete(_ result: Result<ResponseFrame?, Error>) {
        connection.value.deferredCompleted(self, result)
    }
}

extension APIResponder {
    static var apiKey: ApiKey { Request.apiKey }

    /// The frame (size, header, body) of `response` to the request `correlationId`.
    static func responseFrame(_ response: Request.Response, correlationId: Int32, version: Int16) -> ResponseFrame {
        ResponseFrame(encodeFrame(correlationId: correlationId, apiKey: apiKey, version: version, allocator: ByteBufferAllocator()) {
            response.write(to: &$0, version: version)
        })
    }
}

extension APIHandler {
    /// Decodes the body, runs the handler and encodes the response frame (size, header, body).
    static func respond(to body: inout ByteBuffer, context: RequestContext) throws -> PendingResponse {
        let version = context.apiVersion
        let request = try Request(from: &body, version: version)
        let correlationId = context.header.correlationId
        return .later(handle(request, context: context).map { response in
            response.map { responseFrame($0, correlationId: correlationId, version: version) }
        })
    }
}

/// Writes a response frame: int32 size, response header, body.
func encodeFrame(
    correlationId: Int32, apiKey: ApiKey, version: Int16, allocator: ByteBufferAllocator,
    body: (inout ByteBuffer) -> Void
) -> ByteBuffer {
    var buffer = allocator.buffer(capacity: 256)
    encodeFrame(into: &buffer, correlationId: correlationId, apiKey: apiKey, version: version, body: body)
    return buffer
}

/// Appends a response frame (int32 size, response header, body) to `buffer`.
func encodeFrame(
    into buffer: inout ByteBuffer, correlationId: Int32, apiKey: ApiKey, version: Int16, body: (inout ByteBuffer) -> Void
) {
    let start = buffer.writerIndex
    buffer.writeInteger(Int32(0))  // size, patched below
    ResponseHeader(correlationId: correlationId)
        .write(to: &buffer, version: ResponseHeader.version(apiKey: apiKey, apiVersion: version))
    body(&buffer)
    buffer.setInteger(Int32(buffer.writerIndex - start - 4), at: start)
}

/// The APIs this broker serves, and the ranges it advertises.
enum APIRegistry {
    static let handlers: [any APIResponder.Type] = [
        ApiVersionsHandler.self, MetadataHandler.self, ProduceHandler.self, FetchHandler.self,
        ListOffsetsHandler.self, CreateTopicsHandler.self, DeleteTopicsHandler.self,
        CreatePartitionsHandler.self, DeleteRecordsHandler.self, DescribeConfigsHandler.self,
        FindCoordinatorHandler.self, InitProducerIdHandler.self,
        JoinGroupHandler.self, SyncGroupHandler.self, HeartbeatHandler.self, LeaveGroupHandler.self,
        OffsetCommitHandler.self, OffsetFetchHandler.self, DescribeGroupsHandler.self, ListGroupsHandler.self,
        DeleteGroupsHandler.self,
        SaslHandshakeHandler.self, SaslAuthenticateHandler.self, CreateAclsHandler.self, DescribeAclsHandler.self,
        DeleteAclsHandler.self, DescribeUserScramCredentialsHandler.self, AlterUserScramCredentialsHandler.self,
    ]

    static let byKey: [ApiKey: any APIResponder.Type] = Dictionary(uniqueKeysWithValues: handlers.map { ($0.apiKey, $0) })
}
