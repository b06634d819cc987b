import ApusProtocol
import NIOCore
import Testing

// Byte layouts written by hand from the protocol description (Docs/protocol.md), not produced
// by the code under test: they catch mistakes that a round trip cannot see because the reader
// and the writer would share them.

private func encoded<M: ProtocolMessage>(_ value: M, version: Int16) -> [UInt8] {
    var buffer = ByteBuffer()
    value.write(to: &buffer, version: version)
    return Array(buffer.readableBytesView)
}

private func decoded<M: ProtocolMessage>(_: M.Type, _ bytes: [UInt8], version: Int16) throws -> M {
    var buffer = ByteBuffer(bytes: bytes)
    let value = try M(from: &buffer, version: version)
    #expect(buffer.readableBytes == 0, "bytes left after decoding \(M.self)")
    return value
}

/// Asserts that `value` encodes to exactly `bytes` and that `bytes` decode back to `value`.
private func expectGolden<M: ProtocolMessage>(
    _ value: M, version: Int16, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
) throws {
    #expect(encoded(value, version: version) == bytes, sourceLocation: sourceLocation)
    #expect(try decoded(M.self, bytes, version: version) == value, sourceLocation: sourceLocation)
}

@Suite("Golden bytes")
struct GoldenBytesTests {
    @Test func apiVersionsRequestV0HasAnEmptyBody() throws {
        try expectGolden(ApiVersionsRequest(), version: 0, [])
    }

    @Test func apiVersionsRequestV3UsesCompactStringsAndATaggedSection() throws {
        let request = ApiVersionsRequest(clientSoftwareName: "apus", clientSoftwareVersion: "1.0")
        try expectGolden(request, version: 3, [
            0x05, 0x61, 0x70, 0x75, 0x73,  // "apus": varint length+1, bytes
            0x04, 0x31, 0x2E, 0x30,  // "1.0"
            0x00,  // no tagged fields
        ])
    }

    @Test func apiVersionsResponseV0() throws {
        let response = ApiVersionsResponse(
            errorCode: 0, apiKeys: [.init(apiKey: 18, minVersion: 0, maxVersion: 3)])
        try expectGolden(response, version: 0, [
            0x00, 0x00,  // error code
            0x00, 0x00, 0x00, 0x01,  // int32 array count
            0x00, 0x12, 0x00, 0x00, 0x00, 0x03,  // key 18, min 0, max 3
        ])
    }

    @Test func apiVersionsResponseV3WritesTaggedFieldsThatDifferFromTheirDefaults() throws {
        let response = ApiVersionsResponse(
            errorCode: 0,
            apiKeys: [.init(apiKey: 0, minVersion: 3, maxVersion: 9), .init(apiKey: 18, minVersion: 0, maxVersion: 3)],
            throttleTimeMs: 0,
            finalizedFeaturesEpoch: 5,
            zkMigrationReady: true)
        try expectGolden(response, version: 3, [
            0x00, 0x00,  // error code
            0x03,  // compact count: 2 elements
            0x00, 0x00, 0x00, 0x03, 0x00, 0x09, 0x00,  // key 0, 3-9, element tagged section
            0x00, 0x12, 0x00, 0x00, 0x00, 0x03, 0x00,  // key 18, 0-3
            0x00, 0x00, 0x00, 0x00,  // throttle time
            0x02,  // two tagged fields; SupportedFeatures and FinalizedFeatures are empty (default)
            0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,  // tag 1, 8 bytes: epoch 5
            0x03, 0x01, 0x01,  // tag 3, 1 byte: true
        ])
    }

    @Test func metadataRequestV0() throws {
        let request = MetadataRequest(topics: [.init(name: "foo")])
        try expectGolden(request, version: 0, [
            0x00, 0x00, 0x00, 0x01,  // one topic
            0x00, 0x03, 0x66, 0x6F, 0x6F,  // int16 length, "foo"
        ])
    }

