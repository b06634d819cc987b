import ApusRecord
import Testing

@Suite struct CRC32CTests {
    @Test func checkValueMatchesCastagnoli() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test func hardwareAndPortablePathsAgreeOnEverySizeAndAlignment() {
        var generator = SplitMix64(seed: 7)
        let data = (0..<100_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        data.withUnsafeBytes { raw in
            for (start, count) in [(0, 0), (1, 1), (3, 7), (5, 64), (0, 12_288), (1, 12_289), (7, 40_000), (0, 100_000)] {
                let slice = UnsafeRawBufferPointer(rebasing: raw[start..<start + count])
                #expect(CRC32C.checksum(slice) == CRC32C.portableChecksum(slice), "start \(start) count \(count)")
            }
        }
    }

    @Test func checksumsChainAcrossCalls() {
        let data = Array("hello, record batches".utf8)
        let whole = CRC32C.checksum(data)
        let first = CRC32C.checksum(Array(data[..<5]))
        #expect(CRC32C.checksum(Array(data[5...]), continuing: first) == whole)
    }
}

/// A small deterministic random number generator for reproducible test data.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
