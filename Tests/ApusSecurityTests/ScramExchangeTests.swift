import Testing
@testable import ApusSecurity

/// SCRAM exchanges between ScramClient and ScramServer, and against RFC 7677's example.
@Suite struct ScramExchangeTests {
    // RFC 7677 section 3.
    static let rfcClientNonce = "rOprNGfwEbeRWgbNEkqO"
    static let rfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    static let rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    static let rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    static let rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    static let rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    static let rfcCredential = ScramCredential.make(
        mechanism: .sha256, password: "pencil", salt: Base64.decode("W22ZaJ0SNY7soEsUEjb6gQ==")!, iterations: 4096)

    static func rfcServer() -> ScramServer {
        ScramServer(mechanism: .sha256, credential: store("user", rfcCredential), serverNonce: rfcServerNonce)
    }

    static let invalidCredentials = SaslAuthenticationError(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256")

    @Test func clientProducesRfc7677MessagesExactly() throws {
        var client = ScramClient(mechanism: .sha256, username: "user", password: "pencil", clientNonce: Self.rfcClientNonce)
        #expect(text(client.firstMessage()) == Self.rfcClientFirst)
        #expect(text(try client.finalMessage(serverFirst: bytes(Self.rfcServerFirst))) == Self.rfcClientFinal)
        try client.verify(serverFinal: bytes(Self.rfcServerFinal))
    }

    @Test func serverProducesRfc7677MessagesExactly() throws {
        var server = Self.rfcServer()
        #expect(try server.receive(bytes(Self.rfcClientFirst)) == .challenge(bytes(Self.rfcServerFirst)))
        #expect(try server.receive(bytes(Self.rfcClientFinal)) == .success(serverFinal: bytes(Self.rfcServerFinal), user: "user"))
    }

    @Test func serverRefusesAnyMessageAfterTheExchange() throws {
        var server = Self.rfcServer()
        _ = try server.receive(bytes(Self.rfcClientFirst))
        _ = try server.receive(bytes(Self.rfcClientFinal))
        #expect(saslError { () throws(SaslAuthenticationError) in try server.receive(bytes(Self.rfcClientFinal)) } != nil)
    }

    @Test(arguments: ScramMechanism.allCases)
    func clientAndServerAuthenticateWithRandomNonces(mechanism: ScramMechanism) throws {
        let credential = ScramCredential.make(mechanism: mechanism, password: "s3cret,=pw", iterations: 8192)
        var server = ScramServer(mechanism: mechanism, credential: store("alice", credential))
        var client = ScramClient(mechanism: mechanism, username: "alice", password: "s3cret,=pw")
        guard case .challenge(let serverFirst) = try server.receive(client.firstMessage()) else {
            Issue.record("expected a challenge")
            return
        }
        #expect(text(serverFirst).hasSuffix(",i=8192"))
        let step = try server.receive(try client.finalMessage(serverFirst: serverFirst))
        guard case .success(let serverFinal, let user) = step else {
            Issue.record("expected success")
            return
        }
        #expect(user == "alice")
        try client.verify(serverFinal: serverFinal)
    }

    @Test func userNamesWithCommaAndEqualsAreEscapedAndDecoded() throws {
        let credential = ScramCredential.make(mechanism: .sha512, password: "pw")
        var server = ScramServer(mechanism: .sha512, credential: store("a,b=c", credential))
        var client = ScramClient(mechanism: .sha512, username: "a,b=c", password: "pw", clientNonce: "nonce")
        let first = client.firstMessage()
        #expect(text(first) == "n,,n=a=2Cb=3Dc,r=nonce")
        guard case .challenge(let serverFirst) = try server.receive(first) else {
            Issue.record("expected a challenge")
            return
        }
        let step = try server.receive(try client.finalMessage(serverFirst: serverFirst))
        guard case .success(_, let user) = step else {
            Issue.record("expected success")
            return
        }
        #expect(user == "a,b=c")
    }

    @Test func wrongPasswordFailsWithKafkasMessage() throws {
        var server = Self.rfcServer()
        var client = ScramClient(mechanism: .sha256, username: "user", password: "pencils", clientNonce: Self.rfcClientNonce)
        guard case .challenge(let serverFirst) = try server.receive(client.firstMessage()) else {
            Issue.record("expected a challenge")
            return
        }
        let clientFinal = try client.finalMessage(serverFirst: serverFirst)
        #expect(saslError { () throws(SaslAuthenticationError) in try server.receive(clientFinal) } == Self.invalidCredentials)
    }

    @Test func unknownUserGetsAPlausibleChallengeAndFailsOnlyAtTheProof() throws {
        var server = Self.rfcServer()
        var client = ScramClient(mechanism: .sha256, username: "nobody", password: "pencil", clientNonce: Self.rfcClientNonce)
        guard case .challenge(let serverFirst) = try server.receive(client.firstMessage()) else {
            Issue.record("expected a challenge")
            return
        }
        let attributes = text(serverFirst).split(separator: ",")
        #expect(attributes.count == 3)
        #expect(attributes[0] == "r=\(Self.rfcClientNonce)\(Self.rfcServerNonce)")
        #expect(Base64.decode(attributes[1].dropFirst(2))?.count == 32)
        #expect(attributes[2] == "i=4096")
        let clientFinal = try client.finalMessage(serverFirst: serverFirst)
        #expect(saslError { () throws(SaslAuthenticationError) in try server.receive(clientFinal) } == Self.invalidCredentials)
    }

    @Test func unknownUserSeesTheSameSaltOnEveryAttempt() throws {
        func challenge(_ user: String) throws -> [UInt8] {
            var server = Self.rfcServer()
            guard case .challenge(let serverFirst) = try server.receive(bytes("n,,n=\(user),r=abc")) else { return [] }
            return serverFirst
        }
        #expect(try challenge("nobody") == challenge("nobody"))
        #expect(try challenge("nobody") != challenge("somebody"))
    }

    @Test func tamperedNonceInClientFinalFails() throws {
        var server = Self.rfcServer()
        _ = try server.receive(bytes(Self.rfcClientFirst))
        let tampered = Self.rfcClientFinal.replacingFirst("hvYD", with: "hvYE")
        let error = saslError { () throws(SaslAuthenticationError) in try server.receive(bytes(tampered)) }
        #expect(error?.message.contains("nonce") == true)
    }

    /// librdkafka before 2.6.1 sends r=<client nonce><client nonce><server nonce> with a proof
    /// over that message (confluentinc/librdkafka#4895); Kafka ≤ 3.9 accepts it, so do we.
    /// Any other prefix is still refused.
    @Test func oldLibrdkafkaRepeatedClientNonceIsAcceptedAndOtherPrefixesAreNot() throws {
        func finalMessage(noncePrefix: String) -> [UInt8] {
            let mechanism = ScramMechanism.sha256
            let salted = mechanism.saltedPassword(password: "pencil", salt: Base64.decode("W22ZaJ0SNY7soEsUEjb6gQ==")!, iterations: 4096)
            let clientKey = mechanism.hmac(key: salted, Array("Client Key".utf8))
            let withoutProof = "c=biws,r=\(noncePrefix)\(Self.rfcClientNonce)\(Self.rfcServerNonce)"
            let authMessage = "n=user,r=\(Self.rfcClientNonce),\(Self.rfcServerFirst),\(withoutProof)"
            let signature = mechanism.hmac(key: mechanism.hash(clientKey), Array(authMessage.utf8))
            let proof = zip(clientKey, signature).map { $0 ^ $1 }
            return bytes("\(withoutProof),p=\(Base64.encode(proof))")
        }
        var server = Self.rfcServer()
        _ = try server.receive(bytes(Self.rfcClientFirst))
        guard case .success(_, let user) = try server.receive(finalMessage(noncePrefix: Self.rfcClientNonce)) else {
            Issue.record("the repeated client nonce was refused")
            return
        }
        #expect(user == "user")
        var other = Self.rfcServer()
        _ = try other.receive(bytes(Self.rfcClientFirst))
        let error = saslError { () throws(SaslAuthenticationError) in try other.receive(finalMessage(noncePrefix: "somethingElse")) }
        #expect(error?.message.contains("nonce") == true)
    }

    @Test func tamperedProofFails() throws {
        var server = Self.rfcServer()
        _ = try server.receive(bytes(Self.rfcClientFirst))
        let tampered = Self.rfcClientFinal.replacingFirst("p=dHzb", with: "p=dHzc")
        #expect(saslError { () throws(SaslAuthenticationError) in try server.receive(bytes(tampered)) } == Self.invalidCredentials)
    }

    @Test func channelBindingOtherThanTheGs2HeaderFails() throws {
        var server = Self.rfcServer()
        _ = try server.receive(bytes(Self.rfcClientFirst))
        // "eSws" is base64 of "y,,".
        let tampered = Self.rfcClientFinal.replacingFirst("c=biws", with: "c=eSws")
        let error = saslError { () throws(SaslAuthenticationError) in try server.receive(bytes(tampered)) }
        #expect(error?.message.contains("channel binding") == true)
    }

    @Test(arguments: [
        "",
        "n,,",
        "p=tls-server-end-point,,n=user,r=abc",
        "y,,n=user,r=abc",
        "n,a=admin,n=user,r=abc",
        "n,,n=user,r=abc,tokenauth=true",
        "n,,m=ext,n=user,r=abc",
        "n,,n=us=er,r=abc",
        "n,,n=,r=abc",
        "n,,n=user,r=",
        "n,,n=user,r=a b",
        "n,,r=abc,n=user",
        "n,,n=user",
        "n,n=user,r=abc",
    ])
    func malformedOrRefusedClientFirstThrows(message: String) {
        var server = Self.rfcServer()
        #expect(saslError { () throws(SaslAuthenticationError) in try server.receive(bytes(message)) } != nil)
    }

    @Test func oversizedMessagesThrow() throws {
        var server = Self.rfcServer()
        let long = "n,,n=user,r=" + String(repeating: "a", count: 4096)
        #expect(saslError { () throws(SaslAuthenticationError) in try server.receive(bytes(long)) } != nil)

        var second = Self.rfcServer()
        _ = try second.receive(bytes(Self.rfcClientFirst))
        let longFinal = Self.rfcClientFinal.replacingFirst("c=biws,", with: "c=biws,x=" + String(repeating: "a", count: 4096) + ",")
        #expect(saslError { () throws(SaslAuthenticationError) in try second.receive(bytes(longFinal)) } != nil)
    }

    @Test(arguments: [
        "",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=not*base64",
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzb",
    ])
    func malformedClientFinalThrows(message: String) throws {
        var server = Self.rfcServer()
        _ = try server.receive(bytes(Self.rfcClientFirst))
        #expect(saslError { () throws(SaslAuthenticationError) in try server.receive(bytes(message)) } != nil)
    }

    @Test func authorizationIdEqualToTheUserIsAcceptedWithItsChannelBinding() throws {
        let credential = ScramCredential.make(mechanism: .sha256, password: "pw")
        var server = ScramServer(mechanism: .sha256, credential: store("user", credential), serverNonce: "server")
        let clientFirstBare = "n=user,r=client"
        guard case .challenge(let serverFirst) = try server.receive(bytes("n,a=user," + clientFirstBare)) else {
            Issue.record("expected a challenge")
            return
        }
        // Compute the proof as a client would, with c = base64("n,a=user,").
        let salted = ScramMechanism.sha256.saltedPassword(password: "pw", salt: credential.salt, iterations: 4096)
        let clientKey = ScramMechanism.sha256.clientKey(saltedPassword: salted)
        let withoutProof = "c=\(Base64.encode(bytes("n,a=user,"))),r=clientserver"
        let authMessage = bytes("\(clientFirstBare),\(text(serverFirst)),\(withoutProof)")
        let signature = ScramMechanism.sha256.hmac(key: ScramMechanism.sha256.hash(clientKey), authMessage)
        let proof = zip(clientKey, signature).map { $0 ^ $1 }
        let step = try server.receive(bytes("\(withoutProof),p=\(Base64.encode(proof))"))
        guard case .success(_, let user) = step else {
            Issue.record("expected success")
            return
        }
        #expect(user == "user")
    }

    @Test func credentialOfAnotherMechanismIsTreatedAsUnknown() throws {
        let sha512Credential = ScramCredential.make(mechanism: .sha512, password: "pencil")
        var server = ScramServer(mechanism: .sha256, credential: store("user", sha512Credential))
        var client = ScramClient(mechanism: .sha256, username: "user", password: "pencil")
        guard case .challenge(let serverFirst) = try server.receive(client.firstMessage()) else {
            Issue.record("expected a challenge")
            return
        }
        let clientFinal = try client.finalMessage(serverFirst: serverFirst)
        #expect(saslError { () throws(SaslAuthenticationError) in try server.receive(clientFinal) } == Self.invalidCredentials)
    }

    @Test func clientRefusesAServerNonceThatDoesNotExtendItsOwn() {
        var client = ScramClient(mechanism: .sha256, username: "user", password: "pencil", clientNonce: Self.rfcClientNonce)
        _ = client.firstMessage()
        for serverFirst in [
            "r=XOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        ] {
            #expect(saslError { () throws(SaslAuthenticationError) in try client.finalMessage(serverFirst: bytes(serverFirst)) } != nil)
        }
    }

    @Test(arguments: [1, 4095, 16385])
    func clientRefusesIterationCountsOutsideKafkasBounds(iterations: Int) {
        var client = ScramClient(mechanism: .sha256, username: "user", password: "pencil", clientNonce: Self.rfcClientNonce)
        _ = client.firstMessage()
        let serverFirst = Self.rfcServerFirst.replacingFirst("i=4096", with: "i=\(iterations)")
        #expect(saslError { () throws(SaslAuthenticationError) in try client.finalMessage(serverFirst: bytes(serverFirst)) } != nil)
    }

    @Test(arguments: ["", "r=abc", "m=x,r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                      "r=rOprNGfwEbeRWgbNEkqOx,s=!!!!,i=4096", "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-4096"])
    func clientRefusesMalformedServerFirst(serverFirst: String) {
        var client = ScramClient(mechanism: .sha256, username: "user", password: "pencil", clientNonce: Self.rfcClientNonce)
        _ = client.firstMessage()
        #expect(saslError { () throws(SaslAuthenticationError) in try client.finalMessage(serverFirst: bytes(serverFirst)) } != nil)
    }

    @Test func clientReportsTheServersErrorText() throws {
        var client = ScramClient(mechanism: .sha256, username: "user", password: "pencil", clientNonce: Self.rfcClientNonce)
        _ = try client.finalMessage(serverFirst: bytes(Self.rfcServerFirst))
        let error = saslError { () throws(SaslAuthenticationError) in try client.verify(serverFinal: bytes("e=invalid-proof")) }
        #expect(error == SaslAuthenticationError("invalid-proof"))
    }

    @Test func clientRefusesAWrongServerSignature() throws {
        var client = ScramClient(mechanism: .sha256, username: "user", password: "pencil", clientNonce: Self.rfcClientNonce)
        _ = try client.finalMessage(serverFirst: bytes(Self.rfcServerFirst))
        let forged = Self.rfcServerFinal.replacingFirst("v=6rri", with: "v=6rrj")
        #expect(saslError { () throws(SaslAuthenticationError) in try client.verify(serverFinal: bytes(forged)) } != nil)
        var genuine = ScramClient(mechanism: .sha256, username: "user", password: "pencil", clientNonce: Self.rfcClientNonce)
        _ = try genuine.finalMessage(serverFirst: bytes(Self.rfcServerFirst))
        try genuine.verify(serverFinal: bytes(Self.rfcServerFinal))
    }

    @Test func clientRefusesAServerFinalBeforeItsFinalMessage() {
        var client = ScramClient(mechanism: .sha256, username: "user", password: "pencil", clientNonce: Self.rfcClientNonce)
        _ = client.firstMessage()
        #expect(saslError { () throws(SaslAuthenticationError) in try client.verify(serverFinal: bytes(Self.rfcServerFinal)) } != nil)
    }
}

extension String {
    /// The string with the first occurrence of `target` replaced.
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = firstRange(of: target) else { preconditionFailure("\(target) is not in \(self)") }
        return self[..<range.lowerBound] + replacement + self[range.upperBound...]
    }
}
