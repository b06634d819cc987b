import ApusBroker
import ApusClient
import ApusRecord
import Foundation
import Synchronization
import Testing

func withEmbeddedBroker(settings: [(String, String)] = [], _ body: (EmbeddedBroker) async throws -> Void) async throws {
    let broker = try await EmbeddedBroker.start(settings: settings)
    do {
        try await body(broker)
    } catch {
        try? await broker.stop()
        throw error
    }
    try await broker.stop()
}

func producerConfiguration(_ broker: EmbeddedBroker) -> ProducerConfiguration {
    var configuration = ProducerConfiguration(bootstrapServers: [broker.bootstrapAddress])
    configuration.linger = .milliseconds(2)
    return configuration
}

func consumerConfiguration(_ broker: EmbeddedBroker, groupId: String? = nil) -> ConsumerConfiguration {
    var configuration = ConsumerConfiguration(bootstrapServers: [broker.bootstrapAddress], groupId: groupId)
    configuration.autoOffsetReset = .earliest
    configuration.fetchMaxWait = .milliseconds(100)
    configuration.stopAtEndOfLog = true
    return configuration
}

/// Reads every record of the assigned partitions up to the end of the log.
func drain(_ consumer: Consumer) async throws -> [ConsumerRecord] {
    var all: [ConsumerRecord] = []
    for try await record in consumer.records { all.append(record) }
    return all
}

