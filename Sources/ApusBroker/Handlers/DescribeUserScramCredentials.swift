import ApusProtocol
import ApusSecurity
import NIOCore

/// DescribeUserScramCredentials (key 50): each user's SCRAM mechanisms and iteration counts
/// (never salts or keys). Null users means all; an unknown user answers RESOURCE_NOT_FOUND, a
/// repeated one DUPLICATE_RESOURCE. Needs Describe on the cluster.
enum DescribeUserScramCredentialsHandler: APIHandler {
    typealias Request = DescribeUserScramCredentialsRequest
    static let versions: ClosedRange<Int16> = 0...0

    static func handle(_ request: Request, context: RequestContext) -> EventLoopFuture<DescribeUserScramCredentialsResponse?> {
        guard context.isAuthorizedOnCluster(.describe) else {
            return context.eventLoop.makeSucceededFuture(
                DescribeUserScramCredentialsResponse(errorCode: KafkaErrorCode.clusterAuthorizationFailed.rawValue))
        }
        let stored = context.broker.security.describeCredentials()
        let names = request.users?.map(\.name) ?? stored.keys.sorted()
        var counts: [String: Int] = [:]
        for name in names { counts[name, default: 0] += 1 }
        var seen: Set<String> = []
        let results = names.compactMap { name -> DescribeUserScramCredentialsResponse.DescribeUserScramCredentialsResult? in
            guard seen.insert(name).inserted else { return nil }
            if counts[name, default: 0] > 1 {
                return .init(user: name, errorCode: KafkaErrorCode.duplicateResource.rawValue, errorMessage: "user \(name) is named twice")
            }
            guard let credentials = stored[name], !credentials.isEmpty else {
                return .init(user: name, errorCode: KafkaErrorCode.resourceNotFound.rawValue, errorMessage: "no SCRAM credentials for user \(name)")
            }
            return .init(user: name, errorCode: 0, credentialInfos: credentials.values.sorted { $0.mechanism.kafkaType < $1.mechanism.kafkaType }.map {
                .init(mechanism: $0.mechanism.kafkaType, iterations: Int32(clamping: $0.iterations))
            })
        }
        return context.eventLoop.makeSucceededFuture(DescribeUserScramCredentialsResponse(results: results))
    }
}
