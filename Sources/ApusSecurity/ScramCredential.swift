/// What a broker stores per user and SCRAM mechanism (RFC 5802 section 3): the salt, the iteration
/// count, StoredKey = H(ClientKey) and ServerKey. Never the password, nor the salted password.
public struct ScramCredential: Sendable, Equatable, Codable {
    public var mechanism: ScramMechanism
    public var salt: [UInt8]
    public var storedKey: [UInt8]
    public var serverKey: [UInt8]
    public var iterations: Int

    public init(mechanism: ScramMechanism, salt: [UInt8], storedKey: [UInt8], serverKey: [UInt8], iterations: Int) {
        self.mechanism = mechanism
        self.salt = salt
        self.storedKey = storedKey
        self.serverKey = serverKey
        self.iterations = iterations
    }

    /// A fresh random salt, as `make` uses and clients send in AlterUserScramCredentials.
    public static func randomSalt() -> [UInt8] { randomBytes(32) }

    /// The credential for `password`; a random 32-byte salt when `salt` is nil.
    public static func make(
        mechanism: ScramMechanism, password: String, salt: [UInt8]? = nil, iterations: Int = 4096
    ) -> ScramCredential {
        let salt = salt ?? randomSalt()
        let saltedPassword = mechanism.saltedPassword(password: password, salt: salt, iterations: iterations)
        return fromSaltedPassword(mechanism: mechanism, salt: salt, saltedPassword: saltedPassword, iterations: iterations)
    }

    /// The credential from a salted password, which is what AlterUserScramCredentials carries.
    public static func fromSaltedPassword(
        mechanism: ScramMechanism, salt: [UInt8], saltedPassword: [UInt8], iterations: Int
    ) -> ScramCredential {
        ScramCredential(
            mechanism: mechanism, salt: salt,
            storedKey: mechanism.hash(mechanism.clientKey(saltedPassword: saltedPassword)),
            serverKey: mechanism.serverKey(saltedPassword: saltedPassword),
            iterations: iterations)
    }

    /// Whether `password` is the one this credential was made from: recomputes the stored key and
    /// compares in constant time. This is how SASL/PLAIN checks a password against SCRAM credentials.
    public func verifies(password: String) -> Bool {
        let saltedPassword = mechanism.saltedPassword(password: password, salt: salt, iterations: iterations)
        return constantTimeEquals(mechanism.hash(mechanism.clientKey(saltedPassword: saltedPassword)), storedKey)
    }
}
