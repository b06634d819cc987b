import NIOCore

/// A generated Kafka message: a request or response body, a header, or a data record.
///
/// One value represents every version; the version is given when encoding and decoding.
/// Fields the version lacks are skipped when writing and left at their defaults when reading.
public protocol ProtocolMessage: Sendable, Equatable {
    /// The versions the schema defines.
    static var validVersions: ClosedRange<Int16> { get }
    /// The versions that use compact encodings and tagged fields; nil if none do.
    static var flexibleVersions: PartialRangeFrom<Int16>? { get }

    /// Decodes a value of the given version. Throws ``ProtocolDecodingError`` on malformed input
    /// or a version outside ``validVersions``.
    init(from buffer: inout ByteBuffer, version: Int16) throws

    /// Decodes a value of the given version over this one, with the same result as
    /// ``init(from:version:)`` but keeping the storage of arrays (and of unchanged strings), so a
    /// value reused for request after request allocates nothing once it has held the largest.
    mutating func decode(from buffer: inout ByteBuffer, version: Int16) throws

    /// Encodes this value in the given version, which must be one of ``validVersions``.
    func write(to buffer: inout ByteBuffer, version: Int16)
}

/// The body of a Kafka request.
public protocol RequestMessage: ProtocolMessage {
    /// The body of the matching response.
    associatedtype Response: ResponseMessage
    /// The API this request belongs to.
    static var apiKey: ApiKey { get }
}

/// The body of a Kafka response.
public protocol ResponseMessage: ProtocolMessage {
    /// The API this response belongs to.
    static var apiKey: ApiKey { get }
}

extension ProtocolMessage {
    /// Whether `version` uses compact encodings and tagged fields.
    public static func isFlexible(version: Int16) -> Bool {
        flexibleVersions?.contains(version) ?? false
    }
}
