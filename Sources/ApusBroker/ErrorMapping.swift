import ApusProtocol
import ApusRecord
import ApusStorage

/// Maps a failure from the layers below to the Kafka error code a response carries, with a
/// message for the versions that have an error-message field.
func kafkaError(_ error: Error) -> (code: KafkaErrorCode, message: String) {
    switch error {
    case let error as StorageError:
        return (KafkaErrorCode(rawValue: error.kafkaErrorCode) ?? .unknownServerError, error.description)
    case let error as RecordError:
        return (KafkaErrorCode(rawValue: error.kafkaErrorCode) ?? .unknownServerError, error.description)
    case let error as TopicError:
        return (error.code, error.message)
    default:
        return (.unknownServerError, "\(error)")
    }
}
