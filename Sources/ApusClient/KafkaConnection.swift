import ApusProtocol
import ApusSecurity
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a client call failed.
public enum KafkaClientError: Error, CustomStringConvertible, Equatable {
    /// The broker does not serve a version of this API that the client speaks.
    case unsupportedAPI(ApiKey)
    /// The connection closed before the response arrived.
    case connectionClosed
    /// A response did not match its request (a broker bug or a corrupted stream).
    case protocolViolation(String)
    /// The broker answered with an error code.
    case broker(KafkaErrorCode, String?)
    /// An address could not be parsed.
    case invalidAddress(String)
    /// No connection could be made to the address (refused, unreachable, timed out).
    case connectionFailed(String, String)
    /// None of the bootstrap addresses answered.
    case noBrokerReachable([String])
    /// The topic does not exist (and was not created automatically).
    case unknownTopic(String)
    /// The partition does not exist in the topic.
    case unknownPartition(String, Int32)
    /// The producer or consumer was closed.
    case closed
    /// The operation did not finish in time.
    case timedOut(String)
    /// SASL authentication failed: wrong credentials, a mechanism the broker does not enable,
    /// or a broker that does not speak SASL. Fatal: the client does not reconnect to try again.
    case authenticationFailed(String)
    /// The client's TLS settings cannot be used (a certificate or key that does not load).
    case invalidTLSConfiguration(String)

    public var description: String {
        switch self {
        case .unsupportedAPI(let key): "the broker does not support a version of \(key.name) this client speaks"
        case .connectionClosed: "the connection to the broker closed"
        case .protocolViolation(let what): "protocol violation: \(what)"
        case .broker(let code, let message): "broker error \(code.name) (\(code.rawValue))" + (message.map { ": \($0)" } ?? "")
        case .invalidAddress(let address): "invalid broker address '\(address)': expected HOST:PORT"
        case .connectionFailed(let address, let why): "cannot connect to \(address): \(why)"
        case .noBrokerReachable(let addresses): "no broker reachable at \(addresses.joined(separator: ", "))"
        case .unknownTopic(let topic): "unknown topic '\(topic)'"
        case .unknownPartition(let topic, let partition): "topic '\(topic)' has no partition \(partition)"
        case .closed: "the client is closed"
        case .timedOut(let what): "timed out: \(what)"
        case .authenticationFailed(let why): "authentication failed: \(why)"
        case .invalidTLSConfiguration(let why): "unusable TLS settings: \(why)"
        }
    }
}

/// One TCP connection to a Kafka broker: requests are pipelined, responses matched to them in
/// order by correlation id. At connect it asks ApiVersions and then uses, for each API, the
/// highest version both sides speak.
public final class KafkaConnection: Sendable {
    private let channel: Channel
    private let handler: NIOLoopBound<KafkaClientHandler>
    private let apiVersions: [Int16: ClosedRange<Int16>]
    public let clientId: String

    /// The address this connection was made to (`HOST:PORT`).
    public let address: String

    /// Whether the connection is still open.
    public var isActive: Bool { channel.isActive }

    /// Splits `HOST:PORT`.
    static func parse(_ address: String) throws -> (host: String, port: Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (0...65535).contains(port), colon != address.startIndex
        else {
            throw KafkaClientError.invalidAddress(address)
        }
        return (String(address[..<colon]), port)
    }

