/// Per-log settings, with Kafka's topic-level names and defaults.
///
/// Broker-wide defaults use the same names prefixed with `log.` (`log.segment.bytes`, …);
/// ``init(properties:)`` reads the topic-level names.
public struct LogConfig: Sendable, Equatable {
    /// `segment.bytes`: roll to a new segment when the active one would exceed this size.
    public var segmentBytes: Int = 1 << 30
    /// `segment.ms`: roll when the active segment's first batch is older than this.
    public var segmentMs: Int64 = 7 * 24 * 3_600_000
    /// `index.interval.bytes`: bytes of log between two offset-index entries.
    public var indexIntervalBytes: Int = 4096
    /// `retention.ms`: delete segments whose newest record is older; -1 keeps them forever.
    public var retentionMs: Int64 = 7 * 24 * 3_600_000
    /// `retention.bytes`: delete old segments while the log is larger; -1 means no limit.
    public var retentionBytes: Int64 = -1
    /// `flush.messages`: sync the log to disk after this many appended records.
    public var flushMessages: Int64 = .max
    /// `flush.ms`: sync the log when unsynced data is older than this.
    public var flushMs: Int64 = .max
    /// `max.message.bytes`: the largest record batch accepted.
    public var maxMessageBytes: Int = 1_048_588
    /// `message.timestamp.type`: CreateTime keeps producers' timestamps; LogAppendTime stamps batches on append.
    public var logAppendTime: Bool = false
    /// Broker-wide only (`apus.log.writeback.bytes`, not a topic property): after this many
    /// bytes appended to the active segment, their writeback to disk is started without
    /// waiting (RocksDB's `bytes_per_sync`), so dirty pages do not pile up until a rolled
    /// segment's sync or the kernel writes a gigabyte at once and stalls appends meanwhile.
    /// 0 leaves writeback to the kernel.
    public var writebackBytes: Int = 8 << 20

    public init() {}

    /// The topic-level property names this config reads.
    public static let propertyNames = [
        "segment.bytes", "segment.ms", "index.interval.bytes", "retention.ms", "retention.bytes",
        "flush.messages", "flush.ms", "max.message.bytes", "message.timestamp.type",
    ]

    /// Reads Kafka topic-level properties over `base`; unknown names are ignored.
    public init(properties: [String: String], base: LogConfig = LogConfig()) throws {
        self = base
        func int64(_ name: String, min: Int64) throws -> Int64? {
            guard let text = properties[name] else { return nil }
            guard let value = Int64(text.trimmingCharacters(in: [" "])), value >= min else {
                throw StorageError.invalidConfiguration("\(name)=\(text) is not an integer ≥ \(min)")
            }
            return value
        }
        if let v = try int64("segment.bytes", min: 14) { segmentBytes = Int(clamping: v) }
        if let v = try int64("segment.ms", min: 1) { segmentMs = v }
        if let v = try int64("index.interval.bytes", min: 0) { indexIntervalBytes = Int(clamping: v) }
        if let v = try int64("retention.ms", min: -1) { retentionMs = v }
        if let v = try int64("retention.bytes", min: -1) { retentionBytes = v }
        if let v = try int64("flush.messages", min: 1) { flushMessages = v }
        if let v = try int64("flush.ms", min: 0) { flushMs = v }
        if let v = try int64("max.message.bytes", min: 0) { maxMessageBytes = Int(clamping: v) }
        if let type = properties["message.timestamp.type"] {
            switch type {
            case "CreateTime": logAppendTime = false
            case "LogAppendTime": logAppendTime = true
            default: throw StorageError.invalidConfiguration("message.timestamp.type=\(type) is neither CreateTime nor LogAppendTime")
            }
        }
    }

    /// The properties as Kafka names them, for DescribeConfigs and for saving.
    public var properties: [String: String] {
        [
            "segment.bytes": String(segmentBytes), "segment.ms": String(segmentMs),
            "index.interval.bytes": String(indexIntervalBytes), "retention.ms": String(retentionMs),
            "retention.bytes": String(retentionBytes), "flush.messages": String(flushMessages),
            "flush.ms": String(flushMs), "max.message.bytes": String(maxMessageBytes),
            "message.timestamp.type": logAppendTime ? "LogAppendTime" : "CreateTime",
        ]
    }
}

extension String {
    func trimmingCharacters(in set: Set<Character>) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
