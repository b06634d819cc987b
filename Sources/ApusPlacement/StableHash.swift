/// The stable 64-bit hash behind every placement decision.
///
/// Placement must give the same answer on every broker and in every run, so it cannot use
/// Swift's `Hasher`, which is seeded randomly per process. This is 64-bit FNV-1a over the UTF-8
/// bytes, followed by the SplitMix64 finalizer (Stafford's "mix13") so that keys differing in one
/// trailing digit ("orders/1", "orders/2") land far apart on the ring. Both halves are published
/// algorithms with known test vectors; `StableHashTests` pins the outputs so that a change to
/// this file, which would move every partition in a cluster, cannot pass silently.
///
/// - Ring point of a virtual node: `hash("broker-<id>#<vnode>")`.
/// - Ring key of a partition: `hash("<topic>/<partition>")`.
public enum StableHash {
    static let fnvOffsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    static let fnvPrime: UInt64 = 0x0000_0100_0000_01b3
    static let golden: UInt64 = 0x9e37_79b9_7f4a_7c15

    /// 64-bit FNV-1a of `bytes`, without the finalizer.
    public static func fnv1a<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var state = fnvOffsetBasis
        for byte in bytes { state = (state ^ UInt64(byte)) &* fnvPrime }
        return state
    }

    /// The SplitMix64 finalizer: a bijection of 64-bit values with full avalanche.
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// FNV-1a then the finalizer, over the UTF-8 bytes of `string`.
    public static func hash(_ string: String) -> UInt64 {
        mix(fnv1a(string.utf8))
    }

    /// The ring key of a partition: `hash("<topic>/<partition>")`, computed without building the string.
    public static func partitionKey(topic: String, partition: Int32) -> UInt64 {
        partitionKey(topicState: fnv1a(topic.utf8), partition: partition)
    }

    /// Continues an FNV-1a state that has consumed the topic name with "/" and the decimal partition.
    static func partitionKey(topicState: UInt64, partition: Int32) -> UInt64 {
        var state = (topicState ^ UInt64(UInt8(ascii: "/"))) &* fnvPrime
        state = appendDecimal(Int64(partition), to: state)
        return mix(state)
    }

    /// The ring point of virtual node `virtualNode` of broker `brokerId`: `hash("broker-<id>#<vnode>")`.
    public static func virtualNodePoint(brokerId: Int32, virtualNode: Int) -> UInt64 {
        var state = fnv1a("broker-".utf8)
        state = appendDecimal(Int64(brokerId), to: state)
        state = (state ^ UInt64(UInt8(ascii: "#"))) &* fnvPrime
        state = appendDecimal(Int64(virtualNode), to: state)
        return mix(state)
    }

    /// A broker's own hash, `hash("broker-<id>")`, used for affinity scores.
    public static func brokerKey(brokerId: Int32) -> UInt64 {
        mix(appendDecimal(Int64(brokerId), to: fnv1a("broker-".utf8)))
    }

    /// The affinity of a partition key for a broker key: the rendezvous ("highest random weight")
    /// score. Placement uses it to decide which replicas a broker gives up or takes first.
    @inlinable
    public static func affinity(_ partitionKey: UInt64, _ brokerKey: UInt64) -> UInt64 {
        mix(partitionKey ^ mix(brokerKey &+ 0x9e37_79b9_7f4a_7c15))
    }

    static func appendDecimal(_ value: Int64, to state: UInt64) -> UInt64 {
        var state = state
        var magnitude = value.magnitude
        if value < 0 { state = (state ^ UInt64(UInt8(ascii: "-"))) &* fnvPrime }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                      UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            for index in stride(from: count - 1, through: 0, by: -1) {
                state = (state ^ UInt64(buffer[index])) &* fnvPrime
            }
        }
        return state
    }
}