    @Test func metadataRequestNullTopicsMeansAllTopicsFromV1() throws {
        try expectGolden(MetadataRequest(topics: nil), version: 1, [0xFF, 0xFF, 0xFF, 0xFF])
        try expectGolden(
            MetadataRequest(topics: nil, allowAutoTopicCreation: false), version: 4,
            [0xFF, 0xFF, 0xFF, 0xFF, 0x00])
        // Null is not representable in v0, where an empty array means all topics.
        #expect(encoded(MetadataRequest(topics: nil), version: 0) == [0x00, 0x00, 0x00, 0x00])
        #expect(throws: ProtocolDecodingError.unexpectedNull) {
            _ = try decoded(MetadataRequest.self, [0xFF, 0xFF, 0xFF, 0xFF], version: 0)
        }
    }

    @Test func metadataRequestV9IsFlexible() throws {
        let request = MetadataRequest(
            topics: [.init(name: "foo")], allowAutoTopicCreation: false,
            includeTopicAuthorizedOperations: true)
        try expectGolden(request, version: 9, [
            0x02,  // compact count: 1 topic
            0x04, 0x66, 0x6F, 0x6F, 0x00,  // compact "foo", topic tagged section
            0x00,  // allowAutoTopicCreation
            0x00,  // includeClusterAuthorizedOperations (v8-10)
            0x01,  // includeTopicAuthorizedOperations
            0x00,  // tagged section
        ])
    }

    @Test func produceResponseV10WithTaggedStructAndTaggedArray() throws {
        var partition = ProduceResponse.PartitionProduceResponse(index: 0, errorCode: 0, baseOffset: 5)
        partition.currentLeader = .init(leaderId: 1, leaderEpoch: 2)
        let response = ProduceResponse(
            responses: [.init(name: "t", partitionResponses: [partition])],
            throttleTimeMs: 0,
            nodeEndpoints: [.init(nodeId: 1, host: "h", port: 9092, rack: nil)])
        try expectGolden(response, version: 10, [
            0x02, 0x02, 0x74,  // one topic, "t"
            0x02,  // one partition
            0x00, 0x00, 0x00, 0x00,  // index
            0x00, 0x00,  // error code
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,  // base offset
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,  // log append time -1 (default)
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,  // log start offset -1 (default)
            0x01,  // no record errors
            0x00,  // null error message
            0x01, 0x00, 0x09,  // one tagged field: tag 0 (CurrentLeader), 9 bytes
            0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00,  // leader 1, epoch 2, its tagged section
            0x00,  // topic tagged section
            0x00, 0x00, 0x00, 0x00,  // throttle time
            0x01, 0x00, 0x0D,  // one tagged field: tag 0 (NodeEndpoints), 13 bytes
            0x02, 0x00, 0x00, 0x00, 0x01, 0x02, 0x68, 0x00, 0x00, 0x23, 0x84, 0x00, 0x00,
        ])
    }

    @Test func requestHeaderV2KeepsTheInt16ClientIdAndUnknownTags() throws {
        let bytes: [UInt8] = [
            0x00, 0x12, 0x00, 0x03,  // ApiVersions v3
            0x00, 0x00, 0x00, 0x07,  // correlation id
            0x00, 0x07, 0x72, 0x64, 0x6B, 0x61, 0x66, 0x6B, 0x61,  // int16 length, "rdkafka"
            0x01, 0x05, 0x02, 0xAB, 0xCD,  // one tagged field: tag 5, 2 bytes
        ]
        let header = try decoded(RequestHeader.self, bytes, version: 2)
        #expect(header.requestApiKey == 18)
        #expect(header.requestApiVersion == 3)
        #expect(header.correlationId == 7)
        #expect(header.clientId == "rdkafka")
        #expect(header.unknownTaggedFields == [TaggedField(tag: 5, data: ByteBuffer(bytes: [0xAB, 0xCD]))])
        #expect(encoded(header, version: 2) == bytes)
    }

    @Test func requestHeaderV0AndV1() throws {
        let header = RequestHeader(requestApiKey: 7, requestApiVersion: 0, correlationId: 1, clientId: "x")
        try expectGolden(
            RequestHeader(requestApiKey: 7, requestApiVersion: 0, correlationId: 1), version: 0,
            [0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01])
        #expect(encoded(header, version: 0) == [0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01])
        try expectGolden(
            RequestHeader(requestApiKey: 3, requestApiVersion: 9, correlationId: 42, clientId: nil), version: 1,
            [0x00, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x2A, 0xFF, 0xFF])
    }

    @Test func responseHeaders() throws {
        try expectGolden(ResponseHeader(correlationId: 7), version: 0, [0x00, 0x00, 0x00, 0x07])
        try expectGolden(ResponseHeader(correlationId: 7), version: 1, [0x00, 0x00, 0x00, 0x07, 0x00])
    }

    @Test func headerVersionsFollowTheFlexibleVersionsOfTheApi() {
        #expect(RequestHeader.version(apiKey: .apiVersions, apiVersion: 3) == 2)
        #expect(RequestHeader.version(apiKey: .apiVersions, apiVersion: 2) == 1)
        #expect(RequestHeader.version(apiKey: .metadata, apiVersion: 8) == 1)
        #expect(RequestHeader.version(apiKey: .metadata, apiVersion: 9) == 2)
        #expect(RequestHeader.version(apiKey: .saslHandshake, apiVersion: 1) == 1)
        #expect(RequestHeader.version(apiKey: .controlledShutdown, apiVersion: 0) == 0)
        #expect(RequestHeader.version(apiKey: .controlledShutdown, apiVersion: 1) == 1)
        #expect(ResponseHeader.version(apiKey: .apiVersions, apiVersion: 3) == 0)
        #expect(ResponseHeader.version(apiKey: .apiVersions, apiVersion: 4) == 0)
        #expect(ResponseHeader.version(apiKey: .metadata, apiVersion: 9) == 1)
        #expect(ResponseHeader.version(apiKey: .produce, apiVersion: 8) == 0)
        #expect(ResponseHeader.version(apiKey: .produce, apiVersion: 9) == 1)
    }

    @Test func errorCodesCarryKafkaNamesAndRetriability() {
        #expect(KafkaErrorCode(rawValue: 0) == .noError)
        #expect(KafkaErrorCode.noError.name == "NONE")
        #expect(KafkaErrorCode(rawValue: 3) == .unknownTopicOrPartition)
        #expect(KafkaErrorCode.unknownTopicOrPartition.name == "UNKNOWN_TOPIC_OR_PARTITION")
        #expect(KafkaErrorCode.unknownTopicOrPartition.isRetriable)
        #expect(!KafkaErrorCode.unsupportedVersion.isRetriable)
        #expect(KafkaErrorCode.unsupportedVersion.rawValue == 35)
        #expect(KafkaErrorCode.unknownServerError.rawValue == -1)
        #expect(KafkaErrorCode.allCases.count == 129)
    }
}
