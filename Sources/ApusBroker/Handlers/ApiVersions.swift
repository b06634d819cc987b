import ApusProtocol
import ApusSecurity
import NIOCore

/// ApiVersions (key 18): the APIs and version ranges this broker serves.
enum ApiVersionsHandler: APIHandler {
    typealias Request = ApiVersionsRequest
    static let versions: ClosedRange<Int16> = 0...3

    static var advertised: [ApiVersionsResponse.ApiVersion] {
        APIRegistry.handlers.map { handler in
            ApiVersionsResponse.ApiVersion(
                apiKey: handler.apiKey.rawValue, minVersion: handler.versions.lowerBound, maxVersion: handler.versions.upperBound)
        }.sorted { $0.apiKey < $1.apiKey }
    }

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<ApiVersionsResponse?> {
        var response = ApiVersionsResponse(errorCode: KafkaErrorCode.noError.rawValue, apiKeys: advertised)
        if context.apiVersion >= 3 && !(isValidSoftwareField(request.clientSoftwareName) && isValidSoftwareField(request.clientSoftwareVersion)) {
            response = ApiVersionsResponse(errorCode: KafkaErrorCode.invalidRequest.rawValue, apiKeys: advertised)
        }
        return context.eventLoop.makeSucceededFuture(response)
    }

    /// KIP-511's pattern for client software names and versions: [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?
    static func isValidSoftwareField(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        func alphanumeric(_ b: UInt8) -> Bool { (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b) }
        guard let first = bytes.first, let last = bytes.last, alphanumeric(first), alphanumeric(last) else { return false }
        return bytes.allSatisfy { alphanumeric($0) || $0 == 45 || $0 == 46 }
    }

    /// The answer to an ApiVersions request of a version we do not serve: the v0 layout with
    /// UNSUPPORTED_VERSION and our ApiVersions range, so the client retries with one we do.
    static func unsupportedVersionResponse(_ header: RequestHeader) -> ByteBuffer {
        encodeFrame(correlationId: header.correlationId, apiKey: .apiVersions, version: 0, allocator: ByteBufferAllocator()) {
            ApiVersionsResponse(
                errorCode: KafkaErrorCode.unsupportedVersion.rawValue,
                apiKeys: [.init(apiKey: ApiKey.apiVersions.rawValue, minVersion: versions.lowerBound, maxVersion: versions.upperBound)]
            ).write(to: &$0, version: 0)
        }
    }
}