    /// Connects to `address` (`HOST:PORT`), negotiates API versions and, as `security` says,
    /// wraps the connection in TLS and authenticates with SASL. Everything up to the end of
    /// authentication must finish within `connectTimeout`.
    ///
    /// Throws ``KafkaClientError/connectionFailed(_:_:)`` when the broker cannot be reached or
    /// the TLS handshake fails ("TLS handshake failed: certificate verify failed"), and
    /// ``KafkaClientError/authenticationFailed(_:)`` when SASL authentication fails.
    public static func connect(
        to address: String, clientId: String = "apus", connectTimeout: Duration = .seconds(10),
        security: ClientSecurity = .plaintext,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> KafkaConnection {
        let (host, port) = try parse(address)
        let timeoutMs = max(1, Int64(connectTimeout.components.seconds * 1000 + connectTimeout.components.attoseconds / 1_000_000_000_000_000))
        let started = ContinuousClock.now
        let tlsContext = security.securityProtocol.usesTLS ? try ClientTLS.context(for: security.tls) : nil
        let serverHostname = ClientTLS.serverHostname(for: host)
        let eventLoop = group.next()
        let handler = try await eventLoop.submit {
            NIOLoopBound(KafkaClientHandler(clientId: clientId, address: address), eventLoop: eventLoop)
        }.get()
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
            .connectTimeout(.milliseconds(timeoutMs))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ResponseFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(handler.value)
                }
            }
            .connect(host: host, port: port).get()
        } catch {
            throw KafkaClientError.connectionFailed(address, Self.describe(error))
        }
        // The TLS handshake, ApiVersions and SASL share what is left of the connect timeout.
        let remaining = max(.milliseconds(1), .milliseconds(timeoutMs) - (ContinuousClock.now - started))
        let timer = SetupTimer()
        let deadline = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(remaining / .nanoseconds(1)))) {
            timer.fire()
            channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        do {
            let versions = try await Self.send(ApiVersionsRequest(), version: 0, channel: channel, handler: handler)
            guard versions.errorCode == 0 else { throw KafkaClientError.broker(KafkaErrorCode(rawValue: versions.errorCode) ?? .unknownServerError, nil) }
            var ranges: [Int16: ClosedRange<Int16>] = [:]
            for entry in versions.apiKeys where entry.minVersion <= entry.maxVersion { ranges[entry.apiKey] = entry.minVersion...entry.maxVersion }
            let connection = KafkaConnection(channel: channel, handler: handler, apiVersions: ranges, clientId: clientId, address: address)
            if security.securityProtocol.usesSASL {
                guard let credentials = security.sasl else {
                    throw KafkaClientError.authenticationFailed("security.protocol \(security.securityProtocol.rawValue) needs SASL credentials")
                }
                try await connection.authenticate(credentials)
            }
            try await channel.eventLoop.submit { handler.value.established = true }.get()
            return connection
        } catch {
            try? await channel.close()
            if timer.fired {
                let steps = [security.securityProtocol.usesTLS ? "TLS handshake" : nil, "ApiVersions", security.securityProtocol.usesSASL ? "SASL authentication" : nil]
                throw KafkaClientError.connectionFailed(address, "timed out during \(steps.compactMap { $0 }.joined(separator: ", "))")
            }
            if case KafkaClientError.connectionClosed = error {
                throw KafkaClientError.connectionFailed(
                    address, "the broker closed the connection while it was being set up (does security.protocol \(security.securityProtocol.rawValue) match the broker's listener?)")
            }
            throw error
        }
    }

    /// A short, human reading of a connect error (NIO's descriptions are long).
    static func describe(_ error: Error) -> String {
        if let connectError = error as? NIOConnectionError {
            if let first = connectError.connectionErrors.first { return describe(first.error) }
            return connectError.dnsAAAAError.map(describe) ?? connectError.dnsAError.map(describe) ?? "\(error)"
        }
        if let io = error as? IOError {
            switch io.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case ETIMEDOUT: return "timed out"
            case EHOSTUNREACH, ENETUNREACH: return "host unreachable"
            default: return io.description
            }
        }
        if case ChannelError.connectTimeout = error { return "timed out" }
        return "\(error)"
    }

    private init(channel: Channel, handler: NIOLoopBound<KafkaClientHandler>, apiVersions: [Int16: ClosedRange<Int16>], clientId: String, address: String) {
        self.address = address
        self.channel = channel
        self.handler = handler
        self.apiVersions = apiVersions
        self.clientId = clientId
    }

    /// The highest version of `Request` that both this client's codecs and the broker serve,
    /// capped at `maximum`.
    public func version<Request: RequestMessage>(for _: Request.Type, maximum: Int16 = .max) throws -> Int16 {
        guard let broker = apiVersions[Request.apiKey.rawValue] else { throw KafkaClientError.unsupportedAPI(Request.apiKey) }
        let high = min(broker.upperBound, Request.validVersions.upperBound, maximum)
        let low = max(broker.lowerBound, Request.validVersions.lowerBound)
        guard low <= high else { throw KafkaClientError.unsupportedAPI(Request.apiKey) }
        return high
    }

    /// Sends `request` at the negotiated version (at most `maximumVersion`) and awaits its response.
    public func send<Request: RequestMessage>(_ request: Request, maximumVersion: Int16 = .max) async throws -> Request.Response {
        try await Self.send(request, version: try version(for: Request.self, maximum: maximumVersion), channel: channel, handler: handler)
    }

    private static func send<Request: RequestMessage>(
        _ request: Request, version: Int16, channel: Channel, handler: NIOLoopBound<KafkaClientHandler>
    ) async throws -> Request.Response {
        var body = try await channel.eventLoop.flatSubmit {
            handler.value.send(request, version: version, context: channel)
        }.get()
        let response = try Request.Response(from: &body, version: version)
        return response
    }

    /// Closes the connection.
    public func close() async {
        try? await channel.close()
    }
}

