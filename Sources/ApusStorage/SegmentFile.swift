import CLinuxIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file of the log (a segment's `.log`): its descriptor, closed when the last
/// reference goes. Readers keep one to send bytes with `pread` or `sendfile` even after the
/// segment was deleted or the owning log moved on.
///
/// Sendable: both stored properties are immutable, and the descriptor is used only with
/// position-explicit calls (`pread`, `fdatasync`, `sendfile` with an offset), which are safe
/// from any thread.
public final class SegmentFile: Sendable {
    /// The file descriptor, valid while this object lives.
    public let descriptor: Int32
    /// The file's path when it was opened.
    public let path: String

    init(path: String, create: Bool) throws {
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        self.descriptor = fd
        self.path = path
    }

    deinit { close(descriptor) }

    /// The file's size on disk.
    func size() throws -> Int {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw StorageError.io(operation: "fstat", path: path, errno: errno) }
        return Int(info.st_size)
    }

    /// Makes sure blocks are allocated up to `length`, extending the file. Fails with
    /// ``StorageError/diskFull(path:)`` instead of leaving a hole that a write through the
    /// mapping would fault on (SIGBUS).
    func allocate(upTo length: Int, from start: Int) throws {
        guard length > start else { return }
        let result = posix_fallocate(descriptor, off_t(start), off_t(length - start))
        if result == ENOSPC || result == EDQUOT { throw StorageError.diskFull(path: path) }
        guard result == 0 else { throw StorageError.io(operation: "fallocate", path: path, errno: result) }
    }

    func truncate(to length: Int) throws {
        guard ftruncate(descriptor, off_t(length)) == 0 else {
            throw StorageError.io(operation: "ftruncate", path: path, errno: errno)
        }
    }

    /// Starts writing `count` bytes at `position` back to disk and returns without waiting
    /// (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`). Not a durability point: it keeps dirty
    /// pages from piling up, so that the next `fdatasync` (a rolled segment's, or the kernel's
    /// own writeback) has little left to write. Best effort: returns whether the kernel took
    /// the request, and callers may ignore a failure, since the data is still written back
    /// later, as without this call.
    @discardableResult
    public func startWriteback(at position: Int, count: Int) -> Bool {
        apus_start_writeback(descriptor, Int64(position), Int64(count)) == 0
    }

    /// fdatasync: the data written so far, through the mapping or not, is on disk.
    public func sync() throws {
        guard fdatasync(descriptor) == 0 else { throw StorageError.io(operation: "fdatasync", path: path, errno: errno) }
    }

    /// Reads `count` bytes at `position`, as many as the file holds.
    public func read(at position: Int, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { raw in
                pread(descriptor, raw.baseAddress! + done, count - done, off_t(position + done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.io(operation: "pread", path: path, errno: errno)
            }
            if n == 0 { break }
            done += n
        }
        if done < count { bytes.removeSubrange(done...) }
        return bytes
    }

    /// Writes all of `records`' pieces, in order, from `position`: one `pwritev` for up to
    /// `IOV_MAX` pieces, more after a short write. Every write of a segment or index file
    /// goes through here.
    func write(_ records: RecordPieces, at position: Int) throws {
        let maximumVectors = 1024  // IOV_MAX on Linux
        try withUnsafeTemporaryAllocation(of: iovec.self, capacity: min(records.pieces.count, maximumVectors)) { vectors in
            var piece = 0
            var offsetInPiece = 0
            var written = 0
            while written < records.count {
                var used = 0
                var next = piece
                var skip = offsetInPiece
                while next < records.pieces.count && used < vectors.count {
                    let bytes = records.pieces[next]
                    if bytes.count > skip {
                        vectors[used] = iovec(
                            iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress! + skip), iov_len: bytes.count - skip)
                        used += 1
                    }
                    skip = 0
                    next += 1
                }
                let n = pwritev(descriptor, vectors.baseAddress!, Int32(used), off_t(position + written))
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == ENOSPC || errno == EDQUOT { throw StorageError.diskFull(path: path) }
                    throw StorageError.io(operation: "pwritev", path: path, errno: errno)
                }
                written += n
                // Step over what was written: whole pieces, then part of one.
                var remaining = n + offsetInPiece
                while piece < records.pieces.count && remaining >= records.pieces[piece].count && remaining > 0 {
                    remaining -= records.pieces[piece].count
                    piece += 1
                }
                offsetInPiece = remaining
            }
        }
    }

    /// Writes all of `bytes` at `position` (one piece of ``write(_:at:)``).
    func write(_ bytes: UnsafeRawBufferPointer, at position: Int) throws {
        try RecordPieces.withPieces(of: bytes) { try write($0, at: position) }
    }
}

