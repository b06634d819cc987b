/// Why a placement request cannot be met. Each case says what to change; `kafkaErrorCode` is the
/// code a CreateTopics or CreatePartitions response should carry.
public enum PlacementError: Error, Sendable, Hashable, CustomStringConvertible {
    /// There are topics to place but no live brokers.
    case noBrokers
    /// Two brokers share an id.
    case duplicateBrokerId(Int32)
    /// A broker's weight is not a finite positive number.
    case invalidWeight(brokerId: Int32, weight: Double)
    /// Some brokers have a rack and these do not; give every broker a rack or none.
    case mixedRackInformation(brokersWithoutRack: [Int32])
    /// A topic appears twice.
    case duplicateTopic(String)
    /// A topic has fewer than one partition.
    case invalidPartitionCount(topic: String, partitionCount: Int)
    /// A topic's replication factor is below one.
    case invalidReplicationFactor(topic: String, replicationFactor: Int)
    /// More replicas per partition than live brokers (and `allowUnderReplication` is off).
    case replicationFactorExceedsBrokers(topic: String, replicationFactor: Int, brokers: Int)
    /// More replicas per partition than racks: replicas must be on distinct racks (and
    /// `allowUnderReplication` is off).
    case replicationFactorExceedsRacks(topic: String, replicationFactor: Int, racks: Int)

    /// The Kafka error code: INVALID_PARTITIONS (37), INVALID_REPLICATION_FACTOR (38) or
    /// INVALID_REPLICA_ASSIGNMENT (39).
    public var kafkaErrorCode: Int16 {
        switch self {
        case .invalidPartitionCount: 37
        case .invalidReplicationFactor, .replicationFactorExceedsBrokers, .replicationFactorExceedsRacks, .noBrokers: 38
        case .duplicateBrokerId, .invalidWeight, .mixedRackInformation, .duplicateTopic: 39
        }
    }

    public var description: String {
        switch self {
        case .noBrokers:
            "no live brokers to place replicas on; start a broker first"
        case .duplicateBrokerId(let id):
            "broker id \(id) is listed twice; broker ids must be unique"
        case .invalidWeight(let id, let weight):
            "broker \(id) has weight \(weight); weights must be finite and greater than zero"
        case .mixedRackInformation(let brokers):
            "brokers \(brokers) have no rack while others do; set broker.rack on every broker or on none"
        case .duplicateTopic(let topic):
            "topic \(topic) is listed twice"
        case .invalidPartitionCount(let topic, let count):
            "topic \(topic) asks for \(count) partitions; it needs at least one"
        case .invalidReplicationFactor(let topic, let factor):
            "topic \(topic) asks for replication factor \(factor); it needs at least one"
        case .replicationFactorExceedsBrokers(let topic, let factor, let brokers):
            "topic \(topic) asks for replication factor \(factor) but only \(brokers) brokers are live; lower the replication factor or add brokers"
        case .replicationFactorExceedsRacks(let topic, let factor, let racks):
            "topic \(topic) asks for replication factor \(factor) but brokers span only \(racks) racks; lower the replication factor or add racks"
        }
    }
}