@Suite(.serialized) struct ClientTests {
    @Test func producedRecordsComeBackInOrderWithTheirOffsetsKeysAndHeaders() async throws {
        try await withEmbeddedBroker { broker in
            let admin = Admin(configuration: .init(bootstrapServers: [broker.bootstrapAddress]))
            try await admin.createTopic("orders", partitions: 3)
            let producer = Producer(configuration: producerConfiguration(broker))
            var deliveries: [PendingDelivery] = []
            for i in 0..<300 {
                deliveries.append(try await producer.submit(ProducerRecord(
                    topic: "orders", key: "key-\(i % 10)", value: "value-\(i)", headers: [RecordHeader(key: "n", value: Array("\(i)".utf8))])))
            }
            var written: [RecordMetadata] = []
            for delivery in deliveries { written.append(try await delivery.metadata()) }
            await producer.close()
            // Same key, same partition: the Java client's partition for it.
            for (i, metadata) in written.enumerated() {
                #expect(metadata.partition == Murmur2.partition(forKey: Array("key-\(i % 10)".utf8), partitionCount: 3))
            }
            let perPartition = Dictionary(grouping: written, by: \.partition)
            for (_, list) in perPartition { #expect(list.map(\.offset) == Array(0..<Int64(list.count))) }

            let consumer = Consumer(configuration: consumerConfiguration(broker))
            try await consumer.assign(topic: "orders", from: .beginning)
            let records = try await drain(consumer)
            await consumer.close()
            #expect(records.count == 300)
            for record in records {
                let i = Int(String(decoding: record.headers[0].value!, as: UTF8.self))!
                #expect(record.valueString == "value-\(i)")
                #expect(record.keyString == "key-\(i % 10)")
                #expect(written[i].partition == record.partition && written[i].offset == record.offset)
            }
            await admin.close()
        }
    }

    @Test(arguments: [CompressionCodec.gzip, .lz4])
    func compressedBatchesRoundTrip(codec: CompressionCodec) async throws {
        try await withEmbeddedBroker { broker in
            var configuration = producerConfiguration(broker)
            configuration.compression = codec
            configuration.linger = .milliseconds(20)
            let producer = Producer(configuration: configuration)
            var pending: [PendingDelivery] = []
            for i in 0..<500 { pending.append(try await producer.submit(ProducerRecord(topic: "zipped", partition: 0, value: String(repeating: "x", count: 50) + "\(i)"))) }
            await producer.flush()
            #expect(try await pending.last!.metadata().offset == 499)
            await producer.close()
            let consumer = Consumer(configuration: consumerConfiguration(broker))
            try await consumer.assign([TopicPartition("zipped", 0)], from: .offset(250))
            let records = try await drain(consumer)
            #expect(records.map(\.offset) == Array(250..<500))
            await consumer.close()
        }
    }

    @Test func microBatchesAreContiguousRunsOfOnePartition() async throws {
        try await withEmbeddedBroker { broker in
            let producer = Producer(configuration: producerConfiguration(broker))
            for i in 0..<100 { _ = try await producer.submit(ProducerRecord(topic: "runs", partition: 0, value: "\(i)")) }
            await producer.close()
            let consumer = Consumer(configuration: consumerConfiguration(broker))
            try await consumer.assign([TopicPartition("runs", 0)], from: .beginning)
            var next: Int64 = 0
            for try await batch in consumer.batches {
                #expect(batch.firstOffset == next)
                #expect(batch.records.map(\.offset) == Array(batch.firstOffset...batch.lastOffset))
                #expect(batch.highWatermark == 100)
                next = batch.nextOffset
            }
            #expect(next == 100)
            await consumer.close()
        }
    }

    @Test func seekToEndTimestampAndPauseResume() async throws {
        try await withEmbeddedBroker { broker in
            let producer = Producer(configuration: producerConfiguration(broker))
            for i in 0..<10 {
                _ = try await producer.send(ProducerRecord(topic: "seek", partition: 0, value: Array("\(i)".utf8), timestamp: 1_000 + Int64(i) * 10))
            }
            await producer.close()
            let partition = TopicPartition("seek", 0)
            let consumer = Consumer(configuration: consumerConfiguration(broker))
            try await consumer.assign([partition], from: .end)
            #expect(try await drain(consumer).isEmpty)
            await consumer.seek(partition, to: .timestamp(1_045))
            #expect(try await drain(consumer).map(\.offset) == [5, 6, 7, 8, 9])
            await consumer.seek(partition, to: .timestamp(9_999))
            #expect(try await drain(consumer).isEmpty)
            await consumer.seek(partition, to: .beginning)
            await consumer.pause([partition])
            #expect(await consumer.pausedPartitions == [partition])
            await consumer.resume([partition])
            #expect(try await drain(consumer).count == 10)
            await consumer.close()

            let admin = Admin(configuration: .init(bootstrapServers: [broker.bootstrapAddress]))
            #expect(try await admin.listOffsets(topic: "seek", at: .end) == [partition: 10])
            #expect(try await admin.listOffsets(topic: "seek", at: .timestamp(1_031)) == [partition: 4])
            await admin.close()
        }
    }

    @Test func aSeekDiscardsPrefetchedRecordsAndAPauseLosesNone() async throws {
        try await withEmbeddedBroker { broker in
            let producer = Producer(configuration: producerConfiguration(broker))
            for i in 0..<20 { _ = try await producer.send(ProducerRecord(topic: "prefetch", partition: 0, value: "\(i)")) }
            await producer.close()
            let partition = TopicPartition("prefetch", 0)
            var configuration = consumerConfiguration(broker)
            configuration.maxPartitionFetchBytes = 1  // one batch, of one record, per fetch
            let consumer = Consumer(configuration: configuration)
            try await consumer.assign([partition], from: .beginning)
            // Handing out offset 0 sends the fetch of offset 1; the seek makes its answer stale.
            #expect(try await consumer.nextBatch()?.records.map(\.offset) == [0])
            await consumer.seek(partition, to: .offset(10))
            #expect(try await drain(consumer).map(\.offset) == Array(10..<20))
            // A pause and resume while the fetch of offset 4 is out neither drops nor repeats it.
            await consumer.seek(partition, to: .offset(3))
            #expect(try await consumer.nextBatch()?.records.map(\.offset) == [3])
            await consumer.pause([partition])
            await consumer.resume([partition])
            #expect(try await drain(consumer).map(\.offset) == Array(4..<20))
            await consumer.close()
        }
    }

    @Test func adminCreatesDescribesGrowsAndDeletesTopics() async throws {
        try await withEmbeddedBroker { broker in
            let admin = Admin(configuration: .init(bootstrapServers: ["127.0.0.1:1", broker.bootstrapAddress]))
            try await admin.createTopic("admin-a", partitions: 2, configs: ["retention.ms": "60000"])
            await #expect(throws: KafkaClientError.self) { try await admin.createTopic("admin-a") }
            try await admin.createPartitions(topic: "admin-a", totalPartitions: 4)
            let described = try await admin.describeTopics(["admin-a"])
            #expect(described.first?.partitions.count == 4)
            #expect(described.first?.configs["retention.ms"] == "60000")
            #expect(try await admin.listTopics().contains("admin-a"))
            try await admin.deleteTopics(["admin-a"])
            #expect(try await !admin.listTopics().contains("admin-a"))
            await #expect(throws: KafkaClientError.unknownTopic("admin-a")) { try await admin.describeTopics(["admin-a"]) }
            await admin.close()
        }
    }

    @Test func unknownTopicAndUnreachableBrokerFailWithPlainErrors() async throws {
        try await withEmbeddedBroker(settings: [("auto.create.topics.enable", "false")]) { broker in
            let consumer = Consumer(configuration: consumerConfiguration(broker))
            await #expect(throws: KafkaClientError.unknownTopic("missing")) { try await consumer.assign(topic: "missing") }
            await consumer.close()
            var configuration = producerConfiguration(broker)
            configuration.allowAutoTopicCreation = false
            let producer = Producer(configuration: configuration)
            await #expect(throws: KafkaClientError.self) { try await producer.send(ProducerRecord(topic: "missing", value: "x")) }
            await producer.close()
        }
        let admin = Admin(configuration: .init(bootstrapServers: ["127.0.0.1:1"]))
        do {
            try await admin.ping()
            Issue.record("expected a connection failure")
        } catch let error as KafkaClientError {
            #expect(error.description.contains("127.0.0.1:1"))
        }
        await admin.close()
    }

    @Test func aSmallBufferAppliesBackpressureAndLosesNothing() async throws {
        try await withEmbeddedBroker { broker in
            var configuration = producerConfiguration(broker)
            configuration.bufferMemory = 4_096
            configuration.batchSize = 1_024
            let producer = Producer(configuration: configuration)
            var last: PendingDelivery?
            for i in 0..<2_000 { last = try await producer.submit(ProducerRecord(topic: "bp", partition: 0, value: "record-\(i)")) }
            #expect(try await last!.metadata().offset == 1_999)
            await producer.close()
            await #expect(throws: KafkaClientError.closed) { try await producer.send(ProducerRecord(topic: "bp", value: "late")) }
        }
    }

    @Test func deliveryCallbacksRunInOrderBeforeFlushReturns() async throws {
        try await withEmbeddedBroker { broker in
            var configuration = producerConfiguration(broker)
            // Batches of about 256 KiB: compressed when sealed, stamped with their sequence when sent.
            configuration.compression = .lz4
            configuration.batchSize = 256 << 10
            configuration.linger = .milliseconds(50)
            let producer = Producer(configuration: configuration)
            let delivered = Mutex<[Int64]>([])
            let count = 3_000
            for i in 0..<count {
                try await producer.submit(ProducerRecord(topic: "callbacks", partition: 0, value: String(repeating: "v", count: 200) + "\(i)")) {
                    result in
                    delivered.withLock { $0.append((try? result.get().offset) ?? -1) }
                }
            }
            await producer.flush()
            #expect(delivered.withLock { $0 } == Array(0..<Int64(count)))
            await producer.close()
            let consumer = Consumer(configuration: consumerConfiguration(broker))
            try await consumer.assign([TopicPartition("callbacks", 0)], from: .beginning)
            let records = try await drain(consumer)
            await consumer.close()
            #expect(records.map(\.valueString) == (0..<count).map { String(repeating: "v", count: 200) + "\($0)" })
        }
    }

    @Test func producerAndConsumerCarryOnAcrossABrokerRestart() async throws {
        try await withEmbeddedBroker { broker in
            let producer = Producer(configuration: producerConfiguration(broker))
            let consumer = Consumer(configuration: {
                var c = consumerConfiguration(broker)
                c.stopAtEndOfLog = false
                return c
            }())
            let admin = Admin(configuration: .init(bootstrapServers: [broker.bootstrapAddress]))
            try await admin.createTopic("restart")
            try await consumer.assign([TopicPartition("restart", 0)], from: .beginning)
            for i in 0..<100 { _ = try await producer.submit(ProducerRecord(topic: "restart", partition: 0, value: "\(i)")) }
            await producer.flush()
            var seen: [Int64] = []
            var iterator = consumer.records.makeAsyncIterator()
            while seen.count < 50, let record = try await iterator.next() { seen.append(record.offset) }
            try await broker.restart()
            // Records sent while and after the broker restarts arrive once each, in order.
            for i in 100..<200 { _ = try await producer.submit(ProducerRecord(topic: "restart", partition: 0, value: "\(i)")) }
            await producer.flush()
            while seen.count < 200, let record = try await iterator.next() { seen.append(record.offset) }
            #expect(seen == Array(0..<200))
            #expect(try await admin.listOffsets(topic: "restart", at: .end) == [TopicPartition("restart", 0): 200])
            await admin.close()
            await producer.close()
            await consumer.close()
        }
    }

    @Test func aDurableAcknowledgementComesOnlyAfterTheSync() async throws {
        // With flush.messages=1 every acknowledged record is already covered by the log's
        // recovery point (advanced only when an fdatasync completed); without a flush policy
        // acknowledgements do not wait and the recovery point stays where it was.
        for durable in [true, false] {
            try await withEmbeddedBroker(settings: durable ? [("log.flush.interval.messages", "1")] : []) { broker in
                let producer = Producer(configuration: producerConfiguration(broker))
                for i in 0..<20 {
                    let metadata = try await producer.send(ProducerRecord(topic: "durable", partition: 0, value: "v\(i)"))
                    let partition = try #require(broker.broker?.context.topics.partition("durable", 0))
                    let recoveryPoint = try await partition.execute { $0.checkpoint.recoveryPoint }.get()
                    if durable {
                        #expect(recoveryPoint >= metadata.offset + 1)
                    } else {
                        #expect(recoveryPoint == 0)
                    }
                }
                await producer.close()
            }
        }
    }
}
