import ApusProtocol
import NIOCore
import Testing

/// ``ScatteredProduceRequest`` walks the Produce layout by hand; these tests hold it to the
/// generated codecs: for every version, whatever buffers the frame arrives in, decoding the
/// skeleton and putting each partition's records back gives the request decoded whole.
struct ScatteredProduceRequestTests {
    /// A Produce frame (header and body) of `version` with several topics, null and empty
    /// records, and tagged fields wherever the version has them.
    static func frame(version: Int16) -> (ByteBuffer, ProduceRequest) {
        let flexible = version >= 9
        let tagged = flexible ? [TaggedField(tag: 7, data: ByteBuffer(bytes: [1, 2, 3]))] : []
        func records(_ seed: UInt8, _ count: Int) -> ByteBuffer {
            ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: Int(seed) &* 31 &+ $0) })
        }
        let request = ProduceRequest(
            transactionalId: version >= 3 ? "tx-é" : nil, acks: -1, timeoutMs: 30_000,
            topicData: [
                .init(name: "orders", partitionData: [
                    .init(index: 0, records: records(1, 300), unknownTaggedFields: tagged),
                    .init(index: 1, records: nil),
                    .init(index: 2, records: records(2, 1), unknownTaggedFields: tagged),
                ], unknownTaggedFields: tagged),
                .init(name: "", partitionData: []),
                .init(name: "payments", partitionData: [.init(index: 5, records: records(3, 0)), .init(index: 6, records: records(4, 200))]),
            ],
            unknownTaggedFields: tagged)
        let header = RequestHeader(
            requestApiKey: ApiKey.produce.rawValue, requestApiVersion: version, correlationId: 42, clientId: "rdkafka",
            unknownTaggedFields: tagged)
        var frame = ByteBuffer()
        header.write(to: &frame, version: RequestHeader.version(apiKey: .produce, apiVersion: version))
        request.write(to: &frame, version: version)
        return (frame, request)
    }

    /// The frame cut at `cuts` (offsets into it).
    static func split(_ frame: ByteBuffer, at cuts: [Int]) -> [ByteBuffer] {
        var parts: [ByteBuffer] = []
        var start = 0
        for cut in cuts.sorted() + [frame.readableBytes] where cut >= start {
            parts.append(frame.getSlice(at: frame.readerIndex + start, length: cut - start)!)
            start = cut
        }
        return parts
    }

    /// Decodes the skeleton and puts the records back, as the broker's Produce handler does.
    static func reassemble(_ scattered: ScatteredProduceRequest) throws -> (RequestHeader, ProduceRequest) {
        var skeleton = scattered.skeleton
        let version = skeleton.getInteger(at: skeleton.readerIndex + 2, as: Int16.self)!
        let header = try RequestHeader(from: &skeleton, version: RequestHeader.version(apiKey: .produce, apiVersion: version))
        var request = try ProduceRequest(from: &skeleton, version: version)
        #expect(skeleton.readableBytes == 0)
        var index = 0
        for topic in request.topicData.indices {
            for partition in request.topicData[topic].partitionData.indices {
                let decoded = request.topicData[topic].partitionData[partition].records
                if let parts = scattered.records(ofPartitionAt: index) {
                    #expect(decoded?.readableBytes == 0, "the skeleton's records are empty")
                    var joined = ByteBuffer()
                    for part in parts { joined.writeImmutableBuffer(part) }
                    request.topicData[topic].partitionData[partition].records = joined
                } else {
                    #expect(decoded == nil)
                }
                index += 1
            }
        }
        #expect(index == scattered.partitionCount)
        return (header, request)
    }

    @Test(arguments: ProduceRequest.validVersions)
    func everySplitOfEveryVersionDecodesAsTheWholeFrame(version: Int16) throws {
        let (frame, request) = Self.frame(version: version)
        var whole = frame
        let expectedHeader = try RequestHeader(from: &whole, version: RequestHeader.version(apiKey: .produce, apiVersion: version))
        let expected = try ProduceRequest(from: &whole, version: version)
        #expect(expected == request)
        // One cut at every position, then random sets of cuts (including empty parts).
        var cutSets = (0...frame.readableBytes).map { [$0] }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            cutSets.append((0..<Int.random(in: 2...12, using: &generator)).map { _ in Int.random(in: 0...frame.readableBytes, using: &generator) })
        }
        for cuts in cutSets {
            let scattered = try ScatteredProduceRequest(Self.split(frame, at: cuts))
            let (header, decoded) = try Self.reassemble(scattered)
            #expect(header == expectedHeader, "cuts \(cuts)")
            #expect(decoded == expected, "cuts \(cuts)")
        }
    }

    /// Taken apart over the one before (as a connection does, request after request), a
    /// request comes out as if taken apart anew, whatever the one before held.
    @Test func takingApartOverTheLastRequestGivesWhatTakingApartAnewGives() throws {
        var reused = ScatteredProduceRequest()
        var held: [ArraySlice<ByteBuffer>] = []
        for version in ProduceRequest.validVersions.reversed() + ProduceRequest.validVersions {
            let (frame, _) = Self.frame(version: version)
            let cuts = [Int.random(in: 0...frame.readableBytes), Int.random(in: 0...frame.readableBytes)]
            try reused.takeApart(Self.split(frame, at: cuts))
            let fresh = try ScatteredProduceRequest(Self.split(frame, at: cuts))
            let (reusedHeader, reusedRequest) = try Self.reassemble(reused)
            let (freshHeader, freshRequest) = try Self.reassemble(fresh)
            #expect(reusedHeader == freshHeader && reusedRequest == freshRequest, "v\(version)")
            // Records still held from an earlier request are not overwritten.
            if let records = reused.records(ofPartitionAt: 0) { held.append(records) }
        }
        #expect(held.allSatisfy { $0.reduce(0) { $0 + $1.readableBytes } == 300 })
        // A failed walk leaves nothing half taken apart behind that a later one would see.
        #expect(throws: ScatteredProduceRequest.Failure.self) { try reused.takeApart([ByteBuffer(bytes: [0, 0, 0])]) }
        let (frame, request) = Self.frame(version: 9)
        try reused.takeApart([frame])
        #expect(try Self.reassemble(reused).1 == request)
    }

    @Test func theRecordsAreSlicesOfTheBuffersNotCopies() throws {
        let (frame, _) = Self.frame(version: 9)
        let parts = Self.split(frame, at: [100, 200, 300])
        let scattered = try ScatteredProduceRequest(parts)
        let first = try #require(scattered.records(ofPartitionAt: 0))
        #expect(first.count > 1, "the first partition's 300 bytes span the cuts")
        // A slice shares its buffer's storage: its bytes are at an address inside a part's.
        for slice in first {
            let address = slice.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
            let inside = parts.contains { part in
                part.withUnsafeReadableBytes { raw in
                    let start = UInt(bitPattern: raw.baseAddress)
                    return address >= start && address < start + UInt(raw.count)
                }
            }
            #expect(inside)
        }
    }

    @Test func truncatedOrOtherFramesAreRefused() throws {
        let (frame, _) = Self.frame(version: 9)
        // Every truncation of the frame fails to walk (the generated decoder then reports it).
        for length in 0..<frame.readableBytes {
            let cut = frame.getSlice(at: frame.readerIndex, length: length)!
            #expect(throws: ScatteredProduceRequest.Failure.self) {
                try ScatteredProduceRequest(Self.split(cut, at: [length / 2]))
            }
        }
        // Another API, and a version whose layout is unknown.
        var fetch = frame
        fetch.setInteger(ApiKey.fetch.rawValue, at: fetch.readerIndex)
        #expect(throws: ScatteredProduceRequest.Failure.notProduce(apiKey: ApiKey.fetch.rawValue)) {
            try ScatteredProduceRequest([fetch])
        }
        var future = frame
        future.setInteger(Int16(99), at: future.readerIndex + 2)
        #expect(throws: ScatteredProduceRequest.Failure.unknownVersion(99)) { try ScatteredProduceRequest([future]) }
        // A records length past the end is refused, not trusted.
        let (classic, _) = Self.frame(version: 8)
        var lying = classic
        let lengthAt = lying.readerIndex + Self.firstRecordsLengthOffset(classic)
        #expect(lying.getInteger(at: lengthAt, as: Int32.self) == 300)
        lying.setInteger(Int32.max, at: lengthAt)
        #expect(throws: ScatteredProduceRequest.Failure.self) { try ScatteredProduceRequest(Self.split(lying, at: [50])) }
    }

    /// Where the v8 sample frame's first records length is: after the header ("rdkafka"), the
    /// transactional id ("tx-é", 5 bytes), acks, timeout, the topic count, "orders", the
    /// partition count and the partition index.
    static func firstRecordsLengthOffset(_ frame: ByteBuffer) -> Int {
        (2 + 2 + 4 + 2 + 7) + (2 + 5) + 2 + 4 + 4 + (2 + 6) + 4 + 4
    }
}
