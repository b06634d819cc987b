import ApusProtocol
import NIOCore
import Testing

/// One generated message type, as a test argument.
struct MessageType: Sendable, CustomTestStringConvertible {
    let type: any Sampled.Type
    var testDescription: String { String(describing: type) }

    static let all = allGeneratedMessages.map(MessageType.init)
}

private func encode<M: ProtocolMessage>(_ value: M, version: Int16) -> ByteBuffer {
    var buffer = ByteBuffer()
    value.write(to: &buffer, version: version)
    return buffer
}

private func checkRoundTrip<M: Sampled>(_: M.Type) throws {
    for version in M.validVersions {
        for nulls in [false, true] {
            let value = M.sample(version: version, nulls: nulls)
            let encoded = encode(value, version: version)
            var input = encoded
            let decoded = try M(from: &input, version: version)
            #expect(decoded == value, "\(M.self) v\(version) nulls: \(nulls)")
            #expect(input.readableBytes == 0, "\(M.self) v\(version) left bytes unread")
            #expect(encode(decoded, version: version) == encoded, "\(M.self) v\(version) re-encodes differently")
        }
    }
}

/// Decoding over a value that holds another version's sample gives what decoding anew gives:
/// fields the version lacks are reset, arrays grow and shrink to the message's counts.
private func checkDecodeInPlace<M: Sampled>(_: M.Type) throws {
    for version in M.validVersions {
        for nulls in [false, true] {
            let value = M.sample(version: version, nulls: nulls)
            let encoded = encode(value, version: version)
            var empty = ByteBuffer()
            let blank = try? M(from: &empty, version: M.validVersions.lowerBound)
            let heldValues = M.validVersions.flatMap { [M.sample(version: $0, nulls: false), M.sample(version: $0, nulls: true)] } + [blank].compactMap { $0 }
            for var held in heldValues {
                var input = encoded
                try held.decode(from: &input, version: version)
                #expect(held == value, "\(M.self) v\(version) nulls: \(nulls)")
                #expect(input.readableBytes == 0, "\(M.self) v\(version) left bytes unread")
            }
        }
    }
}

private func checkEveryTruncationThrows<M: Sampled>(_: M.Type) {
    for version in M.validVersions {
        let encoded = encode(M.sample(version: version, nulls: false), version: version)
        for length in 0..<encoded.readableBytes {
            var prefix = encoded.getSlice(at: encoded.readerIndex, length: length)!
            #expect(throws: ProtocolDecodingError.self, "\(M.self) v\(version) cut at \(length)") {
                _ = try M(from: &prefix, version: version)
            }
        }
    }
}

private func checkSamplesDifferFromDefaults<M: Sampled>(_: M.Type) {
    var encodedDefaults = ByteBuffer()
    var encodedSample = ByteBuffer()
    let top = M.validVersions.upperBound
    M.sample(version: top, nulls: false).write(to: &encodedSample, version: top)
    var empty = ByteBuffer()
    if let value = try? M(from: &empty, version: top) {
        value.write(to: &encodedDefaults, version: top)
    }
    #expect(encodedSample != encodedDefaults || encodedSample.readableBytes == 0)
}

@Suite("Generated messages")
struct RoundTripTests {
    @Test("decode(encode(x)) == x at every valid version", arguments: MessageType.all)
    func roundTripsAtEveryVersion(_ message: MessageType) throws {
        try checkRoundTrip(message.type)
    }

    @Test("decoding over another value equals decoding anew", arguments: MessageType.all)
    func decodingInPlaceEqualsDecodingAnew(_ message: MessageType) throws {
        try checkDecodeInPlace(message.type)
    }

    @Test("every strict prefix of a valid encoding throws", arguments: MessageType.all)
    func truncatedInputThrowsAtEveryCut(_ message: MessageType) {
        checkEveryTruncationThrows(message.type)
    }

    @Test("samples are not the default values", arguments: MessageType.all)
    func samplesAreNotDefaults(_ message: MessageType) {
        checkSamplesDifferFromDefaults(message.type)
    }

    @Test func everyGeneratedApiIsListedWithItsVersions() {
        let generated = ApiKey.allCases.filter { $0.generatedVersions != nil }
        #expect(generated.count == 35)
        #expect(ApiKey.metadata.generatedVersions == 0...12)
        #expect(ApiKey.produce.flexibleVersions?.lowerBound == 9)
        #expect(ApiKey.saslHandshake.flexibleVersions == nil)
        #expect(ApiKey.describeProducers.generatedVersions == nil)
        #expect(ApiKey.fetch.name == "Fetch")
    }

    @Test func unsupportedVersionThrows() {
        var buffer = ByteBuffer()
        #expect(throws: ProtocolDecodingError.unsupportedVersion(13)) {
            _ = try MetadataRequest(from: &buffer, version: 13)
        }
        #expect(throws: ProtocolDecodingError.unsupportedVersion(-1)) {
            _ = try MetadataRequest(from: &buffer, version: -1)
        }
    }
}