/// Whether the connect timeout ran out while a connection was being set up.
private final class SetupTimer: Sendable {
    private let state = Mutex(false)
    var fired: Bool { state.withLock { $0 } }
    func fire() { state.withLock { $0 = true } }
}

/// Splits the response stream into frames (int32 size + bytes).
struct ResponseFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    static let maximumFrameSize = 512 << 20

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return .needMoreData }
        guard size >= 0, Int(size) <= Self.maximumFrameSize else {
            throw KafkaClientError.protocolViolation("response frame of \(size) bytes")
        }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(size))!))
        return .continue
    }
}

/// Writes requests and completes their promises in order as responses arrive.
final class KafkaClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let clientId: String
    private let address: String
    private var nextCorrelationId: Int32 = 0
    /// A TLS failure seen before the connection closed: pending requests fail with it.
    private var tlsFailure: String?
    /// Set once TLS, ApiVersions and SASL are done: later TLS errors no longer read as a failed handshake.
    var established = false
    private var pending: [(correlationId: Int32, headerVersion: Int16, promise: EventLoopPromise<ByteBuffer>)] = []
    private var context: ChannelHandlerContext?

    init(clientId: String, address: String) {
        self.clientId = clientId
        self.address = address
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func send<Request: RequestMessage>(_ request: Request, version: Int16, context channel: Channel) -> EventLoopFuture<ByteBuffer> {
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        guard let context, channel.isActive else {
            promise.fail(closedError)
            return promise.futureResult
        }
        nextCorrelationId &+= 1
        var buffer = context.channel.allocator.buffer(capacity: 256)
        buffer.writeInteger(Int32(0))
        RequestHeader(requestApiKey: Request.apiKey.rawValue, requestApiVersion: version, correlationId: nextCorrelationId, clientId: clientId)
            .write(to: &buffer, version: RequestHeader.version(apiKey: Request.apiKey, apiVersion: version))
        request.write(to: &buffer, version: version)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
        pending.append((nextCorrelationId, ResponseHeader.version(apiKey: Request.apiKey, apiVersion: version), promise))
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        guard !pending.isEmpty else {
            context.fireErrorCaught(KafkaClientError.protocolViolation("a response without a request"))
            return
        }
        let (correlationId, headerVersion, promise) = pending.removeFirst()
        do {
            let header = try ResponseHeader(from: &frame, version: headerVersion)
            guard header.correlationId == correlationId else {
                throw KafkaClientError.protocolViolation("correlation id \(header.correlationId), expected \(correlationId)")
            }
            promise.succeed(frame)
        } catch {
            promise.fail(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let waiting = pending
        pending.removeAll()
        for entry in waiting { entry.promise.fail(closedError) }
        context.fireChannelInactive()
    }

    /// Why requests on a closed connection fail: a TLS failure if there was one.
    private var closedError: KafkaClientError {
        guard let tlsFailure else { return .connectionClosed }
        return .connectionFailed(address, established ? "TLS error: \(tlsFailure)" : "TLS handshake failed: \(tlsFailure)")
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if tlsFailure == nil { tlsFailure = ClientTLS.reason(error) }
        context.close(promise: nil)
    }
}
