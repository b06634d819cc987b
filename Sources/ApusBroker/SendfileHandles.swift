import ApusStorage
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The descriptors one connection sends segment file ranges from (`sendfile`, through SwiftNIO's
/// `FileRegion`), kept from one Fetch answer to the next so that an answer allocates nothing for
/// its file ranges.
///
/// A `FileRegion` needs a `NIOFileHandle` that stays open until the region has been sent, while a
/// ``SegmentFile`` closes its own descriptor when the last reference to it goes, which can be
/// before the socket takes the region. So each segment file a connection sends from gets one
/// handle on a `dup` of its descriptor, owned here: regions hold the handle while they are
/// queued, and this holds it between answers. `sendfile` is given the offset each time, so the
/// regions sharing a descriptor do not share a file position.
///
/// A handle is closed by ``reap()``, which runs every ``reapInterval`` while any are open, once
/// no queued region holds it (`isKnownUniquelyReferenced`) and either its segment file is gone
/// (deleted or let go by the log; the file is known only weakly) or no answer used it since the
/// reap before: a deleted segment's space and descriptor are held at most about two intervals
/// after its last range is sent. ``closeAll()`` closes the rest when the connection goes.
///
/// Used only on the connection's event loop, by its ``KafkaConnectionHandler``.
final class SendfileHandles {
    private struct Entry {
        weak var file: SegmentFile?
        var handle: NIOFileHandle
        var used: Bool
    }

    /// By the identity of the segment file; an entry whose `file` no longer answers is stale
    /// (its object is gone, and another may live at the same address).
    private var entries: [ObjectIdentifier: Entry] = [:]
    /// Handles of stale entries, closed by ``reap()`` once no queued region holds them.
    private var retired: [NIOFileHandle] = []
    private var reaper: RepeatedTask?
    static let reapInterval = TimeAmount.seconds(1)

    deinit {
        reaper?.cancel()
        for entry in entries.values { try? entry.handle.close() }
        for handle in retired { try? handle.close() }
    }

    /// How many handles are open.
    var count: Int { entries.count + retired.count }

    /// A handle for sending ranges of `file`: the one kept for it, else a new one on a `dup` of
    /// its descriptor. `loop` is the connection's, where the reaper runs.
    func handle(for file: SegmentFile, on loop: EventLoop) throws -> NIOFileHandle {
        let key = ObjectIdentifier(file)
        if let index = entries.index(forKey: key) {
            if entries.values[index].file === file {
                entries.values[index].used = true
                return entries.values[index].handle
            }
            // A stale entry: its file is gone and a new object lives at its address. Queued
            // regions may still hold its handle, so it is closed by a later reap.
            retired.append(entries.remove(at: index).value.handle)
        }
        let descriptor = dup(file.descriptor)
        guard descriptor >= 0 else { throw StorageError.io(operation: "dup", path: file.path, errno: errno) }
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
        entries[key] = Entry(file: file, handle: handle, used: true)
        if reaper == nil {
            // Weakly, so that the table's owner going away is not held up by its timer.
            let owner = NIOLoopBound(WeakReference(self), eventLoop: loop)
            reaper = loop.scheduleRepeatedTask(initialDelay: Self.reapInterval, delay: Self.reapInterval) { _ in
                owner.value.object?.reap()
            }
        }
        return handle
    }

    /// Closes the handles no queued region holds whose file is gone or that went unused since
    /// the reap before; stops reaping when none are left.
    func reap() {
        for key in Array(entries.keys) {
            // Out of the table while it is looked at, so that this is its one reference when no
            // queued region holds it.
            guard var entry = entries.removeValue(forKey: key) else { continue }
            let idle = entry.file == nil || !entry.used
            if idle && isKnownUniquelyReferenced(&entry.handle) {
                try? entry.handle.close()
            } else {
                entry.used = false
                entries[key] = entry
            }
        }
        var kept = 0
        for index in retired.indices {
            if isKnownUniquelyReferenced(&retired[index]) {
                try? retired[index].close()
            } else {
                retired.swapAt(index, kept)
                kept += 1
            }
        }
        retired.removeLast(retired.count - kept)
        if entries.isEmpty && retired.isEmpty {
            reaper?.cancel()
            reaper = nil
        }
    }

    /// Closes every handle: the connection is gone, and its queued regions with it.
    func closeAll() {
        reaper?.cancel()
        reaper = nil
        for entry in entries.values { try? entry.handle.close() }
        for handle in retired { try? handle.close() }
        entries.removeAll()
        retired.removeAll()
    }
}

/// A weak reference, to hand a loop-bound object to a timer without keeping it alive.
private final class WeakReference<Object: AnyObject> {
    weak var object: Object?
    init(_ object: Object) { self.object = object }
}
