import ApusClient
import ApusRecord
import ArgumentParser

/// Record values for the client benchmarks: JSON-like event text (user ids, event names,
/// timestamps, pages, countries), so LZ4 has the realistic work it has in tools/bench's
/// confluent-kafka producers (about 3x on 1 KiB values), not a few repeated strings.
enum BenchPayloads {
    /// `count` different values of exactly `size` bytes.
    static func jsonLike(size: Int, count: Int = 1000) -> [[UInt8]] {
        var generator = SystemRandomNumberGenerator()
        let events = ["click", "view", "buy", "scroll"]
        let countries = ["GB", "DE", "US", "FR", "JP"]
        return (0..<count).map { _ in
            var text = ""
            while text.utf8.count < size {
                text += "{\"user\": \(Int.random(in: 1...200_000, using: &generator)), "
                    + "\"event\": \"\(events.randomElement(using: &generator)!)\", "
                    + "\"ts\": \(1_700_000_000_000 + Int.random(in: 0...1_000_000, using: &generator)), "
                    + "\"page\": \"/p/\(Int.random(in: 1...5000, using: &generator))\", "
                    + "\"country\": \"\(countries.randomElement(using: &generator)!)\", "
                    + "\"ok\": \(Int.random(in: 0..<10, using: &generator) > 0)} "
            }
            return Array(text.utf8.prefix(size))
        }
    }
}

/// The producer side shared by `apus bench produce` and `apus bench latency`: the checks of
/// their producer flags, the topic (created when missing), and the producer configuration.
enum BenchProducerSetup {
    static func validate(compression: String, acks: String, partitions: Int32) throws {
        guard ["none", "gzip", "lz4"].contains(compression) else {
            throw ValidationError("compression must be none, gzip or lz4, not '\(compression)'")
        }
        guard ["all", "-1", "1"].contains(acks) else { throw ValidationError("acks must be all or 1, not '\(acks)'") }
        guard partitions > 0 else { throw ValidationError("partitions must be positive") }
    }

    /// Creates `topic` with `partitions` partitions unless it exists.
    static func ensureTopic(_ topic: String, partitions: Int32, broker: BrokerOptions) async throws {
        let admin = try await broker.admin()
        if try await !admin.listTopics().contains(topic) {
            try await admin.createTopic(topic, partitions: partitions)
        }
        await admin.close()
    }

    static func configuration(
        broker: BrokerOptions, clientId: String, compression: String, acks: String, lingerMs: Int, batchSize: Int
    ) throws -> ProducerConfiguration {
        var configuration = ProducerConfiguration(bootstrapServers: broker.addresses)
        configuration.clientId = clientId
        configuration.security = try broker.security()
        configuration.compression = CompressionCodec(name: compression)!
        configuration.acks = acks == "1" ? .leader : .all
        configuration.linger = .milliseconds(lingerMs)
        configuration.batchSize = batchSize
        configuration.deliveryTimeout = .seconds(60)
        return configuration
    }
}
