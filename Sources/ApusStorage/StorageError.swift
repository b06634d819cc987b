import ApusRecord

/// Why a storage operation failed. Each case maps to the Kafka error code a broker answers with.
public enum StorageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The records offered to append are not valid batches (bad CRC, length, magic, count).
    case invalidRecords(RecordError)
    /// A batch is larger than `max.message.bytes`.
    case messageTooLarge(size: Int, limit: Int)
    /// The requested offset is outside [log start offset, log end offset].
    case offsetOutOfRange(requested: Int64, logStartOffset: Int64, logEndOffset: Int64)
    /// The disk is full (ENOSPC or EDQUOT); nothing of the failed append was stored.
    case diskFull(path: String)
    /// A system call failed on a log file.
    case io(operation: String, path: String, errno: Int32)
    /// An idempotent producer's batch does not follow its previous one.
    case outOfOrderSequence(producerId: Int64, expected: Int32, received: Int32)
    /// An idempotent producer's epoch is older than the partition has seen: it was fenced.
    case invalidProducerEpoch(producerId: Int64, epoch: Int16, current: Int16)
    /// A retried batch arrived in an append of several batches; clients treat this as success.
    case duplicateSequence(producerId: Int64)
    /// The log was closed or deleted.
    case closed
    /// A configuration value is out of its range.
    case invalidConfiguration(String)

    /// The Kafka protocol error code for this failure.
    public var kafkaErrorCode: Int16 {
        switch self {
        case .invalidRecords(let error): return error.kafkaErrorCode
        case .messageTooLarge: return 10  // MESSAGE_TOO_LARGE
        case .offsetOutOfRange: return 1  // OFFSET_OUT_OF_RANGE
        case .outOfOrderSequence: return 45  // OUT_OF_ORDER_SEQUENCE_NUMBER
        case .invalidProducerEpoch: return 47  // INVALID_PRODUCER_EPOCH
        case .duplicateSequence: return 46  // DUPLICATE_SEQUENCE_NUMBER
        case .diskFull, .io, .closed: return 56  // KAFKA_STORAGE_ERROR
        case .invalidConfiguration: return 40  // INVALID_CONFIG
        }
    }

    public var description: String {
        switch self {
        case .invalidRecords(let error): return error.description
        case let .messageTooLarge(size, limit): return "record batch of \(size) bytes exceeds max.message.bytes \(limit)"
        case let .offsetOutOfRange(requested, start, end):
            return "offset \(requested) is outside the log's range [\(start), \(end)]"
        case .diskFull(let path): return "no space left on device writing \(path)"
        case let .io(operation, path, errno): return "\(operation) failed on \(path): \(String(cString: strerror(errno)))"
        case let .outOfOrderSequence(producer, expected, received):
            return "producer \(producer): expected sequence \(expected), received \(received)"
        case let .invalidProducerEpoch(producer, epoch, current):
            return "producer \(producer) epoch \(epoch) is older than the current epoch \(current)"
        case .duplicateSequence(let producer): return "producer \(producer): duplicate batch in a multi-batch append"
        case .closed: return "the log is closed"
        case .invalidConfiguration(let why): return "invalid configuration: \(why)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
