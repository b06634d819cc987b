import Foundation
import NIOCore
import NIOEmbedded
import Testing
@testable import ApusBroker
@testable import ApusStorage

/// The descriptors a connection keeps for sending segment file ranges: one per segment file,
/// reused from answer to answer, and closed once nothing queued holds them and their file is
/// gone or went unused.
@Suite struct SendfileHandlesTests {
    let directory = NSTemporaryDirectory() + "apus-sendfile-" + UUID().uuidString

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func segmentFile(_ name: String, contents: String) throws -> SegmentFile {
        let path = directory + "/" + name
        try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
        return try SegmentFile(path: path, create: false)
    }

    /// The descriptors of this process that point at `name` in the test's directory.
    func openDescriptors(_ name: String) -> Int {
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return descriptors.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)") }
            .filter { $0.hasPrefix(directory + "/" + name) }.count
    }

    /// The bytes `handle` reads at `position`, through its own descriptor.
    func read(_ handle: NIOFileHandle, at position: Int, count: Int) throws -> String {
        try handle.withUnsafeFileDescriptor { descriptor in
            var bytes = [UInt8](repeating: 0, count: count)
            let read = pread(descriptor, &bytes, count, off_t(position))
            return String(decoding: bytes.prefix(max(read, 0)), as: UTF8.self)
        }
    }

    @Test func oneHandlePerSegmentFileReadsThatFile() throws {
        let (handles, loop) = (SendfileHandles(), EmbeddedEventLoop())
        let first = try segmentFile("a.log", contents: "first segment")
        let second = try segmentFile("b.log", contents: "second segment")
        let a = try handles.handle(for: first, on: loop)
        #expect(try handles.handle(for: first, on: loop) === a)
        let b = try handles.handle(for: second, on: loop)
        #expect(b !== a)
        #expect(handles.count == 2)
        #expect(try read(a, at: 6, count: 7) == "segment")
        #expect(try read(b, at: 0, count: 6) == "second")
        // Two descriptors on a.log: the segment file's own and the kept duplicate.
        #expect(openDescriptors("a.log") == 2)
        handles.closeAll()
        #expect(!a.isOpen && !b.isOpen)
        #expect(openDescriptors("a.log") == 1)
    }

    @Test func aHandleInUseIsKeptAndAnIdleOneClosed() throws {
        let (handles, loop) = (SendfileHandles(), EmbeddedEventLoop())
        let file = try segmentFile("c.log", contents: "0123456789")
        var region: FileRegion? = FileRegion(fileHandle: try handles.handle(for: file, on: loop), readerIndex: 0, endIndex: 10)
        handles.reap()  // used since the last reap: kept
        handles.reap()  // idle now, but a queued region holds it: kept
        #expect(handles.count == 1)
        #expect(region?.fileHandle.isOpen == true)
        region = nil
        handles.reap()
        #expect(handles.count == 0)
        #expect(openDescriptors("c.log") == 1)
        withExtendedLifetime(file) {}
    }

    @Test func aGoneSegmentFileHasItsHandleClosedAtTheNextReap() throws {
        let (handles, loop) = (SendfileHandles(), EmbeddedEventLoop())
        var file: SegmentFile? = try segmentFile("d.log", contents: "deleted")
        _ = try handles.handle(for: file!, on: loop)
        try FileManager.default.removeItem(atPath: directory + "/d.log")
        file = nil
        #expect(openDescriptors("d.log") == 1)  // the kept duplicate holds the deleted file
        handles.reap()  // used since the last reap, but its file is gone
        #expect(handles.count == 0)
        #expect(openDescriptors("d.log") == 0)
    }

    @Test func theReaperRunsOnTheLoopUntilNothingIsLeft() throws {
        let (handles, loop) = (SendfileHandles(), EmbeddedEventLoop())
        let file = try segmentFile("e.log", contents: "timer")
        _ = try handles.handle(for: file, on: loop)
        loop.advanceTime(by: SendfileHandles.reapInterval)
        #expect(openDescriptors("e.log") == 2)  // used in the interval before: kept
        loop.advanceTime(by: SendfileHandles.reapInterval)
        #expect(openDescriptors("e.log") == 1)
        #expect(handles.count == 0)
        // A new range starts the reaper again.
        _ = try handles.handle(for: file, on: loop)
        #expect(openDescriptors("e.log") == 2)
        loop.advanceTime(by: SendfileHandles.reapInterval * 2)
        #expect(openDescriptors("e.log") == 1)
    }

    /// A segment file gone and another made at its address before a reap: the new one gets a
    /// handle of its own, and the old handle is closed once nothing queued holds it.
    @Test func aNewFileAtAGoneFilesAddressGetsItsOwnHandle() throws {
        let (handles, loop) = (SendfileHandles(), EmbeddedEventLoop())
        var old: SegmentFile? = try segmentFile("f.log", contents: "old")
        let oldAddress = ObjectIdentifier(old!)
        var region: FileRegion? = FileRegion(fileHandle: try handles.handle(for: old!, on: loop), readerIndex: 0, endIndex: 3)
        old = nil
        // The allocator hands a freed block of the same size back soon; look for that.
        var made: [SegmentFile] = []
        var reused: SegmentFile?
        for attempt in 0..<64 where reused == nil {
            let file = try segmentFile("g\(attempt).log", contents: "new")
            if ObjectIdentifier(file) == oldAddress { reused = file } else { made.append(file) }
        }
        let new = try #require(reused)
        let handle = try handles.handle(for: new, on: loop)
        #expect(handle !== region?.fileHandle)
        #expect(try read(handle, at: 0, count: 3) == "new")
        #expect(openDescriptors("f.log") == 1)  // the old file's one: the region holds its handle
        handles.reap()  // the region still holds the old handle
        #expect(openDescriptors("f.log") == 1)
        region = nil
        handles.reap()
        #expect(openDescriptors("f.log") == 0)
        #expect(handles.count == 1)
        withExtendedLifetime(made) {}
    }
}
