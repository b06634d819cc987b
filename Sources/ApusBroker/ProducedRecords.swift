import ApusRecord
import ApusStorage
import NIOCore

/// One partition's record batches from a Produce request, where they arrived: a slice of the
/// request's frame, or, when the request spanned socket reads, slices of the buffers it came
/// in (``ScatteredProduceRequest``). Either way they are appended without being copied
/// together first.
enum ProducedRecords: Sendable {
    case whole(ByteBuffer)
    case scattered(ArraySlice<ByteBuffer>)

    /// At most this many pieces are appended where they are; more are copied together first
    /// (each piece is a nested closure while the bytes are lent).
    static let maximumPieces = 64

    /// The records in `parts`: as they are, or copied into one buffer when there are more
    /// than ``maximumPieces``.
    init(_ parts: ArraySlice<ByteBuffer>) {
        if parts.count == 1 {
            self = .whole(parts[parts.startIndex])
        } else if parts.count <= Self.maximumPieces {
            self = .scattered(parts)
        } else {
            self = .whole(parts.gathered)
        }
    }

    /// Bytes in all.
    var readableBytes: Int {
        switch self {
        case .whole(let buffer): buffer.readableBytes
        case .scattered(let parts): parts.reduce(0) { $0 + $1.readableBytes }
        }
    }

    /// Calls `body` with the bytes as pieces of memory, valid only during the call.
    func withPieces<Result>(_ body: (RecordPieces) throws -> Result) rethrows -> Result {
        switch self {
        case .whole(let buffer):
            return try buffer.withUnsafeReadableBytes { try RecordPieces.withPieces(of: $0, body) }
        case .scattered(let parts):
            return try withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: parts.count) { pieces in
                // Each buffer lends its bytes only inside its own closure: nest one per part.
                func lend(_ index: Int) throws -> Result {
                    guard index < parts.count else { return try body(RecordPieces(UnsafeBufferPointer(pieces))) }
                    return try parts[parts.startIndex + index].withUnsafeReadableBytes { bytes in
                        (pieces.baseAddress! + index).initialize(to: bytes)
                        return try lend(index + 1)
                    }
                }
                return try lend(0)
            }
        }
    }

    /// The first batch's header, checked as ``RecordBatchHeader/peek(_:)`` does (length,
    /// magic), against all the bytes.
    func peekFirstBatch() throws -> RecordBatchHeader {
        try withPieces { pieces in
            try pieces.withBytes(at: 0, length: RecordBatchLayout.headerSize) {
                try RecordBatchHeader.peek($0, available: pieces.count)
            }
        }
    }
}
