import ApusProtocol
import ApusStorage
import NIOCore

/// The records of `__consumer_offsets`, byte for byte as Kafka writes them, so tools that read
/// that topic understand ours:
///
/// | record | key | value |
/// |---|---|---|
/// | committed offset | int16 1, OffsetCommitKey v1 (group, topic, partition) | int16 3, OffsetCommitValue v3 (offset, leaderEpoch, metadata, commitTimestamp) |
/// | group metadata | int16 2, GroupMetadataKey v2 (group) | int16 3, GroupMetadataValue v3 (protocolType, generation, protocol, leader, currentStateTimestamp, members) |
///
/// A null value (tombstone) deletes the key. The data schemas carry no version of their own:
/// the int16 before each key and value is it. Keys of other versions (KIP-848 records) are ignored.
enum GroupRecord: Equatable {
    case offset(group: String, partition: TopicPartition, CommittedOffset?)
    case groupMetadata(group: String, GroupMetadataValue?)

    static let offsetKeyVersion: Int16 = 1
    static let offsetValueVersion: Int16 = 3
    static let groupKeyVersion: Int16 = 2
    static let groupValueVersion: Int16 = 3

    /// The group this record belongs to.
    var groupId: String {
        switch self {
        case .offset(let group, _, _), .groupMetadata(let group, _): group
        }
    }

    /// The record's key and value bytes (nil value: a tombstone).
    var encoded: (key: [UInt8], value: [UInt8]?) {
        var key = ByteBuffer()
        var value: ByteBuffer?
        switch self {
        case .offset(let group, let partition, let committed):
            key.writeInteger(Self.offsetKeyVersion)
            OffsetCommitKey(group: group, topic: partition.topic, partition: partition.partition).write(to: &key, version: Self.offsetKeyVersion)
            if let committed {
                // Version 1, the one with an expire timestamp, only for an offset that has one, as Kafka writes.
                let version = committed.expireTimestamp == nil ? Self.offsetValueVersion : 1
                var buffer = ByteBuffer()
                buffer.writeInteger(version)
                OffsetCommitValue(
                    offset: committed.offset, leaderEpoch: committed.leaderEpoch, metadata: committed.metadata,
                    commitTimestamp: committed.commitTimestamp, expireTimestamp: committed.expireTimestamp ?? -1
                ).write(to: &buffer, version: version)
                value = buffer
            }
        case .groupMetadata(let group, let metadata):
            key.writeInteger(Self.groupKeyVersion)
            GroupMetadataKey(group: group).write(to: &key, version: Self.groupKeyVersion)
            if let metadata {
                var buffer = ByteBuffer()
                buffer.writeInteger(Self.groupValueVersion)
                metadata.write(to: &buffer, version: Self.groupValueVersion)
                value = buffer
            }
        }
        return (Array(key.readableBytesView), value.map { Array($0.readableBytesView) })
    }

    /// Decodes a record of `__consumer_offsets`; nil for key versions this broker does not use.
    static func decode(key keyBytes: [UInt8], value valueBytes: [UInt8]?) throws -> GroupRecord? {
        var key = ByteBuffer(bytes: keyBytes)
        guard let version = key.readInteger(as: Int16.self) else { throw ProtocolDecodingError.truncated(needed: 2, available: keyBytes.count) }
        var value = valueBytes.map { ByteBuffer(bytes: $0) }
        let valueVersion = value?.readInteger(as: Int16.self)
        switch version {
        case 0, 1:
            let decoded = try OffsetCommitKey(from: &key, version: version)
            var committed: CommittedOffset?
            if var value, let valueVersion {
                let v = try OffsetCommitValue(from: &value, version: valueVersion)
                committed = CommittedOffset(
                    offset: v.offset, leaderEpoch: v.leaderEpoch, metadata: v.metadata, commitTimestamp: v.commitTimestamp,
                    expireTimestamp: valueVersion == 1 && v.expireTimestamp >= 0 ? v.expireTimestamp : nil)
            }
            return .offset(group: decoded.group, partition: TopicPartition(topic: decoded.topic, partition: decoded.partition), committed)
        case 2:
            let decoded = try GroupMetadataKey(from: &key, version: version)
            var metadata: GroupMetadataValue?
            if var value, let valueVersion { metadata = try GroupMetadataValue(from: &value, version: valueVersion) }
            return .groupMetadata(group: decoded.group, metadata)
        default:
            return nil
        }
    }

    /// Java's `String.hashCode` (over UTF-16 code units, wrapping).
    static func javaHashCode(_ text: String) -> Int32 {
        var hash: Int32 = 0
        for unit in text.utf16 { hash = hash &* 31 &+ Int32(unit) }
        return hash
    }

    /// The partition of `__consumer_offsets` that holds a group: Kafka's
    /// `Utils.abs(groupId.hashCode) % partitionCount` (abs of Int.min is 0).
    static func partition(for groupId: String, partitionCount: Int32) -> Int32 {
        let hash = javaHashCode(groupId)
        let positive = hash == Int32.min ? 0 : abs(hash)
        return positive % partitionCount
    }
}
