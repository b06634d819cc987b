import ApusRecord
import ApusStorage

/// Record batches as a producer could send them: header validation, full decoding (with
/// decompression), and the storage engine's append validation. Must throw or succeed, never crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    _ = try? RecordBatchHeader.validated(bytes)
    _ = try? RecordBatchDecoder.decodeAll(bytes)
    _ = try? RecordBatchDecoder.decode(bytes, maxDecompressedBytes: 1 << 20)
    // The same bytes with a correct CRC, so decoding goes past the checksum.
    if size >= RecordBatchLayout.headerSize {
        var fixed = Array(bytes)
        let length = Int32(size - RecordBatchLayout.logOverhead)
        withUnsafeBytes(of: length.bigEndian) { fixed.replaceSubrange(8..<12, with: $0) }
        fixed[RecordBatchLayout.magic] = 2
        RecordBatchEncoder.updateChecksum(&fixed)
        _ = try? RecordBatchDecoder.decode(fixed)
    }
    return 0
}
