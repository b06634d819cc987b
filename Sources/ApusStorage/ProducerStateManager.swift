import ApusRecord

/// The idempotent-producer state of one partition (Kafka's `ProducerStateManager`): per
/// producer id, the current epoch and the sequence ranges and offsets of its last five batches.
///
/// It decides, before a batch is appended, whether the batch is new (append it), a retry of
/// one already in the log (answer with the original offsets, append nothing), out of order
/// (OUT_OF_ORDER_SEQUENCE_NUMBER) or from a fenced producer (INVALID_PRODUCER_EPOCH). The state
/// is rebuilt after a restart from the newest snapshot file plus the batch headers after it.
struct ProducerStateManager {
    /// Batches remembered per producer, as Kafka's NUM_BATCHES_TO_RETAIN.
    static let batchesToRetain = 5
    /// `producer.id.expiration.ms`: producers idle longer are forgotten at snapshot time.
    static let expirationMs: Int64 = 86_400_000

    struct BatchMetadata: Equatable {
        var firstSequence: Int32
        var lastSequence: Int32
        var firstOffset: Int64
        var lastOffset: Int64
    }

    struct Entry: Equatable {
        var epoch: Int16
        var batches: [BatchMetadata]
        var lastTimestamp: Int64
    }

    /// What to do with a batch.
    enum Decision: Equatable {
        case append
        case duplicate(firstOffset: Int64, lastOffset: Int64)
    }

    private(set) var producers: [Int64: Entry] = [:]

    /// The last sequence of a batch: base + count - 1, wrapping from Int32.max to 0.
    static func lastSequence(of header: RecordBatchHeader) -> Int32 {
        Int32((Int64(header.baseSequence) + Int64(header.lastOffsetDelta)) % (Int64(Int32.max) + 1))
    }

    static func nextSequence(after sequence: Int32) -> Int32 { sequence == .max ? 0 : sequence + 1 }

    /// Checks a batch against the state (which `pending` may already have updated within the
    /// same append). Non-idempotent batches (producer id -1) are always appended.
    func check(_ header: RecordBatchHeader, pending: [Int64: Entry] = [:]) throws -> Decision {
        guard header.producerId >= 0 else { return .append }
        guard header.baseSequence >= 0 else {
            throw StorageError.invalidRecords(.invalidRecord("idempotent batch of producer \(header.producerId) has no base sequence"))
        }
        guard let entry = pending[header.producerId] ?? producers[header.producerId] else { return .append }
        let first = header.baseSequence
        let last = Self.lastSequence(of: header)
        if header.producerEpoch < entry.epoch {
            throw StorageError.invalidProducerEpoch(producerId: header.producerId, epoch: header.producerEpoch, current: entry.epoch)
        }
        if header.producerEpoch > entry.epoch {
            guard first == 0 else {
                throw StorageError.outOfOrderSequence(producerId: header.producerId, expected: 0, received: first)
            }
            return .append
        }
        if let original = entry.batches.first(where: { $0.firstSequence == first && $0.lastSequence == last }) {
            return .duplicate(firstOffset: original.firstOffset, lastOffset: original.lastOffset)
        }
        guard let previous = entry.batches.last else { return .append }
        let expected = Self.nextSequence(after: previous.lastSequence)
        guard first == expected else {
            throw StorageError.outOfOrderSequence(producerId: header.producerId, expected: expected, received: first)
        }
        return .append
    }

    /// The entry after appending `header` at `firstOffset`, starting from `current`.
    static func updated(_ current: Entry?, with header: RecordBatchHeader, firstOffset: Int64, now: Int64) -> Entry {
        var entry = current
        update(&entry, with: header, firstOffset: firstOffset, now: now)
        return entry!
    }

