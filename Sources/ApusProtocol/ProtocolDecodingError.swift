/// Why bytes from the wire could not be decoded as a Kafka protocol message.
///
/// Decoders throw this instead of trusting a length or count: a value that points past the
/// end of the buffer is reported here and never allocated.
public enum ProtocolDecodingError: Error, Sendable, Equatable {
    /// The buffer ended while `needed` more bytes were required; `available` were left.
    case truncated(needed: Int, available: Int)
    /// A length prefix was negative (other than the null marker) or too large for its type.
    case invalidLength(Int)
    /// An array count was negative (other than the null marker).
    case negativeCount(Int)
    /// A length or count claims more bytes than remain in the buffer.
    case exceedsRemainingBytes(claimed: Int, remaining: Int)
    /// A null marker in a field that is not nullable in the version being decoded.
    case unexpectedNull
    /// A string was not valid UTF-8.
    case invalidUTF8
    /// An unsigned varint was longer than 5 bytes or did not fit in 32 bits.
    case malformedVarint
    /// The message does not define the requested version.
    case unsupportedVersion(Int16)

    /// The Kafka error code a broker answers with when a request fails to decode.
    public var kafkaErrorCode: KafkaErrorCode {
        switch self {
        case .unsupportedVersion: .unsupportedVersion
        default: .invalidRequest
        }
    }
}

extension ProtocolDecodingError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .truncated(let needed, let available):
            "truncated message: needed \(needed) more bytes, \(available) left"
        case .invalidLength(let length):
            "invalid length prefix \(length)"
        case .negativeCount(let count):
            "invalid negative array count \(count)"
        case .exceedsRemainingBytes(let claimed, let remaining):
            "length or count \(claimed) exceeds the \(remaining) bytes left in the message"
        case .unexpectedNull:
            "null in a field that is not nullable in this version"
        case .invalidUTF8:
            "string is not valid UTF-8"
        case .malformedVarint:
            "unsigned varint is longer than 5 bytes or exceeds 32 bits"
        case .unsupportedVersion(let version):
            "version \(version) is not defined for this message"
        }
    }
}
