import ApusProtocol
import ApusRecord
import Foundation
import NIOCore
import Testing
@testable import ApusBroker

/// Starts a broker on an ephemeral port with a fresh data directory.
func withBroker(
    settings: [(String, String)] = [], dataDirectory: String? = nil, configure: (inout BrokerConfig) -> Void = { _ in },
    _ body: (Broker, Int) async throws -> Void
) async throws {
    let directory = dataDirectory ?? NSTemporaryDirectory() + "apus-broker-test-" + UUID().uuidString
    var config = BrokerConfig()
    try config.apply([("log.dirs", directory), ("listeners", "PLAINTEXT://127.0.0.1:0"), ("num.network.threads", "2")] + settings)
    config.metricsHost = nil
    configure(&config)
    let broker = try await Broker.start(config: config)
    do {
        try await body(broker, broker.port)
    } catch {
        try await broker.shutdown()
        throw error
    }
    try await broker.shutdown()
    if dataDirectory == nil { try? FileManager.default.removeItem(atPath: directory) }
}

func batch(_ values: [String], codec: CompressionCodec = .none) throws -> ByteBuffer {
    let records = values.enumerated().map { i, value in
        Record(timestamp: 1_700_000_000_000 + Int64(i), key: Array("k\(i)".utf8), value: Array(value.utf8), headers: [RecordHeader(key: "h", value: [7])])
    }
    return ByteBuffer(bytes: try RecordBatchEncoder(compression: codec).encode(records))
}

func produceRequest(topic: String, partition: Int32 = 0, records: ByteBuffer?, acks: Int16 = 1) -> ProduceRequest {
    ProduceRequest(acks: acks, timeoutMs: 5000, topicData: [.init(name: topic, partitionData: [.init(index: partition, records: records)])])
}

func fetchRequest(topic: String, partition: Int32 = 0, offset: Int64, maxWaitMs: Int32 = 0, minBytes: Int32 = 0) -> FetchRequest {
    FetchRequest(
        replicaId: -1, maxWaitMs: maxWaitMs, minBytes: minBytes, maxBytes: 50 << 20, isolationLevel: 1,
        topics: [.init(topic: topic, partitions: [.init(partition: partition, fetchOffset: offset, partitionMaxBytes: 1 << 20)])])
}

func createTopic(_ client: TestClient, _ name: String, partitions: Int32 = 1) throws {
    let response = try client.call(
        CreateTopicsRequest(topics: [.init(name: name, numPartitions: partitions, replicationFactor: 1)], timeoutMs: 5000), version: 5)
    #expect(response.topics.first?.errorCode == 0)
}

