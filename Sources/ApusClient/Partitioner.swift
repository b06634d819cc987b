/// Kafka's Java-client murmur2 (MurmurHash2, 32-bit, seed 0x9747b28c), as in
/// `org.apache.kafka.common.utils.Utils.murmur2`. Keyed records go to
/// `(murmur2(key) & 0x7fffffff) % partitionCount`, so keys land where Java clients and
/// librdkafka's `murmur2_random` put them.
public enum Murmur2 {
    /// The hash of `bytes`, as the signed 32-bit value Java returns.
    public static func hash(_ bytes: [UInt8]) -> Int32 {
        let seed: UInt32 = 0x9747_b28c
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        let length = bytes.count
        var h = seed ^ UInt32(truncatingIfNeeded: length)
        let words = length / 4
        for i in 0..<words {
            let base = i * 4
            var k = UInt32(bytes[base]) | UInt32(bytes[base + 1]) << 8 | UInt32(bytes[base + 2]) << 16 | UInt32(bytes[base + 3]) << 24
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = words * 4
        switch length % 4 {
        case 3:
            h ^= UInt32(bytes[tail + 2]) << 16
            fallthrough
        case 2:
            h ^= UInt32(bytes[tail + 1]) << 8
            fallthrough
        case 1:
            h ^= UInt32(bytes[tail])
            h = h &* m
        default:
            break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// The partition of a keyed record: `toPositive(murmur2(key)) % partitionCount`.
    public static func partition(forKey key: [UInt8], partitionCount: Int) -> Int32 {
        precondition(partitionCount > 0, "a topic has at least one partition")
        return Int32((Int(hash(key)) & 0x7fff_ffff) % partitionCount)
    }
}
