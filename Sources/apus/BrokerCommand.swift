import ApusBroker
import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus

/// `apus broker`: runs a single-node Kafka-compatible broker until Ctrl-C or SIGTERM.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run the broker (defaults: 127.0.0.1:9092, data in ./data).",
        discussion: """
            Settings use Kafka's server.properties names, from --config and --set (later wins). \
            Every flag also reads an environment variable: APUS_DATA_DIR, APUS_LISTEN, APUS_CONFIG, \
            APUS_METRICS, APUS_LOG_LEVEL; APUS_SET holds key=value pairs separated by commas.
            """)

    @Option(name: .long, help: "Data directory (log.dirs). Env: APUS_DATA_DIR.")
    var dataDir: String?

    @Option(name: .long, help: "Listener HOST:PORT, or Kafka listeners such as SASL_SSL://0.0.0.0:9093,PLAINTEXT://127.0.0.1:9092. Env: APUS_LISTEN.")
    var listen: String?

    @Option(name: .long, help: "A server.properties file. Env: APUS_CONFIG.")
    var config: String?

    @Option(name: .customLong("set"), help: "A Kafka property as key=value; repeatable. Env: APUS_SET (comma-separated).")
    var settings: [String] = []

    @Option(name: .long, help: "Prometheus endpoint HOST:PORT, or 'none' (default 127.0.0.1:9644). Env: APUS_METRICS.")
    var metrics: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error. Env: APUS_LOG_LEVEL.")
    var logLevel: String?

    func resolvedConfig() throws -> BrokerConfig {
        let environment = ProcessInfo.processInfo.environment
        var brokerConfig = BrokerConfig()
        var properties: [(String, String)] = []
        if let path = config ?? environment["APUS_CONFIG"] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("cannot read config file \(path)")
            }
            properties += BrokerConfig.parseProperties(text)
        }
        let pairs = (environment["APUS_SET"].map { $0.split(separator: ",").map(String.init) } ?? []) + settings
        for pair in pairs {
            guard let equals = pair.firstIndex(of: "=") else { throw ValidationError("--set \(pair): expected key=value") }
            properties.append((String(pair[..<equals]), String(pair[pair.index(after: equals)...])))
        }
        if let dataDir = dataDir ?? environment["APUS_DATA_DIR"] { properties.append(("log.dirs", dataDir)) }
        if let listen = listen ?? environment["APUS_LISTEN"] {
            properties.append(("listeners", listen.contains("://") ? listen : "PLAINTEXT://" + listen))
        }
        if let metrics = metrics ?? environment["APUS_METRICS"] { properties.append(("apus.metrics.listener", metrics)) }
        do {
            try brokerConfig.apply(properties)
            try brokerConfig.validate()
        } catch { throw ValidationError(error.description) }
        return brokerConfig
    }

    func run() async throws {
        let brokerConfig = try resolvedConfig()
        let levelName = logLevel ?? ProcessInfo.processInfo.environment["APUS_LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else { throw ValidationError("unknown log level \(levelName)") }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        raiseOpenFileLimit()
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "apus.broker")

        let broker: Broker
        do {
            broker = try await Broker.start(config: brokerConfig, logger: logger, metricsText: { registry.emitToString() })
        } catch {
            throw CleanExit.message("apus broker: cannot start: \(error)")
        }
        await SignalWaiter.waitForTermination()
        try await broker.shutdown()
    }
}

/// A broker keeps one descriptor per segment and per connection: take the hard limit.
func raiseOpenFileLimit() {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}

/// Waits for SIGINT or SIGTERM.
enum SignalWaiter {
    static func waitForTermination() async {
        let (signals, continuation) = AsyncStream<Int32>.makeStream()
        let queue = DispatchQueue(label: "apus.signals")
        let sources = [SIGINT, SIGTERM].map { signalNumber in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { continuation.yield(signalNumber) }
            source.resume()
            return source
        }
        for await _ in signals { break }
        for source in sources { source.cancel() }
    }
}
