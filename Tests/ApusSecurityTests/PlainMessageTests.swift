import Testing
@testable import ApusSecurity

@Suite struct PlainMessageTests {
    @Test func parseReturnsTheThreeFields() throws {
        let parsed = try PlainMessage.parse(bytes("\u{0}alice\u{0}s3cret pass"))
        #expect(parsed.authorizationId == "")
        #expect(parsed.username == "alice")
        #expect(parsed.password == "s3cret pass")
    }

    @Test func authorizationIdEqualToTheUserIsAccepted() throws {
        let parsed = try PlainMessage.parse(bytes("alice\u{0}alice\u{0}pw"))
        #expect(parsed.authorizationId == "alice")
        #expect(parsed.username == "alice")
    }

    @Test func encodeRoundTripsThroughParse() throws {
        let encoded = PlainMessage.encode(username: "bj\u{F6}rn", password: "p\u{E4}ss")
        #expect(encoded == [0] + bytes("bj\u{F6}rn") + [0] + bytes("p\u{E4}ss"))
        let parsed = try PlainMessage.parse(encoded)
        #expect(parsed.username == "bj\u{F6}rn")
        #expect(parsed.password == "p\u{E4}ss")
    }

    @Test(arguments: [
        "bob\u{0}alice\u{0}pw",
        "\u{0}\u{0}pw",
        "\u{0}alice\u{0}",
        "alice\u{0}pw",
        "\u{0}alice\u{0}pw\u{0}",
        "",
    ])
    func refusedMessagesThrow(message: String) {
        #expect(saslError { () throws(SaslAuthenticationError) in try PlainMessage.parse(bytes(message)) } != nil)
    }

    @Test func differentAuthorizationIdIsRefusedWithKafkasMessage() {
        let error = saslError { () throws(SaslAuthenticationError) in try PlainMessage.parse(bytes("bob\u{0}alice\u{0}pw")) }
        #expect(error?.message == "Authentication failed: Client requested an authorization id that is different from username")
    }

    @Test func messagesOver4KiBAndInvalidUtf8Throw() {
        let oversized = [0] + bytes("alice") + [0] + [UInt8](repeating: UInt8(ascii: "a"), count: 4096)
        #expect(saslError { () throws(SaslAuthenticationError) in try PlainMessage.parse(oversized) } != nil)
        let invalid: [UInt8] = [0] + bytes("alice") + [0, 0xC3, 0x28]
        #expect(saslError { () throws(SaslAuthenticationError) in try PlainMessage.parse(invalid) } != nil)
    }

    @Test func plainPasswordIsCheckedAgainstTheScramCredential() throws {
        let credential = ScramCredential.make(mechanism: .sha512, password: "s3cret")
        #expect(credential.verifies(password: try PlainMessage.parse(PlainMessage.encode(username: "alice", password: "s3cret")).password))
        #expect(!credential.verifies(password: try PlainMessage.parse(PlainMessage.encode(username: "alice", password: "s3cre")).password))
    }
}
