/// A Kafka UUID (topic ids, directory ids): 16 bytes on the wire, the most significant 64 bits
/// first. The all-zero value means "no id".
public struct KafkaUUID: Sendable, Hashable {
    /// The first 8 bytes on the wire, big-endian.
    public var mostSignificantBits: Int64
    /// The last 8 bytes on the wire, big-endian.
    public var leastSignificantBits: Int64

    public init(mostSignificantBits: Int64, leastSignificantBits: Int64) {
        self.mostSignificantBits = mostSignificantBits
        self.leastSignificantBits = leastSignificantBits
    }

    /// The all-zero UUID, which the protocol uses for "unset".
    public static let zero = KafkaUUID(mostSignificantBits: 0, leastSignificantBits: 0)
}

extension KafkaUUID: CustomStringConvertible {
    /// The conventional 8-4-4-4-12 hexadecimal form.
    public var description: String {
        let high = UInt64(bitPattern: mostSignificantBits)
        let low = UInt64(bitPattern: leastSignificantBits)
        func hex(_ value: UInt64, digits: Int) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: digits - text.count) + text
        }
        return "\(hex(high >> 32, digits: 8))-\(hex((high >> 16) & 0xFFFF, digits: 4))-"
            + "\(hex(high & 0xFFFF, digits: 4))-\(hex(low >> 48, digits: 4))-"
            + "\(hex(low & 0xFFFF_FFFF_FFFF, digits: 12))"
    }
}
