import ApusRecord

/// Bytes laid out in one or more pieces of memory, in order: above all a producer's record
/// batches as they arrived off the socket, which an append checks and writes (`pwritev`) where
/// they are, never first copying them together. A batch may span pieces.
///
/// A view, not an owner: the memory must stay valid while the value is used, so it is made
/// and used inside the closures that lend the pieces (``withPieces(of:_:)``).
public struct RecordPieces {
    /// The pieces, in order; none is empty.
    public let pieces: UnsafeBufferPointer<UnsafeRawBufferPointer>
    /// Bytes in all pieces.
    public let count: Int

    /// Views `pieces`; empty pieces are allowed and skipped.
    public init(_ pieces: UnsafeBufferPointer<UnsafeRawBufferPointer>) {
        self.pieces = pieces
        self.count = pieces.reduce(0) { $0 + $1.count }
    }

    /// Calls `body` with one contiguous buffer viewed as pieces; nothing is allocated.
    public static func withPieces<Result>(
        of bytes: UnsafeRawBufferPointer, _ body: (RecordPieces) throws -> Result
    ) rethrows -> Result {
        try withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: 1) { one in
            one.initialize(repeating: bytes)
            return try body(RecordPieces(UnsafeBufferPointer(one)))
        }
    }

    /// Calls `body` with the `length` bytes at `position`: where they are when one piece holds
    /// them all, else copied into a temporary buffer (for batch headers that span pieces).
    /// Fewer bytes are passed when the pieces end first.
    public func withBytes<Result>(
        at position: Int, length: Int, _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        let length = max(0, min(length, count - position))
        var start = 0
        for piece in pieces {
            if position < start + piece.count {
                let offset = position - start
                if offset + length <= piece.count {
                    return try body(UnsafeRawBufferPointer(rebasing: piece[offset..<(offset + length)]))
                }
                break
            }
            start += piece.count
        }
        return try withUnsafeTemporaryAllocation(byteCount: length, alignment: 8) { copy in
            var copied = 0
            forEachRange(from: position, to: position + length) { range in
                UnsafeMutableRawBufferPointer(rebasing: copy[copied..<(copied + range.count)]).copyMemory(from: range)
                copied += range.count
            }
            return try body(UnsafeRawBufferPointer(copy))
        }
    }

    /// The CRC-32C of the bytes from `start` up to `end`, piece by piece.
    func checksum(from start: Int, to end: Int) -> UInt32 {
        var crc: UInt32 = 0
        forEachRange(from: start, to: end) { crc = CRC32C.checksum($0, continuing: crc) }
        return crc
    }

    /// Calls `body` with each piece's part of the bytes from `start` up to `end`, in order.
    func forEachRange(from start: Int, to end: Int, _ body: (UnsafeRawBufferPointer) -> Void) {
        var pieceStart = 0
        for piece in pieces {
            let pieceEnd = pieceStart + piece.count
            let low = max(start, pieceStart)
            let high = min(end, pieceEnd)
            if low < high { body(UnsafeRawBufferPointer(rebasing: piece[(low - pieceStart)..<(high - pieceStart)])) }
            if pieceEnd >= end { return }
            pieceStart = pieceEnd
        }
    }
}
