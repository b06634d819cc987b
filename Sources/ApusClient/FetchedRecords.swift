import ApusProtocol
import ApusRecord
import NIOCore

/// One partition of a fetch response, decoded off the consumer's actor.
struct FetchedPartition: Sendable {
    var topicPartition: TopicPartition
    /// The offset the fetch asked for: the answer counts only while the consumer's position is still there.
    var fetchOffset: Int64
    var errorCode: Int16
    var highWatermark: Int64
    /// The decoded records, or why they could not be decoded (thrown only if the answer still counts).
    var records: Result<FetchedRecords, any Error>
}

/// The records of one partition of a fetch response, decoded (decompressed and parsed) off
/// the consumer's actor.
///
/// The record batches are cut into runs of whole batches of about ``runBytes`` each; the runs
/// decode concurrently, one child task each (every batch decompresses independently), and
/// come back in offset order, one micro-batch per run.
struct FetchedRecords: Sendable {
    /// The records at or after the fetch offset (control batches left out), in offset order:
    /// one array per run, none empty.
    var runs: [[ConsumerRecord]]
    /// Where the next fetch starts: after the last whole batch, or the fetch offset if there was none.
    var nextOffset: Int64
    /// Bytes of the records field, as the broker sent it.
    var bytes: Int

    /// Compressed bytes per run: enough that a child task's work dwarfs its cost.
    static let runBytes = 256 << 10

    /// Decodes the whole batches of `records`, a partition's records field fetched from
    /// `fetchOffset` (a partial batch at the end is ignored, as by ``RecordBatchDecoder/decodeAll(_:)``).
    static func decode(
        _ records: ByteBuffer?, of partition: TopicPartition, from fetchOffset: Int64, runBytes: Int = runBytes
    ) async throws -> FetchedRecords {
        guard let records, records.readableBytes > 0 else { return FetchedRecords(runs: [], nextOffset: fetchOffset, bytes: 0) }
        let runs = Self.runs(of: records, runBytes: runBytes)
        var decoded: [(records: [ConsumerRecord], nextOffset: Int64)]
        if runs.count <= 1 {
            decoded = try runs.map { try decodeRun($0, of: partition, from: fetchOffset) }
        } else {
            decoded = try await withThrowingTaskGroup(of: (Int, [ConsumerRecord], Int64).self) { group in
                for (index, run) in runs.enumerated() {
                    group.addTask {
                        let (records, nextOffset) = try decodeRun(run, of: partition, from: fetchOffset)
                        return (index, records, nextOffset)
                    }
                }
                var inOrder = [(records: [ConsumerRecord], nextOffset: Int64)](repeating: ([], fetchOffset), count: runs.count)
                for try await (index, records, nextOffset) in group { inOrder[index] = (records, nextOffset) }
                return inOrder
            }
        }
        return FetchedRecords(
            runs: decoded.map(\.records).filter { !$0.isEmpty },
            nextOffset: decoded.reduce(fetchOffset) { max($0, $1.nextOffset) },
            bytes: records.readableBytes)
    }

    /// Cuts `records` into runs of whole batches of at least `runBytes` bytes (the last may be
    /// shorter). A batch whose length cannot be right ends the walk and goes into the last run
    /// whole, so that decoding it reports the error.
    static func runs(of records: ByteBuffer, runBytes: Int) -> [ByteBuffer] {
        let boundaries = records.withUnsafeReadableBytes { bytes -> [Int] in
            var boundaries = [0]
            var position = 0
            while bytes.count - position >= RecordBatchLayout.headerSize {
                let header = RecordBatchHeader(unchecked: UnsafeRawBufferPointer(rebasing: bytes[position...]))
                guard header.batchLength >= Int32(RecordBatchLayout.headerSize - RecordBatchLayout.logOverhead) else {
                    position = bytes.count
                    break
                }
                if header.totalSize > bytes.count - position { break }  // partial tail
                position += header.totalSize
                if position - boundaries.last! >= runBytes { boundaries.append(position) }
            }
            if position > boundaries.last! { boundaries.append(position) }
            return boundaries
        }
        return zip(boundaries, boundaries.dropFirst()).map { start, end in
            records.getSlice(at: records.readerIndex + start, length: end - start)!
        }
    }

    /// Decodes one run: its records at or after `fetchOffset`, and the offset after its last batch.
    static func decodeRun(_ run: ByteBuffer, of partition: TopicPartition, from fetchOffset: Int64) throws -> ([ConsumerRecord], Int64) {
        let batches = try run.withUnsafeReadableBytes { try RecordBatchDecoder.decodeAll($0) }
        var records: [ConsumerRecord] = []
        records.reserveCapacity(batches.reduce(0) { $0 + $1.records.count })
        var nextOffset = fetchOffset
        for batch in batches {
            nextOffset = max(nextOffset, batch.header.nextOffset)
            if batch.header.attributes.isControl { continue }
            for record in batch.records where record.offset >= fetchOffset {
                records.append(ConsumerRecord(
                    topic: partition.topic, partition: partition.partition, offset: record.offset, timestamp: record.timestamp,
                    key: record.key, value: record.value, headers: record.headers))
            }
        }
        return (records, nextOffset)
    }
}
