import Testing

@testable import ApusRecord

@Suite struct CompressionTests {
    /// The LZ4 output buffer is sized from the frame's blocks; a bound below the real size
    /// would make decompression grow it (or, at the limit, fail).
    @Test func lz4DecompressedBoundCoversTheFrame() throws {
        var generator = SplitMix64(seed: 7)
        let inputs: [[UInt8]] = [
            [],
            Array("a short value".utf8),
            [UInt8](repeating: 0, count: 4 << 20),  // 64 blocks of about 255:1
            (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) },  // stored blocks
            Array(String(repeating: #"{"user":116740,"event":"click","page":"/p/2254"} "#, count: 20_000).utf8),
        ]
        for input in inputs {
            let frame = try input.withUnsafeBytes { try Compression.compress($0, codec: .lz4) }
            let bound = try #require(frame.withUnsafeBytes { Compression.lz4DecompressedBound($0) })
            #expect(bound >= input.count)
            #expect(bound <= input.count + (64 << 10))
            #expect(try frame.withUnsafeBytes { try Compression.decompress($0, codec: .lz4) } == input)
        }
    }

    @Test func aTruncatedLZ4FrameIsAnError() throws {
        let input = Array(String(repeating: "truncated frames are errors ", count: 10_000).utf8)
        let frame = try input.withUnsafeBytes { try Compression.compress($0, codec: .lz4) }
        for length in [3, 7, frame.count / 2, frame.count - 4] {
            #expect(throws: RecordError.self) {
                try frame[..<length].withUnsafeBytes { try Compression.decompress($0, codec: .lz4) }
            }
        }
    }
}
