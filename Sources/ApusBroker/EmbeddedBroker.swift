import Foundation
import Logging
import Synchronization

/// A broker inside the current process, for tests: a fresh temporary data directory, an
/// ephemeral port on 127.0.0.1, no metrics endpoint. Like franz-go's kfake or EmbeddedKafka.
///
/// ```swift
/// let broker = try await EmbeddedBroker.start()
/// let producer = Producer(configuration: .init(bootstrapServers: [broker.bootstrapAddress]))
/// …
/// try await broker.stop()   // also deletes the data directory
/// ```
///
/// `restart()` stops the broker cleanly and starts it again on the same port and data
/// directory, to test what clients do when their broker goes away and comes back.
public final class EmbeddedBroker: Sendable {
    /// The temporary data directory (deleted by ``stop()``).
    public let dataDirectory: String
    /// Kafka properties applied on top of the embedded defaults.
    public let settings: [(String, String)]
    private let state: Mutex<(broker: Broker?, port: Int)>

    /// `HOST:PORT` to bootstrap clients from.
    public var bootstrapAddress: String { "127.0.0.1:\(port)" }
    /// The port the broker listens on (the same across ``restart()``).
    public var port: Int { state.withLock { $0.port } }
    /// The address of a listener by name (e.g. "SASL_SSL"), when `listeners` names several.
    public func address(listener name: String) -> String? {
        guard let port = broker?.port(ofListener: name) else { return nil }
        return "127.0.0.1:\(port)"
    }
    /// The running broker, if started.
    public var broker: Broker? { state.withLock { $0.broker } }

    private init(dataDirectory: String, settings: [(String, String)]) {
        self.dataDirectory = dataDirectory
        self.settings = settings
        self.state = Mutex((nil, 0))
    }

    /// Starts a broker with `settings` (Kafka property names, e.g. `("num.partitions", "3")`).
    public static func start(
        settings: [(String, String)] = [], logger: Logger = Logger(label: "apus.embedded-broker", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> EmbeddedBroker {
        let directory = NSTemporaryDirectory() + "apus-embedded-" + UUID().uuidString
        let embedded = EmbeddedBroker(dataDirectory: directory, settings: settings)
        try await embedded.launch(port: 0, logger: logger)
        return embedded
    }

    private func launch(port: Int, logger: Logger) async throws {
        var config = BrokerConfig()
        try config.apply(
            [("log.dirs", dataDirectory), ("listeners", "PLAINTEXT://127.0.0.1:\(port)"), ("num.network.threads", "2")] + settings)
        config.metricsHost = nil
        var attempts = 0
        while true {
            do {
                let broker = try await Broker.start(config: config, logger: logger)
                state.withLock { $0 = (broker, broker.port) }
                return
            } catch {
                // The old listener's port may linger for a moment after a restart.
                attempts += 1
                if port == 0 || attempts > 50 { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Stops the broker cleanly and starts it again on the same port and data directory.
    public func restart(logger: Logger = Logger(label: "apus.embedded-broker", factory: { _ in SwiftLogNoOpLogHandler() })) async throws {
        let (broker, port) = state.withLock { ($0.broker, $0.port) }
        try await broker?.shutdown()
        state.withLock { $0.broker = nil }
        try await launch(port: port, logger: logger)
    }

    /// Stops the broker (without deleting anything), e.g. to test clients while it is down.
    public func pause() async throws {
        let broker = state.withLock { $0.broker }
        state.withLock { $0.broker = nil }
        try await broker?.shutdown()
    }

    /// Starts a paused broker again on the same port and data directory.
    public func resume(logger: Logger = Logger(label: "apus.embedded-broker", factory: { _ in SwiftLogNoOpLogHandler() })) async throws {
        guard broker == nil else { return }
        try await launch(port: port, logger: logger)
    }

    /// Stops the broker and deletes its data directory.
    public func stop() async throws {
        try await pause()
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }
}