/// A shared, writable memory mapping of a file, unmapped on `deinit`.
final class FileMapping {
    let base: UnsafeMutableRawPointer
    let length: Int

    init(file: SegmentFile, length: Int) throws {
        let address = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, file.descriptor, 0)
        guard let address, address != MAP_FAILED else {
            throw StorageError.io(operation: "mmap", path: file.path, errno: errno)
        }
        self.base = address
        self.length = length
    }

    deinit { munmap(base, length) }

}

/// Small durable file operations shared by the storage engine and the broker's own state files
/// (checkpoints, credentials, ACLs).
public enum FileSystem {
    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    static func roundUpToPage(_ n: Int) -> Int { (n + pageSize - 1) / pageSize * pageSize }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func createDirectory(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw StorageError.io(operation: "mkdir", path: prefix, errno: errno)
            }
        }
    }

    static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw StorageError.io(operation: "opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Removes the temporary files (`*.tmp`) that a ``writeAtomically(_:contents:)`` interrupted
    /// by a crash left in `directory`. Call it only when no write into the directory can be in
    /// progress.
    public static func removeTemporaryFiles(in directory: String) throws {
        guard isDirectory(directory) else { return }
        for name in try listDirectory(directory) where name.hasSuffix(".tmp") {
            try remove(directory + "/" + name)
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func remove(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw StorageError.io(operation: "unlink", path: path, errno: errno) }
    }

    static func removeTree(_ path: String) throws {
        if isDirectory(path) {
            for name in try listDirectory(path) { try removeTree(path + "/" + name) }
            if rmdir(path) != 0 && errno != ENOENT { throw StorageError.io(operation: "rmdir", path: path, errno: errno) }
        } else {
            try remove(path)
        }
    }

    static func rename(_ from: String, _ to: String) throws {
        if Glibc.rename(from, to) != 0 { throw StorageError.io(operation: "rename", path: from, errno: errno) }
    }

    /// Syncs a directory so that created, renamed or deleted names in it are durable.
    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StorageError.io(operation: "fsync", path: path, errno: errno) }
    }

    /// Replaces `path` with `contents` atomically and durably (write, sync, rename, sync dir).
    /// The temporary file's name is the process's and a random number's, so concurrent writers
    /// never share one; the last rename wins (callers that read, change and replace a file hold
    /// ``withExclusiveLock(_:_:)``).
    public static func writeAtomically(_ path: String, contents: [UInt8]) throws {
        let temporary = path + ".\(getpid()).\(UInt32.random(in: .min ... .max)).tmp"
        do {
            let file = try SegmentFile(path: temporary, create: true)
            try file.truncate(to: 0)
            try contents.withUnsafeBytes { (raw) throws in try file.write(raw, at: 0) }
            try file.sync()
        }
        try rename(temporary, path)
        try syncDirectory(parentDirectory(of: path))
    }

    /// The directory `path` is in ("." for a bare file name).
    public static func parentDirectory(of path: String) -> String {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return directory.isEmpty ? "." : directory
    }

    public static func readFile(_ path: String) throws -> [UInt8]? {
        guard exists(path) else { return nil }
        let file = try SegmentFile(path: path, create: false)
        return try file.read(at: 0, count: try file.size())
    }

    /// What tells one version of a file from another: its inode, size and modification time to
    /// the nanosecond. A file replaced by ``writeAtomically(_:contents:)`` has a new inode, so two
    /// replacements within one clock tick still differ. Nil when the file does not exist.
    public struct Version: Equatable, Sendable {
        var inode: UInt64
        var size: Int64
        var modifiedNs: Int64
    }

    /// The current ``Version`` of the file at `path`.
    public static func version(_ path: String) -> Version? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Version(
            inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modifiedNs: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
    }

    /// Runs `body` holding an exclusive advisory lock (`flock`) on the file at `path`, created if
    /// missing, so that processes (and threads) that read, change and replace a file through
    /// the same lock do not lose each other's changes.
    public static func withExclusiveLock<Result>(_ path: String, _ body: () throws -> Result) throws -> Result {
        try createDirectory(parentDirectory(of: path))
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        defer { close(descriptor) }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else { throw StorageError.io(operation: "flock", path: path, errno: errno) }
        }
        return try body()
    }

    public static func modificationTimeMs(_ path: String) -> Int64 {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0 }
        return Int64(info.st_mtim.tv_sec) * 1000 + Int64(info.st_mtim.tv_nsec) / 1_000_000
    }
}

/// Wall-clock time in milliseconds since the epoch, as Kafka timestamps are.
public func currentTimeMillis() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}
