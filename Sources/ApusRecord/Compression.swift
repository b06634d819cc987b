import CLZ4
import CZlib

/// The compression codec of a record batch: bits 0-2 of its attributes.
public enum CompressionCodec: Int16, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case gzip = 1
    case snappy = 2
    case lz4 = 3
    case zstd = 4

    /// Whether this build can compress and decompress the codec (through zlib and liblz4).
    public var isSupported: Bool { self == .none || self == .gzip || self == .lz4 }

    public var description: String {
        switch self {
        case .none: "none"
        case .gzip: "gzip"
        case .snappy: "snappy"
        case .lz4: "lz4"
        case .zstd: "zstd"
        }
    }

    /// Parses a Kafka `compression.type` name.
    public init?(name: String) {
        guard let codec = Self.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = codec
    }
}

/// Compression of a batch's records region, as Kafka frames it: a gzip stream (RFC 1952)
/// or an LZ4 frame with independent 64 KiB blocks and no checksums (KIP-57).
public enum Compression {
    /// The most a decompressed records region may grow to; larger is treated as invalid
    /// rather than allocated, so a small hostile batch cannot exhaust memory.
    public static let defaultMaxDecompressedBytes = 256 << 20

    public static func compress(_ input: UnsafeRawBufferPointer, codec: CompressionCodec) throws -> [UInt8] {
        switch codec {
        case .none: return Array(input)
        case .gzip: return try gzipCompress(input)
        case .lz4: return try lz4Compress(input)
        case .snappy, .zstd: throw RecordError.unsupportedCompression(codec.rawValue)
        }
    }

    public static func decompress(
        _ input: UnsafeRawBufferPointer, codec: CompressionCodec,
        maxOutputBytes: Int = defaultMaxDecompressedBytes
    ) throws -> [UInt8] {
        switch codec {
        case .none: return Array(input)
        case .gzip: return try gzipDecompress(input, maxOutputBytes: maxOutputBytes)
        case .lz4: return try lz4Decompress(input, maxOutputBytes: maxOutputBytes)
        case .snappy, .zstd: throw RecordError.unsupportedCompression(codec.rawValue)
        }
    }

    // MARK: gzip

    static func gzipCompress(_ input: UnsafeRawBufferPointer) throws -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip wrapper, as java.util.zip.GZIPOutputStream writes.
        var status = deflateInit2_(
            &stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw RecordError.compressionFailed("deflateInit2 returned \(status)") }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count)))
        var output = [UInt8](repeating: 0, count: bound)
        let produced: Int = output.withUnsafeMutableBytes { out in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(out.count)
            status = deflate(&stream, Z_FINISH)
            return out.count - Int(stream.avail_out)
        }
        guard status == Z_STREAM_END else { throw RecordError.compressionFailed("deflate returned \(status)") }
        output.removeSubrange(produced...)
        return output
    }

    static func gzipDecompress(_ input: UnsafeRawBufferPointer, maxOutputBytes: Int) throws -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 32: accept gzip or zlib headers.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw RecordError.decompressionFailed("inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: max(4096, min(input.count * 4, 1 << 20)))
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        while true {
            let (status, produced) = chunk.withUnsafeMutableBytes { out -> (Int32, Int) in
                stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(out.count)
                let status = inflate(&stream, Z_NO_FLUSH)
                return (status, out.count - Int(stream.avail_out))
            }
            output.append(contentsOf: chunk[0..<produced])
            if output.count > maxOutputBytes {
                throw RecordError.decompressionFailed("gzip output exceeds \(maxOutputBytes) bytes")
            }
            switch status {
            case Z_STREAM_END:
                // Java's GZIPInputStream reads concatenated members; so do we.
                if stream.avail_in == 0 { return output }
                guard inflateReset(&stream) == Z_OK else { throw RecordError.decompressionFailed("inflateReset failed") }
            case Z_OK:
                if produced == 0 && stream.avail_in == 0 { throw RecordError.decompressionFailed("gzip stream ends early") }
            case Z_BUF_ERROR where stream.avail_in == 0:
                throw RecordError.decompressionFailed("gzip stream ends early")
            default:
                throw RecordError.decompressionFailed("inflate returned \(status)")
            }
        }
    }

    // MARK: LZ4 frame

    static func lz4Preferences() -> LZ4F_preferences_t {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockSizeID = LZ4F_max64KB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        preferences.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum
        preferences.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum
        preferences.frameInfo.frameType = LZ4F_frame
        return preferences
    }

    static func lz4Compress(_ input: UnsafeRawBufferPointer) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: lz4CompressBound(input.count)) { buffer, count in
            count = try lz4Compress(input, into: UnsafeMutableRawBufferPointer(buffer))
        }
    }

    /// The most bytes an LZ4 frame of `count` input bytes can take.
    public static func lz4CompressBound(_ count: Int) -> Int {
        var preferences = lz4Preferences()
        return LZ4F_compressFrameBound(count, &preferences)
    }

    /// Writes `input` as one LZ4 frame into `output` (at least ``lz4CompressBound(_:)`` bytes);
    /// returns the bytes written.
    public static func lz4Compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws -> Int {
        var preferences = lz4Preferences()
        let written = LZ4F_compressFrame(output.baseAddress, output.count, input.baseAddress, input.count, &preferences)
        if LZ4F_isError(written) != 0 {
            throw RecordError.compressionFailed(String(cString: LZ4F_getErrorName(written)))
        }
        return written
    }

    static func lz4Decompress(_ input: UnsafeRawBufferPointer, maxOutputBytes: Int) throws -> [UInt8] {
        var context: OpaquePointer?
        let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        guard LZ4F_isError(created) == 0, let context else { throw RecordError.decompressionFailed("LZ4F context") }
        defer { LZ4F_freeDecompressionContext(context) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var consumed = 0
        while true {
            var sourceSize = input.count - consumed
            var destinationSize = chunk.count
            let hint = chunk.withUnsafeMutableBytes { out in
                LZ4F_decompress(
                    context, out.baseAddress, &destinationSize,
                    input.baseAddress.map { $0 + consumed }, &sourceSize, nil)
            }
            if LZ4F_isError(hint) != 0 {
                throw RecordError.decompressionFailed("lz4: " + String(cString: LZ4F_getErrorName(hint)))
            }
            consumed += sourceSize
            output.append(contentsOf: chunk[0..<destinationSize])
            if output.count > maxOutputBytes {
                throw RecordError.decompressionFailed("lz4 output exceeds \(maxOutputBytes) bytes")
            }
            if hint == 0 { return output }  // frame complete
            if consumed >= input.count && destinationSize == 0 {
                throw RecordError.decompressionFailed("lz4 frame ends early")
            }
        }
    }
}
