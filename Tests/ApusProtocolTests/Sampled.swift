import ApusProtocol

/// A generated message with a generated sample: every field present in `version` set to a
/// non-default value, or to nil where the version allows null and `nulls` is true.
protocol Sampled: ProtocolMessage {
    static func sample(version: Int16, nulls: Bool) -> Self
}
