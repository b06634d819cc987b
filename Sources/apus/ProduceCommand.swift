import ApusClient
import ApusRecord
import ArgumentParser
import Foundation

/// `apus produce`: one record per line from stdin or files, as `kcat -P`.
struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce", abstract: "Produce one record per input line (stdin, or the files given).")

    @OptionGroup var broker: BrokerOptions
    @Option(name: [.customShort("t"), .long], help: "The topic.") var topic: String
    @Option(name: [.customShort("k"), .customLong("key-delimiter")], help: "Split each line at the first DELIM into key and value.")
    var keyDelimiter: String?
    @Option(name: [.customShort("p"), .long], help: "Write to this partition (default: murmur2 of the key; sticky for no key).")
    var partition: Int32?
    @Option(name: [.customShort("z"), .long], help: "Compression: none, gzip or lz4 (default none).") var compression = "none"
    @Option(name: [.customShort("H"), .customLong("header")], help: "A header name=value added to every record; repeatable.")
    var headers: [String] = []
    @Argument(help: "Input files (default: stdin).") var files: [String] = []

    func validate() throws {
        guard ["none", "gzip", "lz4"].contains(compression) else { throw ValidationError("compression must be none, gzip or lz4, not '\(compression)'") }
        if let keyDelimiter, keyDelimiter.isEmpty { throw ValidationError("the key delimiter must not be empty") }
        for header in headers where !header.contains("=") { throw ValidationError("header '\(header)' is not name=value") }
    }

    func run() async throws {
        try await CommandFailure.report {
            let recordHeaders = headers.map { entry -> RecordHeader in
                let equals = entry.firstIndex(of: "=")!
                return RecordHeader(key: String(entry[..<equals]), value: Array(entry[entry.index(after: equals)...].utf8))
            }
            let admin = try await broker.admin()
            await admin.close()
            var configuration = ProducerConfiguration(bootstrapServers: broker.addresses)
            configuration.clientId = "apus-cli"
            configuration.security = try broker.security()
            configuration.compression = CompressionCodec(name: compression)!
            configuration.deliveryTimeout = .seconds(30)
            let producer = Producer(configuration: configuration)
            var pending: [PendingDelivery] = []
            func send(_ line: Substring) async throws {
                var key: [UInt8]? = nil
                var value = line
                if let keyDelimiter, let range = line.range(of: keyDelimiter) {
                    key = Array(line[..<range.lowerBound].utf8)
                    value = line[range.upperBound...]
                }
                pending.append(try await producer.submit(ProducerRecord(
                    topic: topic, partition: partition, key: key, value: Array(value.utf8), headers: recordHeaders)))
                if pending.count >= 10_000 {
                    for delivery in pending { _ = try await delivery.metadata() }
                    pending.removeAll(keepingCapacity: true)
                }
            }
            do {
                if files.isEmpty {
                    while let line = readLine(strippingNewline: true) { try await send(Substring(line)) }
                } else {
                    for file in files {
                        guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read \(file)") }
                        var text = String(decoding: data, as: UTF8.self)
                        if text.hasSuffix("\n") { text.removeLast() }
                        if text.isEmpty { continue }
                        for line in text.split(separator: "\n", omittingEmptySubsequences: false) { try await send(line) }
                    }
                }
                await producer.flush()
                for delivery in pending { _ = try await delivery.metadata() }
            } catch {
                await producer.close()
                throw error
            }
            await producer.close()
        }
    }
}
