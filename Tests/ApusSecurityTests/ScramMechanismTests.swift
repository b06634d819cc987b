import Testing
@testable import ApusSecurity

@Suite struct ScramMechanismTests {
    // Expected values computed once with Python: hashlib.pbkdf2_hmac(hash, password, salt, iterations).hex()
    @Test func saltedPasswordMatchesPythonPbkdf2ForSha256() {
        let salt = Base64.decode("W22ZaJ0SNY7soEsUEjb6gQ==")!
        let salted = ScramMechanism.sha256.saltedPassword(password: "pencil", salt: salt, iterations: 4096)
        #expect(hex(salted) == "c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d")
    }

    @Test func saltedPasswordMatchesPythonPbkdf2ForSha512() {
        let salt = Base64.decode("W22ZaJ0SNY7soEsUEjb6gQ==")!
        let salted = ScramMechanism.sha512.saltedPassword(password: "pencil", salt: salt, iterations: 4096)
        #expect(hex(salted) == "f16efe1be67f1d09502ebd5ed9262fddffba5a377ab4f0b687e5ed5ba0f50686b8a4ae166476da8ab3b951d2fa9238b63998f45461bc33a464814949cec9631d")
    }

    @Test func saltedPasswordHashesTheUtf8OfANonAsciiPassword() {
        let salted = ScramMechanism.sha512.saltedPassword(password: "p\u{E4}ssword", salt: bytes("saltSALTsalt"), iterations: 5000)
        #expect(hex(salted) == "15816df6ca74aeb6e137e95c4a1197e39d3decc0454a64e81d5385d065ce4b9941844490f31729f1d7073bcb49a983c9433167a822ff72ba8ba2bff07a675081")
    }

    @Test func kafkaTypeBytesRoundTripAndUnknownBytesAreRefused() {
        #expect(ScramMechanism.sha256.kafkaType == 1)
        #expect(ScramMechanism.sha512.kafkaType == 2)
        for mechanism in ScramMechanism.allCases {
            #expect(ScramMechanism(kafkaType: mechanism.kafkaType) == mechanism)
        }
        #expect(ScramMechanism(kafkaType: 0) == nil)
        #expect(ScramMechanism(kafkaType: 3) == nil)
    }

    @Test func saslMechanismNamesAreKafkasAndMapToScram() {
        #expect(SaslMechanism(rawValue: "PLAIN") == .plain)
        #expect(SaslMechanism(rawValue: "SCRAM-SHA-512")?.scram == .sha512)
        #expect(SaslMechanism.scramSha256.scram == .sha256)
        #expect(SaslMechanism.plain.scram == nil)
        #expect(SaslMechanism(rawValue: "GSSAPI") == nil)
    }

    @Test func credentialVerifiesOnlyItsOwnPassword() {
        for mechanism in ScramMechanism.allCases {
            let credential = ScramCredential.make(mechanism: mechanism, password: "secret")
            #expect(credential.salt.count == 32)
            #expect(credential.iterations == 4096)
            #expect(credential.storedKey.count == mechanism.hashLength)
            #expect(credential.serverKey.count == mechanism.hashLength)
            #expect(credential.verifies(password: "secret"))
            #expect(!credential.verifies(password: "Secret"))
            #expect(!credential.verifies(password: ""))
        }
    }

    @Test func credentialsGetFreshRandomSalts() {
        let first = ScramCredential.make(mechanism: .sha256, password: "secret")
        let second = ScramCredential.make(mechanism: .sha256, password: "secret")
        #expect(first.salt != second.salt)
        #expect(first.storedKey != second.storedKey)
    }

    @Test func credentialFromSaltedPasswordEqualsCredentialFromPassword() {
        let salt = bytes("0123456789abcdef")
        let salted = ScramMechanism.sha512.saltedPassword(password: "secret", salt: salt, iterations: 8192)
        let fromSalted = ScramCredential.fromSaltedPassword(mechanism: .sha512, salt: salt, saltedPassword: salted, iterations: 8192)
        #expect(fromSalted == ScramCredential.make(mechanism: .sha512, password: "secret", salt: salt, iterations: 8192))
        #expect(fromSalted.verifies(password: "secret"))
    }

    @Test func base64RoundTripsAndRefusesNonCanonicalText() {
        for length in 0..<10 {
            let data = (0..<length).map { UInt8($0 * 37 & 0xFF) }
            #expect(Base64.decode(Substring(Base64.encode(data))) == data)
        }
        #expect(Base64.encode(bytes("n,,")) == "biws")
        #expect(Base64.decode("biw") == nil)
        #expect(Base64.decode("bi=s") == nil)
        #expect(Base64.decode("b!ws") == nil)
        #expect(Base64.decode("bi==biws") == nil)
    }
}
