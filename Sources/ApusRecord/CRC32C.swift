import CCRC32C

/// CRC-32C (Castagnoli), the checksum of Kafka record batch v2.
///
/// Uses the SSE4.2 `crc32` instruction where the CPU has it and slicing-by-8 tables
/// elsewhere; both give the same value (CRC-32C of "123456789" is 0xE3069283).
public enum CRC32C {
    /// The checksum of `bytes`, continuing from `crc` (0 to start).
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return apus_crc32c(crc, base, bytes.count)
    }

    /// The checksum of a byte array.
    public static func checksum(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: crc) }
    }

    /// The checksum computed without the hardware instruction, for tests and comparisons.
    public static func portableChecksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return apus_crc32c_portable(crc, base, bytes.count)
    }

    /// Whether the SSE4.2 instruction is in use on this machine.
    public static var isHardwareAccelerated: Bool { apus_crc32c_is_hardware() != 0 }
}