    /// Updates `entry` in place for `header` appended at `firstOffset`: when the entry is held
    /// only here, its batch list is not copied.
    static func update(_ entry: inout Entry?, with header: RecordBatchHeader, firstOffset: Int64, now: Int64) {
        if entry == nil || entry!.epoch != header.producerEpoch {
            entry = Entry(epoch: header.producerEpoch, batches: [], lastTimestamp: now)
        }
        entry!.batches.append(BatchMetadata(
            firstSequence: header.baseSequence, lastSequence: lastSequence(of: header),
            firstOffset: firstOffset, lastOffset: firstOffset + Int64(header.lastOffsetDelta)))
        if entry!.batches.count > batchesToRetain { entry!.batches.removeFirst(entry!.batches.count - batchesToRetain) }
        entry!.lastTimestamp = max(entry!.lastTimestamp, now)
    }

    /// Records a batch that was appended (or found in the log during recovery).
    mutating func record(_ header: RecordBatchHeader, firstOffset: Int64, now: Int64) {
        guard header.producerId >= 0, header.baseSequence >= 0 else { return }
        Self.update(&producers[header.producerId], with: header, firstOffset: firstOffset, now: now)
    }

    mutating func removeExpired(now: Int64) {
        producers = producers.filter { now - $0.value.lastTimestamp < Self.expirationMs }
    }

    // MARK: Snapshots

    /// `<offset>.snapshot`: the state as of `offset` (every batch below it included).
    /// Layout (big-endian): "APUSPS01", count, then per producer: id int64, epoch int16,
    /// last timestamp int64, batch count int8, batches (first seq int32, last seq int32, first
    /// offset int64, last offset int64); then a CRC-32C of everything before it.
    func snapshotBytes() -> [UInt8] {
        var bytes = Array("APUSPS01".utf8)
        bytes.appendBigEndian(Int32(producers.count))
        for (id, entry) in producers.sorted(by: { $0.key < $1.key }) {
            bytes.appendBigEndian(id)
            bytes.appendBigEndian(entry.epoch)
            bytes.appendBigEndian(entry.lastTimestamp)
            bytes.append(UInt8(entry.batches.count))
            for batch in entry.batches {
                bytes.appendBigEndian(batch.firstSequence)
                bytes.appendBigEndian(batch.lastSequence)
                bytes.appendBigEndian(batch.firstOffset)
                bytes.appendBigEndian(batch.lastOffset)
            }
        }
        bytes.appendBigEndian(CRC32C.checksum(bytes))
        return bytes
    }

    /// Reads a snapshot; nil if it is damaged in any way (recovery then scans more of the log).
    static func fromSnapshot(_ bytes: [UInt8]) -> ProducerStateManager? {
        guard bytes.count >= 16, Array(bytes[0..<8]) == Array("APUSPS01".utf8) else { return nil }
        let body = Array(bytes[..<(bytes.count - 4)])
        let crc = bytes[(bytes.count - 4)...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard CRC32C.checksum(body) == crc else { return nil }
        return body.withUnsafeBytes { raw -> ProducerStateManager? in
            var reader = ByteReader(raw, position: 8)
            var state = ProducerStateManager()
            guard let count = try? reader.readBigEndian(Int32.self), count >= 0 else { return nil }
            for _ in 0..<count {
                guard let id = try? reader.readBigEndian(Int64.self), let epoch = try? reader.readBigEndian(Int16.self),
                    let timestamp = try? reader.readBigEndian(Int64.self), let batchCount = try? reader.readInt8(), batchCount >= 0
                else { return nil }
                var entry = Entry(epoch: epoch, batches: [], lastTimestamp: timestamp)
                for _ in 0..<batchCount {
                    guard let firstSequence = try? reader.readBigEndian(Int32.self), let lastSequence = try? reader.readBigEndian(Int32.self),
                        let firstOffset = try? reader.readBigEndian(Int64.self), let lastOffset = try? reader.readBigEndian(Int64.self)
                    else { return nil }
                    entry.batches.append(BatchMetadata(firstSequence: firstSequence, lastSequence: lastSequence, firstOffset: firstOffset, lastOffset: lastOffset))
                }
                state.producers[id] = entry
            }
            return reader.remaining == 0 ? state : nil
        }
    }
}
