import ApusProtocol
import ApusSecurity
import NIOCore

/// AlterUserScramCredentials (key 51): adds, replaces or deletes users' SCRAM credentials.
/// Upsertions carry a salt and the salted password, from which the broker keeps StoredKey and
/// ServerKey; the password never travels. Needs Alter on the cluster. Per user: an unknown
/// mechanism answers UNSUPPORTED_SASL_MECHANISM, iterations outside 4096-16384 or an empty name
/// UNACCEPTABLE_CREDENTIAL, deleting what is not there RESOURCE_NOT_FOUND, a user named twice
/// DUPLICATE_RESOURCE.
enum AlterUserScramCredentialsHandler: APIHandler {
    typealias Request = AlterUserScramCredentialsRequest
    static let versions: ClosedRange<Int16> = 0...0

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<AlterUserScramCredentialsResponse?> {
        let names = request.deletions.map(\.name) + request.upsertions.map(\.name)
        var order: [String] = []
        var errors: [String: (KafkaErrorCode, String?)] = [:]
        var counts: [String: Int] = [:]
        for name in names {
            if counts[name] == nil { order.append(name) }
            counts[name, default: 0] += 1
        }
        let authorized = context.isAuthorizedOnCluster(.alter)
        for name in order {
            if !authorized {
                errors[name] = (.clusterAuthorizationFailed, nil)
            } else if counts[name, default: 0] > 1 {
                errors[name] = (.duplicateResource, "user \(name) appears more than once in the request")
            } else if name.isEmpty {
                errors[name] = (.unacceptableCredential, "the user name is empty")
            }
        }
        let security = context.broker.security
        for deletion in request.deletions where errors[deletion.name] == nil {
            guard let mechanism = ScramMechanism(kafkaType: deletion.mechanism) else {
                errors[deletion.name] = (.unsupportedSaslMechanism, "unknown SCRAM mechanism \(deletion.mechanism)")
                continue
            }
            do {
                if try !security.deleteCredential(user: deletion.name, mechanism: mechanism) {
                    errors[deletion.name] = (.resourceNotFound, "user \(deletion.name) has no \(mechanism.rawValue) credential")
                }
            } catch {
                errors[deletion.name] = (.kafkaStorageError, "cannot persist the credentials: \(error)")
            }
        }
        for upsertion in request.upsertions where errors[upsertion.name] == nil {
            guard let mechanism = ScramMechanism(kafkaType: upsertion.mechanism) else {
                errors[upsertion.name] = (.unsupportedSaslMechanism, "unknown SCRAM mechanism \(upsertion.mechanism)")
                continue
            }
            let iterations = Int(upsertion.iterations)
            guard (ScramMechanism.minimumIterations...ScramMechanism.maximumIterations).contains(iterations) else {
                errors[upsertion.name] = (
                    .unacceptableCredential,
                    "iterations must be between \(ScramMechanism.minimumIterations) and \(ScramMechanism.maximumIterations)"
                )
                continue
            }
            let salt = upsertion.salt.getBytes(at: upsertion.salt.readerIndex, length: upsertion.salt.readableBytes) ?? []
            let salted = upsertion.saltedPassword.getBytes(
                at: upsertion.saltedPassword.readerIndex, length: upsertion.saltedPassword.readableBytes) ?? []
            guard !salt.isEmpty, !salted.isEmpty else {
                errors[upsertion.name] = (.unacceptableCredential, "salt and salted password must not be empty")
                continue
            }
            let credential = ScramCredential.fromSaltedPassword(mechanism: mechanism, salt: salt, saltedPassword: salted, iterations: iterations)
            do {
                try security.upsertCredential(user: upsertion.name, credential: credential)
            } catch {
                errors[upsertion.name] = (.kafkaStorageError, "cannot persist the credentials: \(error)")
            }
        }
        let results = order.map { name in
            let (code, message) = errors[name] ?? (.noError, nil)
            return AlterUserScramCredentialsResponse.AlterUserScramCredentialsResult(user: name, errorCode: code.rawValue, errorMessage: message)
        }
        context.logger.info("SCRAM credentials altered", metadata: ["users": "\(order)", "by": "\(context.principal)"])
        return context.eventLoop.makeSucceededFuture(AlterUserScramCredentialsResponse(results: results))
    }
}
