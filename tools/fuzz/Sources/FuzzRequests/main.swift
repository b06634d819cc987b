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

/// The broker takes a Produce request that spans socket reads apart by walking its layout
/// (`ScatteredProduceRequest`) instead of decoding it whole. Differential check: whenever the
/// generated decoder accepts a frame, the walk of the same frame cut in three must accept it
/// too and give back the same request; and the walk must never crash on what it refuses.
func checkScatteredProduce(version: Int16, _ body: ByteBuffer, cuts: (Int, Int)) {
    guard body.readableBytes >= 4 else { return }
    var frame = body
    frame.setInteger(ApiKey.produce.rawValue, at: frame.readerIndex)
    frame.setInteger(version, at: frame.readerIndex + 2)
    let headerVersion = RequestHeader.version(apiKey: .produce, apiVersion: version)
    var whole = frame
    let expected = try? (RequestHeader(from: &whole, version: headerVersion), ProduceRequest(from: &whole, version: version))
    let first = min(cuts.0, frame.readableBytes)
    let second = min(max(cuts.1, first), frame.readableBytes)
    let parts = [
        frame.getSlice(at: frame.readerIndex, length: first)!,
        frame.getSlice(at: frame.readerIndex + first, length: second - first)!,
        frame.getSlice(at: frame.readerIndex + second, length: frame.readableBytes - second)!,
    ]
    guard let scattered = try? ScatteredProduceRequest(parts) else {
        precondition(expected == nil, "the walk refused a Produce v\(version) frame the generated decoder accepts")
        return
    }
    var skeleton = scattered.skeleton
    guard let header = try? RequestHeader(from: &skeleton, version: headerVersion),
        var request = try? ProduceRequest(from: &skeleton, version: version)
    else {
        precondition(expected == nil, "the skeleton of a valid Produce v\(version) frame does not decode")
        return
    }
    var index = 0
    for topic in request.topicData.indices {
        for partition in request.topicData[topic].partitionData.indices {
            precondition(index < scattered.partitionCount, "the walk found fewer partitions than the decoder")
            if let slices = scattered.records(ofPartitionAt: index) {
                var joined = ByteBuffer()
                for slice in slices { joined.writeImmutableBuffer(slice) }
                request.topicData[topic].partitionData[partition].records = joined
            }
            index += 1
        }
    }
    precondition(index == scattered.partitionCount, "the walk found more partitions than the decoder")
    if let expected {
        precondition(expected.0 == header && expected.1 == request, "the walk changed a Produce v\(version) request")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let type = requestTypes[Int(data[0]) % requestTypes.count]
    let versions = type.validVersions
    let version = versions.lowerBound + Int16(Int(data[1]) % versions.count)
    var buffer = ByteBuffer(bytes: UnsafeBufferPointer(start: data + 2, count: size - 2))
    decode(type, version: version, &buffer)
    if type == ProduceRequest.self, size >= 4 {
        let body = ByteBuffer(bytes: UnsafeBufferPointer(start: data + 2, count: size - 2))
        checkScatteredProduce(version: version, body, cuts: (Int(data[0]) * 3 % 97, Int(data[1]) * 7 % 211))
    }
    return 0
}
