/// Why a record batch could not be read, written or accepted.
///
/// Each case maps to the Kafka error code a broker answers with (`kafkaErrorCode`).
public enum RecordError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes end before the structure they declare (a torn or cut batch).
    case truncated(needed: Int, available: Int)
    /// A length field is negative, too small for the header, or otherwise impossible.
    case invalidLength(String)
    /// The magic byte is not 2; older message formats are not stored.
    case unsupportedMagic(Int8)
    /// The CRC-32C over attributes..end does not match the header's.
    case checksumMismatch(expected: UInt32, computed: UInt32)
    /// The batch uses a codec this build cannot decompress (snappy, zstd) or an unknown id.
    case unsupportedCompression(CompressionCodec.RawValue)
    /// The compressed region is not a valid stream of its codec.
    case decompressionFailed(String)
    /// Compression failed inside the system library.
    case compressionFailed(String)
    /// The records inside a valid batch contradict the header or each other.
    case invalidRecord(String)

    /// The Kafka protocol error code for this failure.
    public var kafkaErrorCode: Int16 {
        switch self {
        case .truncated, .invalidLength, .checksumMismatch: return 2  // CORRUPT_MESSAGE
        case .unsupportedMagic: return 43  // UNSUPPORTED_FOR_MESSAGE_FORMAT
        case .unsupportedCompression: return 76  // UNSUPPORTED_COMPRESSION_TYPE
        case .decompressionFailed, .invalidRecord: return 87  // INVALID_RECORD
        case .compressionFailed: return -1  // UNKNOWN_SERVER_ERROR
        }
    }

    public var description: String {
        switch self {
        case let .truncated(needed, available):
            return "record batch truncated: needs \(needed) bytes, \(available) available"
        case let .invalidLength(why): return "invalid record batch length: \(why)"
        case let .unsupportedMagic(magic): return "unsupported record batch magic \(magic); only magic 2 is accepted"
        case let .checksumMismatch(expected, computed):
            return "record batch CRC-32C mismatch: header says \(String(expected, radix: 16)), bytes give \(String(computed, radix: 16))"
        case let .unsupportedCompression(id):
            let name = CompressionCodec(rawValue: id).map { "\($0)" } ?? "id \(id)"
            return "unsupported compression \(name): this build decompresses none, gzip and lz4"
        case let .decompressionFailed(why): return "decompression failed: \(why)"
        case let .compressionFailed(why): return "compression failed: \(why)"
        case let .invalidRecord(why): return "invalid record: \(why)"
        }
    }
}
