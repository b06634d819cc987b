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
        try withDecompressed(input, codec: codec, maxOutputBytes: maxOutputBytes) { Array($0) }
    }

    /// Decompresses `input` and lends the plain bytes to `body`, which must not keep them.
    /// The record decoder parses straight out of them, so an LZ4 records region is written
    /// once, by liblz4, and never copied into an array.
    public static func withDecompressed<Result>(
        _ input: UnsafeRawBufferPointer, codec: CompressionCodec,
        maxOutputBytes: Int = defaultMaxDecompressedBytes, _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result {
        switch codec {
        case .none: return try body(input)
        case .gzip: return try gzipDecompress(input, maxOutputBytes: maxOutputBytes).withUnsafeBytes(body)
        case .lz4: return try withLZ4Decompressed(input, maxOutputBytes: maxOutputBytes, body)
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

    /// Decompresses an LZ4 frame into one allocation and lends it to `body`. The allocation
    /// is sized by ``lz4DecompressedBound(_:)``, so liblz4 writes every block straight into it;
    /// it grows (by doubling, up to `maxOutputBytes`) only for a frame that bound got wrong.
    static func withLZ4Decompressed<Result>(
        _ input: UnsafeRawBufferPointer, maxOutputBytes: Int, _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result {
        var context: OpaquePointer?
        let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        guard LZ4F_isError(created) == 0, let context else { throw RecordError.decompressionFailed("LZ4F context") }
        defer { LZ4F_freeDecompressionContext(context) }
        var capacity = max(1, min(lz4DecompressedBound(input) ?? 4 * input.count, maxOutputBytes))
        var output = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
        defer { output.deallocate() }
        var produced = 0
        var consumed = 0
        while true {
            var sourceSize = input.count - consumed
            var destinationSize = capacity - produced
            let hint = LZ4F_decompress(
                context, output.baseAddress! + produced, &destinationSize, input.baseAddress.map { $0 + consumed }, &sourceSize, nil)
            if LZ4F_isError(hint) != 0 {
                throw RecordError.decompressionFailed("lz4: " + String(cString: LZ4F_getErrorName(hint)))
            }
            consumed += sourceSize
            produced += destinationSize
            if hint == 0 { return try body(UnsafeRawBufferPointer(rebasing: output[..<produced])) }  // frame complete
            guard sourceSize == 0 && destinationSize == 0 else { continue }
            // No progress: either the output is full or the input ran out.
            guard produced == capacity else { throw RecordError.decompressionFailed("lz4 frame ends early") }
            guard capacity < maxOutputBytes else {
                throw RecordError.decompressionFailed("lz4 output exceeds \(maxOutputBytes) bytes")
            }
            capacity = min(2 * capacity, maxOutputBytes)
            let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
            grown.copyMemory(from: UnsafeRawBufferPointer(rebasing: output[..<produced]))
            output.deallocate()
            output = grown
        }
    }

    /// An upper bound of the decompressed size of the LZ4 frame at the start of `input`, read
    /// from its header and block sizes (LZ4 Frame Format 1.6.x): each compressed block yields
    /// at most the frame's maximum block size, an uncompressed one exactly its size. Nil when
    /// the frame cannot be walked (liblz4 then reports what is wrong).
    ///
    /// Frame: magic 0x184D2204 (LE), FLG, BD, [content size: 8], [dictionary id: 4], header
    /// checksum: 1; then blocks, each a LE uint32 size (bit 31: stored uncompressed), the data
    /// and, with FLG bit 4, a 4-byte checksum; a zero size ends the frame.
    static func lz4DecompressedBound(_ input: UnsafeRawBufferPointer) -> Int? {
        func uint32(at offset: Int) -> UInt32? {
            offset >= 0 && offset <= input.count - 4 ? UInt32(littleEndian: input.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) : nil
        }
        guard uint32(at: 0) == 0x184D_2204, input.count >= 7 else { return nil }
        let flags = input[4], blockDescriptor = input[5]
        let blockChecksumSize = flags & 0x10 != 0 ? 4 : 0
        let maxBlockSize: Int
        switch (blockDescriptor >> 4) & 0x07 {
        case 4: maxBlockSize = 64 << 10
        case 5: maxBlockSize = 256 << 10
        case 6: maxBlockSize = 1 << 20
        case 7: maxBlockSize = 4 << 20
        default: return nil
        }
        var position = 7 + (flags & 0x08 != 0 ? 8 : 0) + (flags & 0x01 != 0 ? 4 : 0)
        var bound = 0
        while let size = uint32(at: position), size != 0 {
            let length = Int(size & 0x7FFF_FFFF)
            bound += size & 0x8000_0000 != 0 ? length : maxBlockSize
            position += 4 + length + blockChecksumSize
        }
        return bound
    }
}