@Suite(.serialized) struct BrokerTests {
    @Test func apiVersionsAdvertisesEveryHandlerAndAnswersUnknownVersionsInTheV0Layout() async throws {
        try await withBroker { _, port in
            let client = try TestClient(port: port)
            let v3 = try client.call(ApiVersionsRequest(clientSoftwareName: "apus-tests", clientSoftwareVersion: "1.0"), version: 3)
            #expect(v3.errorCode == 0)
            let produce = try #require(v3.apiKeys.first { $0.apiKey == ApiKey.produce.rawValue })
            #expect(produce.minVersion == 0 && produce.maxVersion == 9)
            let fetch = try #require(v3.apiKeys.first { $0.apiKey == ApiKey.fetch.rawValue })
            #expect(fetch.minVersion == 4 && fetch.maxVersion == 12)
            #expect(v3.apiKeys.contains { $0.apiKey == ApiKey.findCoordinator.rawValue && $0.minVersion == 0 })
            // A version we do not serve: v0 layout, UNSUPPORTED_VERSION, our ApiVersions range.
            let (bytes, id) = client.frame(ApiVersionsRequest(), version: 3)
            var patched = bytes
            patched[6] = 0
            patched[7] = 42  // api version 42
            try client.sendRaw(patched)
            var (correlation, body) = try client.readResponse(apiKey: .apiVersions, version: 0)
            #expect(correlation == id)
            let answer = try ApiVersionsResponse(from: &body, version: 0)
            #expect(answer.errorCode == KafkaErrorCode.unsupportedVersion.rawValue)
            #expect(answer.apiKeys == [.init(apiKey: 18, minVersion: 0, maxVersion: 3)])
            // Invalid client software name (KIP-511): INVALID_REQUEST.
            let invalid = try client.call(ApiVersionsRequest(clientSoftwareName: "-bad name", clientSoftwareVersion: "1"), version: 3)
            #expect(invalid.errorCode == KafkaErrorCode.invalidRequest.rawValue)
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withBroker { _, port in
            let client = try TestClient(port: port)
            // kafka-python 2.0.2's probe: ApiVersions v0 and Metadata v0 without waiting.
            let first = client.frame(ApiVersionsRequest(), version: 0)
            let second = client.frame(MetadataRequest(topics: []), version: 0)
            let third = client.frame(ApiVersionsRequest(), version: 1)
            try client.sendRaw(first.bytes + second.bytes + third.bytes)
            #expect(try client.readResponse(apiKey: .apiVersions, version: 0).correlationId == first.correlationId)
            var (id, body) = try client.readResponse(apiKey: .metadata, version: 0)
            #expect(id == second.correlationId)
            let metadata = try MetadataResponse(from: &body, version: 0)
            #expect(metadata.brokers.first?.port == Int32(port))
            #expect(try client.readResponse(apiKey: .apiVersions, version: 1).correlationId == third.correlationId)
        }
    }

    /// One-partition Produce requests for a partition on the connection's loop and on the
    /// other, with every answer path: durable (`flush.messages=1`, the answer waits for the
    /// sync), acks=0 (no answer), a batch the log refuses (its CRC: found on the partition's
    /// loop), and acks=0 with such a batch, which closes the connection.
    @Test func oneProducePartitionAnswersOnEveryPathWhicheverLoopOwnsIt() async throws {
        try await withBroker(settings: [("log.flush.interval.messages", "1")]) { _, port in
            let admin = try TestClient(port: port)
            try createTopic(admin, "paths", partitions: 2)
            var corrupt = try batch(["x"])
            corrupt.setInteger(UInt8(0xFF), at: corrupt.writerIndex - 1)
            for partition: Int32 in [0, 1] {
                let client = try TestClient(port: port)
                let durable = try client.call(produceRequest(topic: "paths", partition: partition, records: try batch(["d1", "d2"]), acks: -1), version: 7)
                #expect(durable.responses[0].partitionResponses[0].errorCode == 0 && durable.responses[0].partitionResponses[0].baseOffset == 0)
                try client.sendRaw(client.frame(produceRequest(topic: "paths", partition: partition, records: try batch(["z"]), acks: 0), version: 7).bytes)
                let refused = try client.call(produceRequest(topic: "paths", partition: partition, records: corrupt, acks: 1), version: 7)
                #expect(refused.responses[0].partitionResponses[0].errorCode == KafkaErrorCode.corruptMessage.rawValue)
                let fetched = try client.call(fetchRequest(topic: "paths", partition: partition, offset: 0), version: 11)
                let stored = try RecordBatchDecoder.decodeAll(Array(try #require(fetched.responses[0].partitions[0].records).readableBytesView))
                #expect(stored.flatMap(\.records).compactMap(\.value) == ["d1", "d2", "z"].map { Array($0.utf8) })
                try client.sendRaw(client.frame(produceRequest(topic: "paths", partition: partition, records: corrupt, acks: 0), version: 7).bytes)
                #expect(client.isClosedByPeer())
            }
        }
    }

    /// Consecutive partitions live on alternate event loops, so of these Produce requests some
    /// are answered at once (the connection's loop owns the partition) and some later (another
    /// loop does); Metadata is always answered later, a refusal at once. More are sent than
    /// the connection starts at a time, so the rest start as answers go out.
    @Test func pipelinedProducesAreAnsweredInOrderWhetherAnsweredAtOnceOrLater() async throws {
        try await withBroker { _, port in
            let client = try TestClient(port: port)
            try createTopic(client, "mixed", partitions: 4)
            enum Sent { case produce(partition: Int32), metadata, refused }
            var bytes: [UInt8] = []
            var sent: [(Sent, Int32)] = []
            let records = try batch(["a", "b"])
            for i in 0..<300 {
                let kind: Sent = i % 10 == 9 ? .metadata : i % 47 == 46 ? .refused : .produce(partition: Int32(i % 4))
                let frame = switch kind {
                case .produce(let partition): client.frame(produceRequest(topic: "mixed", partition: partition, records: records), version: 7)
                case .metadata: client.frame(MetadataRequest(topics: []), version: 1)
                case .refused: client.frame(produceRequest(topic: "absent", records: records), version: 7)
                }
                bytes += frame.bytes
                sent.append((kind, frame.correlationId))
            }
            try client.sendRaw(bytes)
            var nextOffset: [Int32: Int64] = [:]
            for (kind, correlationId) in sent {
                switch kind {
                case .produce(let partition):
                    var (id, body) = try client.readResponse(apiKey: .produce, version: 7)
                    #expect(id == correlationId)
                    let answer = try ProduceResponse(from: &body, version: 7).responses[0].partitionResponses[0]
                    #expect(answer.index == partition && answer.errorCode == 0)
                    #expect(answer.baseOffset == nextOffset[partition, default: 0])
                    nextOffset[partition, default: 0] += 2
                case .metadata:
                    #expect(try client.readResponse(apiKey: .metadata, version: 1).correlationId == correlationId)
                case .refused:
                    var (id, body) = try client.readResponse(apiKey: .produce, version: 7)
                    #expect(id == correlationId)
                    let answer = try ProduceResponse(from: &body, version: 7).responses[0].partitionResponses[0]
                    #expect(answer.errorCode == KafkaErrorCode.unknownTopicOrPartition.rawValue)
                }
            }
            #expect(nextOffset.values.reduce(0, +) == 2 * Int64(sent.filter { if case .produce = $0.0 { true } else { false } }.count))
        }
    }

    @Test func producedBatchesComeBackByteForByteAndSurviveARestart() async throws {
        let directory = NSTemporaryDirectory() + "apus-broker-restart-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var sent: [ByteBuffer] = []
        try await withBroker(dataDirectory: directory) { _, port in
            let client = try TestClient(port: port)
            try createTopic(client, "orders", partitions: 2)
            for (i, codec) in [CompressionCodec.none, .gzip, .lz4].enumerated() {
                let records = try batch((0..<100).map { "value-\(i)-\($0)" }, codec: codec)
                sent.append(records)
                let response = try client.call(produceRequest(topic: "orders", records: records), version: 7)
                let partition = try #require(response.responses.first?.partitionResponses.first)
                #expect(partition.errorCode == 0)
                #expect(partition.baseOffset == Int64(i * 100))
            }
        }
        try await withBroker(dataDirectory: directory) { _, port in
            let client = try TestClient(port: port)
            let response = try client.call(fetchRequest(topic: "orders", offset: 0), version: 11)
            let data = try #require(response.responses.first?.partitions.first)
            #expect(data.errorCode == 0 && data.highWatermark == 300 && data.lastStableOffset == 300)
            let records = try #require(data.records)
            let batches = try RecordBatchDecoder.decodeAll(Array(records.readableBytesView))
            #expect(batches.count == 3)
            #expect(batches.flatMap(\.records).map(\.offset) == Array(0..<300))
            #expect(String(decoding: batches[2].records[99].value!, as: UTF8.self) == "value-2-99")
            // Byte for byte, apart from the base offset the broker assigned.
            for (stored, original) in zip(batches, sent) {
                #expect(stored.header.attributes.compression == (try RecordBatchHeader.validated(Array(original.readableBytesView))).attributes.compression)
            }
            let offsets = try client.call(
                ListOffsetsRequest(replicaId: -1, topics: [.init(name: "orders", partitions: [
                    .init(partitionIndex: 0, timestamp: -2), .init(partitionIndex: 1, timestamp: -1),
                ])]), version: 7)
            #expect(offsets.topics[0].partitions.map(\.offset) == [0, 0])
            let byTime = try client.call(
                ListOffsetsRequest(replicaId: -1, topics: [.init(name: "orders", partitions: [.init(partitionIndex: 0, timestamp: 1_700_000_000_050)])]),
                version: 1)
            #expect(byTime.topics[0].partitions[0].offset == 50)
        }
    }

    @Test func fetchLongPollWaitsForDataAndListsEveryPartition() async throws {
        try await withBroker { _, port in
            let client = try TestClient(port: port)
            try createTopic(client, "wait", partitions: 2)
            // Nothing there: the answer comes after MaxWaitMs, empty, listing both partitions.
            let started = ContinuousClock.now
            var request = fetchRequest(topic: "wait", offset: 0, maxWaitMs: 300, minBytes: 1)
            request.topics[0].partitions.append(.init(partition: 1, fetchOffset: 0, partitionMaxBytes: 1 << 20))
            let empty = try client.call(request, version: 12)
            #expect(ContinuousClock.now - started >= .milliseconds(250))
            #expect(empty.responses[0].partitions.map(\.partitionIndex) == [0, 1])
            #expect(empty.sessionId == 0)
            // A waiting fetch is answered as soon as data arrives.
            let (bytes, id) = client.frame(fetchRequest(topic: "wait", offset: 0, maxWaitMs: 10_000, minBytes: 1), version: 11)
            try client.sendRaw(bytes)
            let producer = try TestClient(port: port)
            let sentAt = ContinuousClock.now
            _ = try producer.call(produceRequest(topic: "wait", records: try batch(["wake up"])), version: 7)
            var (correlation, body) = try client.readResponse(apiKey: .fetch, version: 11)
            #expect(ContinuousClock.now - sentAt < .seconds(5))
            #expect(correlation == id)
            let woken = try FetchResponse(from: &body, version: 11)
            let records = try RecordBatchDecoder.decodeAll(Array(woken.responses[0].partitions[0].records!.readableBytesView))
            #expect(records.first?.records.first?.value == Array("wake up".utf8))
        }
    }

    /// A Produce request for several partitions, on the connection's loop and others, some
    /// refused: each partition is answered in request order with its own base offset or error;
    /// with acks=0 nothing is answered, and a refused partition closes the connection.
    @Test func produceOfPartitionsOnSeveralLoopsAnswersEachPartition() async throws {
        try await withBroker(settings: [("num.network.threads", "3")]) { _, port in
            let client = try TestClient(port: port)
            try createTopic(client, "many", partitions: 4)
            try createTopic(client, "few", partitions: 2)
            var corrupt = try batch(["x"])
            corrupt.setInteger(UInt8(0xFF), at: corrupt.writerIndex - 1)
            func request(acks: Int16, bad: Bool) throws -> ProduceRequest {
                ProduceRequest(acks: acks, timeoutMs: 5000, topicData: [
                    .init(name: "many", partitionData: try [3, 0, 2, 1].map { .init(index: $0, records: try batch(["m\($0)-a", "m\($0)-b"])) }
                        + (bad ? [.init(index: 7, records: try batch(["nowhere"]))] : [])),
                    .init(name: "few", partitionData: [.init(index: 1, records: bad ? corrupt : try batch(["f1"])), .init(index: 0, records: try batch(["f0"]))]),
                ])
            }
            for round in 0..<2 {
                let answer = try client.call(try request(acks: 1, bad: true), version: 9)
                #expect(answer.responses.map(\.name) == ["many", "few"])
                let many = answer.responses[0].partitionResponses
                #expect(many.map(\.index) == [3, 0, 2, 1, 7])
                #expect(many.prefix(4).allSatisfy { $0.errorCode == 0 && $0.baseOffset == Int64(round * 2) })
                #expect(many[4].errorCode == KafkaErrorCode.unknownTopicOrPartition.rawValue)
                let few = answer.responses[1].partitionResponses
                #expect(few.map(\.index) == [1, 0] && few.map(\.errorCode) == [KafkaErrorCode.corruptMessage.rawValue, 0])
                #expect(few[1].baseOffset == Int64(round))
            }
            // acks=0: no answer; the next request on the connection is answered as usual.
            try client.sendRaw(client.frame(try request(acks: 0, bad: false), version: 9).bytes)
            let fetched = try client.call(fetchRequest(topic: "few", partition: 1, offset: 0), version: 11)
            let stored = try RecordBatchDecoder.decodeAll(Array(try #require(fetched.responses[0].partitions[0].records).readableBytesView))
            #expect(stored.flatMap(\.records).compactMap(\.value) == [Array("f1".utf8)])
            // acks=0 with a refused partition: the connection is closed, as Kafka does.
            try client.sendRaw(client.frame(try request(acks: 0, bad: true), version: 9).bytes)
            #expect(client.isClosedByPeer())
        }
    }

    /// A fetch of partitions owned by several event loops, some on the connection's own loop
    /// (read at once) and some on others (read there and handed back), in the int32-prefixed
    /// (v11) and compact (v12) records encodings: every partition's batches come back byte for
    /// byte, in request order, and the response's MaxBytes keeps only the first with data (KIP-74).
    @Test func fetchOfPartitionsOnSeveralLoopsReturnsEachPartitionsBatches() async throws {
        try await withBroker(settings: [("num.network.threads", "3")]) { _, port in
            let client = try TestClient(port: port)
            try createTopic(client, "multi", partitions: 5)
            try createTopic(client, "solo")
            var sent: [String: [UInt8]] = [:]
            for (topic, partition) in (0..<5).map({ ("multi", Int32($0)) }) + [("solo", 0)] {
                // Sizes differ per partition, and one batch passes 127 bytes so a compact length prefix needs two bytes.
                let records = try batch((0...Int(partition) * 7).map { "\(topic)-\(partition)-value-\($0)" })
                sent["\(topic)-\(partition)"] = Array(records.readableBytesView)
                let answer = try client.call(produceRequest(topic: topic, partition: partition, records: records), version: 7)
                #expect(answer.responses[0].partitionResponses[0].errorCode == 0)
            }
            var request = FetchRequest(
                replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 50 << 20, isolationLevel: 1,
                topics: [
                    .init(topic: "multi", partitions: [4, 0, 3, 1, 2].map { .init(partition: $0, fetchOffset: 0, partitionMaxBytes: 1 << 20) }),
                    .init(topic: "solo", partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20)]),
                ])
            for version: Int16 in [11, 12] {
                let response = try client.call(request, version: version)
                #expect(response.responses.map(\.topic) == ["multi", "solo"])
                #expect(response.responses[0].partitions.map(\.partitionIndex) == [4, 0, 3, 1, 2])
                for topic in response.responses {
                    for data in topic.partitions {
                        let key = "\(topic.topic)-\(data.partitionIndex)"
                        #expect(data.errorCode == 0 && data.highWatermark == Int64(data.partitionIndex) * 7 + 1, "\(key)")
                        var stored = Array(try #require(data.records).readableBytesView)
                        var original = try #require(sent[key])
                        // Byte for byte, apart from the partition leader epoch the broker stamps.
                        stored.replaceSubrange(12..<16, with: [0, 0, 0, 0])
                        original.replaceSubrange(12..<16, with: [0, 0, 0, 0])
                        #expect(stored == original, "\(key) v\(version)")
                    }
                }
            }
            // A response MaxBytes of 1 still returns the first partition with data, whole, and no other.
            request.maxBytes = 1
            for version: Int16 in [11, 12] {
                let limited = try client.call(request, version: version)
                let sizes = limited.responses.flatMap(\.partitions).map { $0.records?.readableBytes ?? 0 }
                #expect(sizes.first == sent["multi-4"]?.count && sizes.dropFirst().allSatisfy { $0 == 0 }, "v\(version) \(sizes)")
            }
            // A long poll over every partition, at their ends, is answered by an append to any one of them.
            var ends = (0..<5).map { Int64($0) * 7 + 1 }
            for woken in [4, 1, 2] {
                let waiting = FetchRequest(
                    replicaId: -1, maxWaitMs: 10_000, minBytes: 1, maxBytes: 50 << 20, isolationLevel: 1,
                    topics: [.init(topic: "multi", partitions: (0..<5).map { .init(partition: Int32($0), fetchOffset: ends[$0], partitionMaxBytes: 1 << 20) })])
                let (bytes, id) = client.frame(waiting, version: 12)
                try client.sendRaw(bytes)
                let producer = try TestClient(port: port)
                _ = try producer.call(produceRequest(topic: "multi", partition: Int32(woken), records: try batch(["late \(woken)"])), version: 7)
                var (correlation, body) = try client.readResponse(apiKey: .fetch, version: 12)
                #expect(correlation == id)
                let answer = try FetchResponse(from: &body, version: 12)
                let withData = answer.responses[0].partitions.filter { ($0.records?.readableBytes ?? 0) > 0 }
                #expect(withData.map(\.partitionIndex) == [Int32(woken)])
                let batches = try RecordBatchDecoder.decodeAll(Array(try #require(withData.first?.records).readableBytesView))
                #expect(batches.map { $0.header.baseOffset } == [ends[woken]])
                #expect(batches.first?.records.first?.value == Array("late \(woken)".utf8))
                ends[woken] += 1
            }
            // The connection reuses one fetch operation: answers shrink and grow with the requests.
            let unknown = try client.call(fetchRequest(topic: "multi", partition: 9, offset: 0), version: 12)
            #expect(unknown.responses.count == 1 && unknown.responses[0].partitions.count == 1)
            #expect(unknown.responses[0].partitions[0].errorCode == KafkaErrorCode.unknownTopicOrPartition.rawValue)
            #expect(unknown.responses[0].partitions[0].records?.readableBytes == 0)
            request.maxBytes = 50 << 20
            let again = try client.call(request, version: 12)
            #expect(again.responses.map(\.topic) == ["multi", "solo"])
            #expect(again.responses.flatMap(\.partitions).map(\.partitionIndex) == [4, 0, 3, 1, 2, 0])
            #expect(again.responses.flatMap(\.partitions).allSatisfy { $0.errorCode == 0 && ($0.records?.readableBytes ?? 0) > 0 })
            let expectedEnds: [Int64] = [4, 0, 3, 1, 2].map { ends[$0] }
            #expect(again.responses[0].partitions.map(\.highWatermark) == expectedEnds)
        }
    }

    /// Fetches answered at once, after a long poll, from the connection's loop and from others
    /// leave nothing holding a segment file: once the topic is deleted, no descriptor of the
    /// process points into it (a fetch kept alive by its own wake-up closure once did).
    @Test func answeredFetchesKeepNoDeletedSegmentOpen() async throws {
        try await withBroker(settings: [("num.network.threads", "3"), ("log.segment.bytes", "1024")]) { broker, port in
            let client = try TestClient(port: port)
            try createTopic(client, "held", partitions: 3)
            let producer = try TestClient(port: port)
            var ends: [Int64] = [0, 0, 0]
            for round in 0..<3 {
                for woken in 0..<3 {
                    let waiting = FetchRequest(
                        replicaId: -1, maxWaitMs: 10_000, minBytes: 1, maxBytes: 50 << 20, isolationLevel: 1,
                        topics: [.init(topic: "held", partitions: (0..<3).map { .init(partition: Int32($0), fetchOffset: ends[$0], partitionMaxBytes: 1 << 20) })])
                    let (bytes, _) = client.frame(waiting, version: 12)
                    try client.sendRaw(bytes)
                    let values = (0..<20).map { "round \(round) partition \(woken) value \($0) padded to roll segments" }
                    _ = try producer.call(produceRequest(topic: "held", partition: Int32(woken), records: try batch(values)), version: 7)
                    var (_, body) = try client.readResponse(apiKey: .fetch, version: 12)
                    let answer = try FetchResponse(from: &body, version: 12)
                    #expect(answer.responses[0].partitions[woken].records?.readableBytes ?? 0 > 0)
                    ends[woken] += 20
                }
            }
            let everything = try client.call(
                FetchRequest(replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 50 << 20, isolationLevel: 1,
                    topics: [.init(topic: "held", partitions: (0..<3).map { .init(partition: Int32($0), fetchOffset: 0, partitionMaxBytes: 1 << 20) })]),
                version: 11)
            #expect(everything.responses[0].partitions.allSatisfy { ($0.records?.readableBytes ?? 0) > 0 })
            let deleted = try client.call(DeleteTopicsRequest(topicNames: ["held"], timeoutMs: 5000), version: 4)
            #expect(deleted.responses.first?.errorCode == 0)
            func openIntoTopic() -> [String] {
                let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
                return descriptors.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)") }
                    .filter { $0.contains(broker.context.config.dataDirectory) && $0.contains("/held-") }
            }
            let deadline = ContinuousClock.now + .seconds(5)
            while !openIntoTopic().isEmpty && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(openIntoTopic() == [])
        }
    }

    @Test func errorsMapToKafkaCodes() async throws {
        try await withBroker(settings: [("auto.create.topics.enable", "false"), ("message.max.bytes", "2000")]) { _, port in
            let client = try TestClient(port: port)
            try createTopic(client, "errs")
            func produceError(_ records: ByteBuffer?, topic: String = "errs", version: Int16 = 7) throws -> Int16 {
                try client.call(produceRequest(topic: topic, records: records), version: version).responses[0].partitionResponses[0].errorCode
            }
            #expect(try produceError(try batch(["x"]), topic: "nope") == KafkaErrorCode.unknownTopicOrPartition.rawValue)
            var corrupt = try batch(["x"])
            corrupt.setInteger(UInt8(0xFF), at: corrupt.writerIndex - 1)
            #expect(try produceError(corrupt) == KafkaErrorCode.corruptMessage.rawValue)
            #expect(try produceError(try batch([String(repeating: "x", count: 5000)])) == KafkaErrorCode.messageTooLarge.rawValue)
            var twoBatches = try batch(["a"])
            var second = try batch(["b"])
            twoBatches.writeBuffer(&second)
            #expect(try produceError(twoBatches) == KafkaErrorCode.invalidRecord.rawValue)
            var zstd = Array(try batch(["z"]).readableBytesView)
            zstd[22] = 4
            RecordBatchEncoder.updateChecksum(&zstd)
            #expect(try produceError(ByteBuffer(bytes: zstd), version: 5) == KafkaErrorCode.unsupportedCompressionType.rawValue)
            let badAcks = try client.call(produceRequest(topic: "errs", records: try batch(["x"]), acks: 2), version: 7)
            #expect(badAcks.responses[0].partitionResponses[0].errorCode == KafkaErrorCode.invalidRequiredAcks.rawValue)
            let outOfRange = try client.call(fetchRequest(topic: "errs", offset: 99), version: 11)
            #expect(outOfRange.responses[0].partitions[0].errorCode == KafkaErrorCode.offsetOutOfRange.rawValue)
            let metadata = try client.call(MetadataRequest(topics: [.init(name: "missing")], allowAutoTopicCreation: true), version: 9)
            #expect(metadata.topics[0].errorCode == KafkaErrorCode.unknownTopicOrPartition.rawValue)
            let created = try client.call(CreateTopicsRequest(topics: [
                .init(name: "bad/name", numPartitions: 1, replicationFactor: 1),
                .init(name: "errs", numPartitions: 1, replicationFactor: 1),
                .init(name: "rf3", numPartitions: 1, replicationFactor: 3),
                .init(name: "cfg", numPartitions: 1, replicationFactor: 1, configs: [.init(name: "retention.ms", value: "soon")]),
            ], timeoutMs: 1000), version: 5)
            #expect(created.topics.map(\.errorCode) == [
                KafkaErrorCode.invalidTopicException.rawValue, KafkaErrorCode.topicAlreadyExists.rawValue,
                KafkaErrorCode.invalidReplicationFactor.rawValue, KafkaErrorCode.invalidConfig.rawValue,
            ])
        }
    }

    @Test func acksZeroGetsNoResponse() async throws {
        try await withBroker { _, port in
            let client = try TestClient(port: port)
            try createTopic(client, "fire")
            let (bytes, _) = client.frame(produceRequest(topic: "fire", records: try batch(["and forget"]), acks: 0), version: 7)
            try client.sendRaw(bytes)
            // The next response belongs to the next request: nothing was sent for acks=0.
            let offsets = try client.call(
                ListOffsetsRequest(replicaId: -1, topics: [.init(name: "fire", partitions: [.init(partitionIndex: 0, timestamp: -1)])]), version: 2)
            #expect(offsets.topics[0].partitions[0].offset == 1)
        }
    }

    @Test func hostileFramesCloseOnlyTheirConnection() async throws {
        try await withBroker { _, port in
            let healthy = try TestClient(port: port)
            try createTopic(healthy, "safe")
            let huge = try TestClient(port: port)
            try huge.sendRaw([0x7F, 0xFF, 0xFF, 0xFF, 0, 1, 2])  // declares 2 GiB
            #expect(huge.isClosedByPeer())
            let negative = try TestClient(port: port)
            try negative.sendRaw([0xFF, 0xFF, 0xFF, 0xF0])
            #expect(negative.isClosedByPeer())
            let unknownKey = try TestClient(port: port)
            try unknownKey.sendRaw([0, 0, 0, 10, 0x7F, 0x00, 0, 0, 0, 0, 0, 1, 0, 0])
            #expect(unknownKey.isClosedByPeer())
            let garbage = try TestClient(port: port)
            // A Metadata v9 request whose topic array claims 2^31 entries.
            try garbage.sendRaw([0, 0, 0, 14, 0, 3, 0, 9, 0, 0, 0, 7, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0xFF])
            #expect(garbage.isClosedByPeer())
            // The healthy connection kept working throughout.
            let response = try healthy.call(produceRequest(topic: "safe", records: try batch(["still here"])), version: 9)
            #expect(response.responses[0].partitionResponses[0].errorCode == 0)
        }
    }

    @Test func topicAdminCreatesGrowsDescribesAndDeletes() async throws {
        try await withBroker { _, port in
            let client = try TestClient(port: port)
            let created = try client.call(CreateTopicsRequest(topics: [
                .init(name: "admin", numPartitions: 2, replicationFactor: -1, configs: [.init(name: "retention.ms", value: "60000")])
            ], timeoutMs: 1000), version: 5)
            #expect(created.topics[0].errorCode == 0 && created.topics[0].numPartitions == 2)
            #expect(created.topics[0].configs?.first { $0.name == "retention.ms" }?.value == "60000")
            let grown = try client.call(CreatePartitionsRequest(topics: [.init(name: "admin", count: 5)], timeoutMs: 1000), version: 3)
            #expect(grown.results[0].errorCode == 0)
            let shrink = try client.call(CreatePartitionsRequest(topics: [.init(name: "admin", count: 3)], timeoutMs: 1000), version: 3)
            #expect(shrink.results[0].errorCode == KafkaErrorCode.invalidPartitions.rawValue)
            let metadata = try client.call(MetadataRequest(topics: [.init(name: "admin")]), version: 12)
            #expect(metadata.topics[0].partitions.count == 5 && metadata.topics[0].topicId != .zero)
            let configs = try client.call(DescribeConfigsRequest(resources: [.init(resourceType: 2, resourceName: "admin", configurationKeys: nil)]), version: 4)
            let retention = try #require(configs.results[0].configs.first { $0.name == "retention.ms" })
            #expect(retention.value == "60000" && retention.configSource == 1)
            #expect(configs.results[0].configs.first { $0.name == "segment.bytes" }?.configSource == 5)
            _ = try client.call(produceRequest(topic: "admin", records: try batch(["a", "b", "c"])), version: 9)
            let deleted = try client.call(DeleteRecordsRequest(topics: [.init(name: "admin", partitions: [.init(partitionIndex: 0, offset: 2)])], timeoutMs: 1000), version: 2)
            #expect(deleted.topics[0].partitions[0].lowWatermark == 2)
            let earliest = try client.call(ListOffsetsRequest(replicaId: -1, topics: [.init(name: "admin", partitions: [.init(partitionIndex: 0, timestamp: -2)])]), version: 5)
            #expect(earliest.topics[0].partitions[0].offset == 2)
            let gone = try client.call(DeleteTopicsRequest(topicNames: ["admin", "never", "__consumer_offsets"], timeoutMs: 1000), version: 4)
            #expect(gone.responses.map(\.errorCode) == [0, KafkaErrorCode.unknownTopicOrPartition.rawValue, KafkaErrorCode.invalidRequest.rawValue])
            let after = try client.call(MetadataRequest(topics: nil), version: 12)
            #expect(after.topics.map(\.name) == ["__consumer_offsets"])  // only the internal topic is left
        }
    }
}

@Suite struct BrokerConfigTests {
    @Test func readsKafkaPropertyNamesWithKafkasPrecedence() throws {
        var config = BrokerConfig()
        try config.apply(BrokerConfig.parseProperties("""
            # comment
            log.dirs=/var/lib/apus,/other
            listeners=PLAINTEXT://0.0.0.0:9093
            advertised.listeners=PLAINTEXT://broker.example:19093
            node.id=3
            num.partitions=6
            log.retention.hours=24
            log.retention.ms=1000
            log.segment.bytes=1048576
            log.flush.interval.messages=1
            auto.create.topics.enable=false
            apus.log.writeback.bytes=0
            offsets.retention.minutes=1440
            offsets.retention.check.interval.ms=1000
            """))
        #expect(config.dataDirectory == "/var/lib/apus")
        #expect(config.listenHost == "0.0.0.0" && config.listenPort == 9093)
        #expect(config.advertisedAddress.host == "broker.example" && config.advertisedAddress.port == 19093)
        #expect(config.nodeId == 3 && config.numPartitions == 6 && !config.autoCreateTopics)
        #expect(config.logDefaults.retentionMs == 1000)
        #expect(config.logDefaults.segmentBytes == 1 << 20 && config.logDefaults.flushMessages == 1)
        #expect(config.logDefaults.writebackBytes == 0 && BrokerConfig().logDefaults.writebackBytes == 8 << 20)
        #expect(config.groupCoordinator.offsetsRetentionMs == 86_400_000 && config.groupCoordinator.offsetsRetentionCheckIntervalMs == 1000)
        #expect(BrokerConfig().groupCoordinator.offsetsRetentionMs == 604_800_000)
    }

    /// A `server.properties` as Java reads it: the `key value` and `key: value` forms, a value
    /// continued on the next line, escapes, trailing blanks and CRLF line ends.
    @Test func serverPropertiesAreReadAsJavaReadsThem() throws {
        var config = BrokerConfig()
        try config.apply(BrokerConfig.parseProperties(
            "log.dirs /var/lib/apus,\\\r\n    /other  \r\nnode.id: 7\r\nlisteners=PLAINTEXT\\://127.0.0.1\\:9094\r\n"))
        #expect(config.dataDirectory == "/var/lib/apus" && config.nodeId == 7)
        #expect(config.listenHost == "127.0.0.1" && config.listenPort == 9094)
        // A line without a separator is a key with an empty value, refused with its name.
        var keyOnly = BrokerConfig()
        #expect(throws: ConfigError.self) { try keyOnly.apply(BrokerConfig.parseProperties("num.partitions\n")) }
    }

    @Test func badValuesAreRejectedWithTheKeyNamed() {
        var config = BrokerConfig()
        #expect(throws: ConfigError.self) { try config.apply([("num.partitions", "zero")]) }
        #expect(throws: ConfigError.self) { try config.apply([("listeners", "SSL_TYPO://:9093")]) }
        #expect(throws: ConfigError.self) { try config.apply([("no.such.property", "1")]) }
        #expect(throws: ConfigError.self) { try config.apply([("listeners", "PLAINTEXT://host")]) }
        #expect(throws: ConfigError.self) { try config.apply([("apus.log.writeback.bytes", "-1")]) }
        #expect(throws: ConfigError.self) { try config.apply([("offsets.retention.minutes", "0")]) }
        #expect(throws: ConfigError.self) { try config.apply([("offsets.retention.minutes", "\(Int64.max)")]) }
    }
}
