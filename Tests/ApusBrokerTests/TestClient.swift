import ApusProtocol
import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A deliberately simple blocking Kafka client for tests: it frames requests with the
/// generated codecs and reads responses off a plain socket, so tests see exactly the bytes.
final class TestClient {
    let socketDescriptor: Int32
    private var correlationId: Int32 = 0

    init(port: Int) throws {
        socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socketDescriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw TestClientError.connectFailed(errno) }
    }

    deinit { close(socketDescriptor) }

    func sendRaw(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(socketDescriptor, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestClientError.closed }
            sent += n
        }
    }

    func receiveExactly(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var received = 0
        while received < count {
            let n = bytes.withUnsafeMutableBytes { recv(socketDescriptor, $0.baseAddress! + received, count - received, 0) }
            guard n > 0 else { throw TestClientError.closed }
            received += n
        }
        return bytes
    }

    /// Whether the broker closed the connection: EOF or a reset within the receive timeout
    /// (a timeout, the connection still open, is not a close).
    func isClosedByPeer() -> Bool {
        var byte: UInt8 = 0
        let n = recv(socketDescriptor, &byte, 1, 0)
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    /// Encodes a request frame with a header of the right version.
    func frame<Request: RequestMessage>(_ request: Request, version: Int16, clientId: String? = "apus-tests") -> (bytes: [UInt8], correlationId: Int32) {
        correlationId += 1
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(0))
        RequestHeader(requestApiKey: Request.apiKey.rawValue, requestApiVersion: version, correlationId: correlationId, clientId: clientId)
            .write(to: &buffer, version: RequestHeader.version(apiKey: Request.apiKey, apiVersion: version))
        request.write(to: &buffer, version: version)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: 0)
        return (Array(buffer.readableBytesView), correlationId)
    }

    /// Reads one response frame: its correlation id and body.
    func readResponse(apiKey: ApiKey, version: Int16) throws -> (correlationId: Int32, body: ByteBuffer) {
        let size = try receiveExactly(4).withUnsafeBytes { Int32(bigEndian: $0.loadUnaligned(as: Int32.self)) }
        var buffer = ByteBuffer(bytes: try receiveExactly(Int(size)))
        let header = try ResponseHeader(from: &buffer, version: ResponseHeader.version(apiKey: apiKey, apiVersion: version))
        return (header.correlationId, buffer)
    }

    /// Sends a request and decodes its response, checking the correlation id.
    func call<Request: RequestMessage>(_ request: Request, version: Int16) throws -> Request.Response {
        let (bytes, id) = frame(request, version: version)
        try sendRaw(bytes)
        var (correlation, body) = try readResponse(apiKey: Request.apiKey, version: version)
        guard correlation == id else { throw TestClientError.correlationMismatch(expected: id, got: correlation) }
        let response = try Request.Response(from: &body, version: version)
        guard body.readableBytes == 0 else { throw TestClientError.trailingBytes(body.readableBytes) }
        return response
    }
}

enum TestClientError: Error {
    case connectFailed(Int32)
    case closed
    case correlationMismatch(expected: Int32, got: Int32)
    case trailingBytes(Int)
}
