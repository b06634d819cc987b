import ApusProtocol
import ApusSecurity
import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// Answers the requests of one connection. Requests are decoded and started as they arrive,
/// so several can be in progress (pipelining), but responses are written strictly in request
/// order, as clients require. A request that cannot be decoded, or names an API or version
/// the broker does not serve (except ApiVersions, answered per KIP-511), closes the connection.
///
/// On SASL listeners only ApiVersions, SaslHandshake and SaslAuthenticate are served until the
/// client has authenticated; anything else closes the connection, as Kafka does. A failed
/// login is answered, then the connection closes.
final class KafkaConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = RequestFrame
    typealias OutboundOut = IOData

    /// Stop reading when this many responses are pending, resume when they drain.
    static let maximumInFlight = 128

    private let broker: BrokerContext
    private let listener: Listener
    private var session: ConnectionSession?
    private var logger: Logger
    private var nextSequence = 0
    private var nextToWrite = 0
    private var completed: [Int: ResponseFrame?] = [:]
    private var readingPaused = false
    /// Requests read but not started, because too many are in progress.
    private var waitingFrames = CircularBuffer<RequestFrame>()
    private var closing = false
    private var draining = false
    /// Whether ``writeReady(context:)`` is running, and whether it must make another pass.
    private var writingReady = false
    private var writeAgain = false
    /// What requests reuse from one to the next.
    private let scratch = RequestScratch()
    /// The pipeline context, for answers that come back as ``PendingResponse/deferred``.
    private var channelContext: ChannelHandlerContext?
    /// The descriptors Fetch answers send segment file ranges from, kept between answers.
    private let sendfileHandles = SendfileHandles()

    init(broker: BrokerContext, listener: Listener, logger: Logger) {
        self.broker = broker
        self.listener = listener
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        session = ConnectionSession(listener: listener, clientHost: context.channel.remoteAddress?.ipAddress ?? "")
        channelContext = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        channelContext = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        logger[metadataKey: "peer"] = "\(context.remoteAddress.map { "\($0)" } ?? "?")"
        logger[metadataKey: "listener"] = "\(listener.name)"
        broker.metrics.connectionOpened()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        broker.metrics.connectionClosed()
        sendfileHandles.closeAll()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing, !draining else { return }
        let frame = unwrapInboundIn(data)
        // Frames already read off the socket wait here while the connection is at its limit.
        if nextSequence - nextToWrite >= Self.maximumInFlight || !waitingFrames.isEmpty {
            waitingFrames.append(frame)
            updateReading(context: context)
            return
        }
        start(frame, context: context)
    }

    /// Decodes and starts one request; its response is written when its turn comes.
    private func start(_ frame: RequestFrame, context: ChannelHandlerContext) {
        let sequence = nextSequence
        nextSequence += 1
        let started = NIODeadline.now()
        let pending: PendingResponse
        let apiName: String
        do {
            (pending, apiName) = try dispatch(frame, sequence: sequence, started: started, eventLoop: context.eventLoop)
        } catch {
            logger.warning("closing connection: bad request", metadata: ["error": "\(error)"])
            closing = true
            context.close(promise: nil)
            return
        }
        switch pending {
        case .ready(let response):
            finish(sequence, .success(response), api: apiName, started: started, context: context)
        case .later(let future):
            let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
            future.hop(to: context.eventLoop).whenComplete { result in
                let (handler, context) = bound.value
                handler.finish(sequence, result, api: apiName, started: started, context: context)
            }
        case .deferred:
            break  // the handler calls deferredCompleted(_:_:)
        }
        updateReading(context: context)
    }

    /// The task that drops a written Fetch answer's parts, made once (a closure that captures
    /// one value needs no allocation of its own, but this one captures a loop-bound pair).
    private var releaseParts: (@Sendable () -> Void)?

    private func releaseWrittenParts(on loop: EventLoop) -> @Sendable () -> Void {
        if let releaseParts { return releaseParts }
        let scratch = NIOLoopBound(self.scratch, eventLoop: loop)
        let made: @Sendable () -> Void = { scratch.value.releaseWrittenParts() }
        releaseParts = made
        return made
    }

    /// The answer to the request `responder` stands for, given as ``PendingResponse/deferred``.
    func deferredCompleted(_ responder: DeferredResponder, _ result: Result<ResponseFrame?, Error>) {
        guard let context = channelContext else { return }  // the connection is gone
        finish(responder.sequence, result, api: responder.apiName, started: responder.started, context: context)
    }

    /// Records request `sequence`'s answer for its turn to be written, or closes the
    /// connection when the handler failed; either way the request counts as done.
    private func finish(
        _ sequence: Int, _ result: Result<ResponseFrame?, Error>, api apiName: String, started: NIODeadline,
        context: ChannelHandlerContext
    ) {
        broker.metrics.requestCompleted(api: apiName, seconds: Double((NIODeadline.now() - started).nanoseconds) / 1e9)
        switch result {
        case .success(let response):
            completed[sequence] = response
            writeReady(context: context)
        case .failure(let error):
            logger.error("request failed; closing connection", metadata: ["api": "\(apiName)", "error": "\(error)"])
            closing = true
            context.close(promise: nil)
        }
    }

    /// Backpressure: stop reading requests while too many are in progress or while the socket
    /// cannot take more (a client that does not read its responses), resume when both ease.
    /// A slow consumer so costs only its own connection, never the broker's memory.
    private func updateReading(context: ChannelHandlerContext) {
        guard !draining else { return }
        let inFlight = nextSequence - nextToWrite + waitingFrames.count
        let writable = context.channel.isWritable
        if !readingPaused && (inFlight >= Self.maximumInFlight || !writable) {
            readingPaused = true
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        } else if readingPaused && inFlight < Self.maximumInFlight / 2 && writable {
            readingPaused = false
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { writeReady(context: context) } else { updateReading(context: context) }
        context.fireChannelWritabilityChanged()
    }

    /// Writes the completed responses that are next in order, while the socket takes them: a
    /// client that does not read keeps its answers here (holding no descriptors), not in the
    /// channel's buffer.
    private func writeReady(context: ChannelHandlerContext) {
        // Starting a waiting request can answer it at once, which asks for another pass
        // rather than a nested one.
        guard !writingReady else {
            writeAgain = true
            return
        }
        writingReady = true
        defer { writingReady = false }
        repeat {
            writeAgain = false
            var wrote = false
            while context.channel.isWritable || closing, let response = completed.removeValue(forKey: nextToWrite) {
                nextToWrite += 1
                if let response, !closing {
                    response.write(to: context, copyFiles: listener.securityProtocol.usesTLS, handles: sendfileHandles, wrap: wrapOutboundOut)
                    wrote = true
                }
            }
            if wrote {
                context.flush()
                scratch.responseWritten { context.eventLoop.execute(releaseWrittenParts(on: context.eventLoop)) }
            }
            // A failed login: its answer is out, now the connection goes.
            if session?.hasFailed == true && nextToWrite == nextSequence && !closing {
                closing = true
                context.close(promise: nil)
                return
            }
            while !waitingFrames.isEmpty && nextSequence - nextToWrite < Self.maximumInFlight && !closing && !draining {
                start(waitingFrames.removeFirst(), context: context)
            }
        } while writeAgain
        closeIfDrained(context: context)
        updateReading(context: context)
    }

    /// Decodes the header and starts the handler. Throws for what must close the connection.
    ///
    /// A Produce request that arrived in several buffers is taken apart
    /// (``ScatteredProduceRequest``) so that its records are appended from those buffers;
    /// any other scattered frame is gathered into one buffer.
    private func dispatch(
        _ request: RequestFrame, sequence: Int, started: NIODeadline, eventLoop: EventLoop
    ) throws -> (PendingResponse, String) {
        guard let session, !session.hasFailed else { throw SaslStateError("request after a failed authentication") }
        var frame: ByteBuffer
        switch request {
        case .whole(let buffer):
            frame = buffer
        case .scattered(let parts):
            if !session.expectsRawToken, let skeleton = scratch.beginScatteredProduce(parts) {
                frame = skeleton
            } else {
                frame = request.gathered
            }
        }
        defer { scratch.endScatteredProduce() }
        if session.expectsRawToken {
            return (.ready(rawTokenResponse(frame, session: session)), "SaslAuthenticate")
        }
        guard let rawKey = frame.getInteger(at: frame.readerIndex, as: Int16.self),
            let rawVersion = frame.getInteger(at: frame.readerIndex + 2, as: Int16.self)
        else { throw ProtocolDecodingError.truncated(needed: 4, available: frame.readableBytes) }
        guard let apiKey = ApiKey(rawValue: rawKey) else { throw UnsupportedRequest(apiKey: rawKey, version: rawVersion) }
        let header = try RequestHeader(from: &frame, version: RequestHeader.version(apiKey: apiKey, apiVersion: rawVersion))
        logger.trace("request", metadata: ["api": "\(apiKey.name)", "version": "\(rawVersion)", "correlation": "\(header.correlationId)"])
        guard let handler = APIRegistry.byKey[apiKey] else { throw UnsupportedRequest(apiKey: rawKey, version: rawVersion) }
        guard handler.versions.contains(rawVersion) else {
            if apiKey == .apiVersions {
                return (.ready(ResponseFrame(ApiVersionsHandler.unsupportedVersionResponse(header))), apiKey.name)
            }
            throw UnsupportedRequest(apiKey: rawKey, version: rawVersion)
        }
        if !session.isAuthenticated && apiKey != .apiVersions && apiKey != .saslHandshake && apiKey != .saslAuthenticate {
            throw SaslStateError("unexpected \(apiKey.name) request before SASL authentication")
        }
        let context = RequestContext(
            header: header, broker: broker, eventLoop: eventLoop, logger: logger, principal: session.principal,
            clientHost: session.clientHost, listener: listener, session: NIOLoopBound(session, eventLoop: eventLoop),
            scratch: NIOLoopBound(scratch, eventLoop: eventLoop),
            responder: DeferredResponder(
                connection: NIOLoopBound(self, eventLoop: eventLoop), sequence: sequence, apiName: apiKey.name, started: started))
        return (try handler.respond(to: &frame, context: context), apiKey.name)
    }

    /// After a SaslHandshake v0 (kafka-python 2.0.2 and other old clients), the SASL exchange
    /// runs in bare size-prefixed tokens; a failure closes the connection without a reply.
    private func rawTokenResponse(_ frame: ByteBuffer, session: ConnectionSession) -> ResponseFrame? {
        let token = frame.getBytes(at: frame.readerIndex, length: frame.readableBytes) ?? []
        guard case .success(let reply) = SaslAuthenticator.step(token, session: session, security: broker.security, logger: logger) else {
            return nil
        }
        var buffer = ByteBufferAllocator().buffer(capacity: reply.count + 4)
        buffer.writeInteger(Int32(reply.count))
        buffer.writeBytes(reply)
        return ResponseFrame(buffer)
    }

    /// On broker shutdown: read no more requests, answer those in progress, then close. On TLS
    /// handshake completion: the client certificate names the principal (SSL listeners).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event, let session {
            let certificate = try? context.pipeline.syncOperations.nioSSL_peerCertificate()
            if !session.adoptCertificate(certificate, rules: broker.security.config(for: listener).principalMappingRules) {
                logger.warning("closing connection: no ssl.principal.mapping.rules entry matches the client certificate")
                closing = true
                context.close(promise: nil)
                return
            }
            return context.fireUserInboundEventTriggered(event)
        }
        guard event is BrokerShutdownEvent else { return context.fireUserInboundEventTriggered(event) }
        draining = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        closeIfDrained(context: context)
    }

    private func closeIfDrained(context: ChannelHandlerContext) {
        if draining && nextToWrite == nextSequence && !closing {
            closing = true
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.warning("closing connection", metadata: ["error": "\(error)"])
        closing = true
        context.close(promise: nil)
    }
}

/// A request for an API or version this broker does not serve.
struct UnsupportedRequest: Error, CustomStringConvertible {
    var apiKey: Int16
    var version: Int16
    var description: String {
        let name = ApiKey(rawValue: apiKey)?.name ?? "unknown API"
        return "\(name) (key \(apiKey)) version \(version) is not supported"
    }
}

/// A request that the connection's SASL state does not allow; the connection closes.
struct SaslStateError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Sent down every connection when the broker shuts down.
struct BrokerShutdownEvent: Sendable {}
