import ApusClient
import ArgumentParser
import Foundation

/// `apus consume`: records to stdout, as `kcat -C`.
struct ConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume", abstract: "Print a topic's records, one per line (or as FORMAT, or JSON).",
        discussion: """
            -f takes kcat's tokens: %t topic, %p partition, %o offset, %k key, %s value, %T timestamp (ms), \
            %h headers (name=value,…), %S value size, %% a percent sign, \\n newline, \\t tab. Default "%s\\n".
            With -g the consumer joins the group, reads the partitions it is given from the committed offsets \
            (-o decides where partitions without one start) and commits what it printed.
            """)

    @OptionGroup var broker: BrokerOptions
    @Option(name: [.customShort("t"), .long], help: "The topic.") var topic: String
    @Option(name: [.customShort("g"), .long], help: "Consume as a member of this group and commit offsets.") var group: String?
    @Option(name: [.customShort("o"), .long], parsing: .unconditional, help: "Start at beginning, end, OFFSET, -N (N before the end) or @TIMESTAMP_MS (default end).")
    var offset = "end"
    @Option(name: [.customShort("p"), .long], help: "Only this partition.") var partition: Int32?
    @Option(name: [.customShort("c"), .long], help: "Exit after COUNT records.") var count: Int?
    @Flag(name: .customShort("e"), help: "Exit at the end of the log.") var exitAtEnd = false
    @Option(name: [.customShort("f"), .long], help: "Output format (kcat tokens).") var format: String?
    @Flag(help: "One JSON object per record.") var json = false

    enum Start { case position(SeekPosition), fromEnd(Int64) }

    func start() throws -> Start {
        switch offset {
        case "beginning": return .position(.beginning)
        case "end": return .position(.end)
        default:
            if offset.hasPrefix("@"), let time = Int64(offset.dropFirst()) { return .position(.timestamp(time)) }
            if let value = Int64(offset) { return value < 0 ? .fromEnd(-value) : .position(.offset(value)) }
            throw ValidationError("offset must be beginning, end, OFFSET, -N or @TIMESTAMP_MS, not '\(offset)'")
        }
    }

    func validate() throws {
        _ = try start()
        if let count, count < 1 { throw ValidationError("count must be at least 1") }
        if json && format != nil { throw ValidationError("give -f or --json, not both") }
        if group != nil && partition != nil { throw ValidationError("-p cannot be used with -g (the group assigns partitions)") }
    }

    func run() async throws {
        try await CommandFailure.report {
            let admin = try await broker.admin()
            let description = try await admin.describeTopics([topic])
            var partitions = description.first?.partitions.map { TopicPartition(topic, $0.partition) } ?? []
            if let partition {
                guard partitions.contains(TopicPartition(topic, partition)) else { throw CommandFailure("topic '\(topic)' has no partition \(partition)") }
                partitions = [TopicPartition(topic, partition)]
            }
            var starts: [TopicPartition: SeekPosition] = [:]
            switch try start() {
            case .position(let position): for p in partitions { starts[p] = position }
            case .fromEnd(let back):
                let begin = try await admin.listOffsets(partitions, at: .beginning)
                for (p, end) in try await admin.listOffsets(partitions, at: .end) { starts[p] = .offset(max(begin[p] ?? 0, end - back)) }
            }
            await admin.close()

            var configuration = ConsumerConfiguration(bootstrapServers: broker.addresses, groupId: group)
            configuration.clientId = "apus-cli"
            configuration.security = try broker.security()
            configuration.enableAutoCommit = false
            configuration.stopAtEndOfLog = exitAtEnd
            configuration.fetchMaxWait = .milliseconds(exitAtEnd ? 100 : 500)
            if case .position(.beginning) = try start() { configuration.autoOffsetReset = .earliest } else { configuration.autoOffsetReset = .latest }
            let consumer = Consumer(configuration: configuration)
            if group != nil {
                try await consumer.subscribe(topics: [topic])
            } else {
                try await consumer.assign(partitions)
                for (p, position) in starts { await consumer.seek(p, to: position) }
            }
            let output = OutputFormat(format: json ? nil : (format ?? "%s\\n"))
            var printed = 0
            var toCommit: [TopicPartition: Int64] = [:]
            signal(SIGINT, SIG_IGN)
            let interrupts = DispatchSource.makeSignalSource(signal: SIGINT)
            interrupts.setEventHandler { Task { await consumer.close() } }
            interrupts.resume()
            do {
                batches: for try await batch in consumer.batches {
                    var text = ""
                    for record in batch.records {
                        text += output.render(record)
                        printed += 1
                        toCommit[record.topicPartition] = record.offset + 1
                        if let count, printed >= count { break }
                    }
                    FileHandle.standardOutput.write(Data(text.utf8))
                    if group != nil { try await consumer.commit(toCommit) }
                    if let count, printed >= count { break batches }
                }
            } catch {
                await consumer.close()
                throw error
            }
            if group != nil { try? await consumer.commit(toCommit) }
            await consumer.close()
        }
    }
}

/// Renders a record with kcat's format tokens, or as a JSON object.
struct OutputFormat {
    enum Piece { case text(String), token(Character) }
    let pieces: [Piece]?

    init(format: String?) {
        guard let format else {
            pieces = nil
            return
        }
        var pieces: [Piece] = []
        var literal = ""
        var iterator = format.makeIterator()
        while let character = iterator.next() {
            if character == "%", let token = iterator.next() {
                if token == "%" { literal.append("%"); continue }
                if !literal.isEmpty { pieces.append(.text(literal)); literal = "" }
                pieces.append(.token(token))
            } else if character == "\\", let escaped = iterator.next() {
                switch escaped {
                case "n": literal.append("\n")
                case "t": literal.append("\t")
                case "r": literal.append("\r")
                case "0": literal.append("\0")
                default: literal.append("\\"); literal.append(escaped)
                }
            } else {
                literal.append(character)
            }
        }
        if !literal.isEmpty { pieces.append(.text(literal)) }
        self.pieces = pieces
    }

    func render(_ record: ConsumerRecord) -> String {
        guard let pieces else { return Self.json(record) + "\n" }
        var out = ""
        for piece in pieces {
            switch piece {
            case .text(let text): out += text
            case .token("t"): out += record.topic
            case .token("p"): out += "\(record.partition)"
            case .token("o"): out += "\(record.offset)"
            case .token("k"): out += record.keyString ?? ""
            case .token("s"): out += record.valueString ?? ""
            case .token("S"): out += "\(record.value?.count ?? -1)"
            case .token("T"): out += "\(record.timestamp)"
            case .token("h"):
                out += record.headers.map { "\($0.key)=\($0.value.map { String(decoding: $0, as: UTF8.self) } ?? "")" }.joined(separator: ",")
            case .token(let other): out += "%\(other)"
            }
        }
        return out
    }

    static func json(_ record: ConsumerRecord) -> String {
        var headers: [String: String?] = [:]
        for header in record.headers { headers[header.key] = header.value.map { String(decoding: $0, as: UTF8.self) } }
        let object: [String: Any] = [
            "topic": record.topic, "partition": record.partition, "offset": record.offset, "timestamp": record.timestamp,
            "key": record.keyString as Any? ?? NSNull(), "value": record.valueString as Any? ?? NSNull(),
            "headers": headers.mapValues { $0 as Any? ?? NSNull() },
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
