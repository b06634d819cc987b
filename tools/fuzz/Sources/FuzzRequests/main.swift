import ApusProtocol
import NIOCore

/// Every request the broker decodes: the fuzzer's first two bytes choose the API key and
/// version (as a request header would), the rest is the header and body. Decoding must either
/// succeed or throw; it must never crash, trap or allocate what the input does not hold.
let requestTypes: [any RequestMessage.Type] = [
    ProduceRequest.self, FetchRequest.self, ListOffsetsRequest.self, MetadataRequest.self,
    OffsetCommitRequest.self, OffsetFetchRequest.self, FindCoordinatorRequest.self, JoinGroupRequest.self,
    HeartbeatRequest.self, LeaveGroupRequest.self, SyncGroupRequest.self, DescribeGroupsRequest.self,
    ListGroupsRequest.self, SaslHandshakeRequest.self, ApiVersionsRequest.self, CreateTopicsRequest.self,
    DeleteTopicsRequest.self, DeleteRecordsRequest.self, InitProducerIdRequest.self, OffsetForLeaderEpochRequest.self,
    DescribeConfigsRequest.self, AlterConfigsRequest.self, SaslAuthenticateRequest.self, CreatePartitionsRequest.self,
    DeleteGroupsRequest.self, IncrementalAlterConfigsRequest.self, OffsetDeleteRequest.self,
    DescribeAclsRequest.self, CreateAclsRequest.self, DeleteAclsRequest.self, DescribeClusterRequest.self,
    DescribeLogDirsRequest.self, GetTelemetrySubscriptionsRequest.self,
]

func decode<Request: RequestMessage>(_: Request.Type, version: Int16, _ buffer: inout ByteBuffer) {
    let flexible = Request.isFlexible(version: version)
    var copy = buffer
    _ = try? RequestHeader(from: &copy, version: flexible ? 2 : 1)
    _ = try? Request(from: &copy, version: version)
    _ = try? Request(from: &buffer, version: version)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let type = requestTypes[Int(data[0]) % requestTypes.count]
    let versions = type.validVersions
    let version = versions.lowerBound + Int16(Int(data[1]) % versions.count)
    var buffer = ByteBuffer(bytes: UnsafeBufferPointer(start: data + 2, count: size - 2))
    decode(type, version: version, &buffer)
    return 0
}
