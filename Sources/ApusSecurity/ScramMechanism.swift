import Crypto
import _CryptoExtras

/// A SCRAM mechanism (RFC 5802, RFC 7677): the hash that Hi(), HMAC() and H() use.
public enum ScramMechanism: String, Sendable, CaseIterable, Codable {
    case sha256 = "SCRAM-SHA-256"
    case sha512 = "SCRAM-SHA-512"

    /// Kafka's mechanism byte in Describe/AlterUserScramCredentials: 1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512
    /// (0 is Kafka's UNKNOWN).
    public var kafkaType: Int8 {
        switch self {
        case .sha256: 1
        case .sha512: 2
        }
    }

    public init?(kafkaType: Int8) {
        switch kafkaType {
        case 1: self = .sha256
        case 2: self = .sha512
        default: return nil
        }
    }

    /// Kafka's bounds on a credential's iteration count (ScramMechanism.minIterations/maxIterations).
    public static let minimumIterations = 4096
    public static let maximumIterations = 16384

    /// Length in bytes of the hash, of a salted password and of every key.
    public var hashLength: Int {
        switch self {
        case .sha256: SHA256.byteCount
        case .sha512: SHA512.byteCount
        }
    }

    /// SCRAM's Hi(password, salt, i): PBKDF2 with HMAC of the mechanism's hash, output of the hash's length.
    /// The password is used as UTF-8 without SASLprep, as Kafka does.
    public func saltedPassword(password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        let rounds = max(iterations, 1)
        let hashFunction: KDF.Insecure.PBKDF2.HashFunction = self == .sha256 ? .sha256 : .sha512
        // swift-crypto refuses fewer than 210,000 rounds on its checked entry point; SCRAM's counts
        // are 4096...16384 by definition, so the unchecked one is the right one here.
        if let key = try? KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: salt, using: hashFunction,
            outputByteCount: hashLength, unsafeUncheckedRounds: rounds)
        {
            return key.withUnsafeBytes { Array($0) }
        }
        // BoringSSL only fails on allocation failure; compute RFC 5802's definition directly then.
        let key = SymmetricKey(data: Array(password.utf8))
        var block = hmac(key: key, salt + [0, 0, 0, 1])
        var result = block
        for _ in 1..<rounds {
            block = hmac(key: key, block)
            for index in result.indices { result[index] ^= block[index] }
        }
        return result
    }

    /// HMAC(key, message) with the mechanism's hash.
    func hmac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        hmac(key: SymmetricKey(data: key), message)
    }

    private func hmac(key: SymmetricKey, _ message: [UInt8]) -> [UInt8] {
        switch self {
        case .sha256: Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
        case .sha512: Array(HMAC<SHA512>.authenticationCode(for: message, using: key))
        }
    }

    /// H(message) with the mechanism's hash.
    func hash(_ message: [UInt8]) -> [UInt8] {
        switch self {
        case .sha256: Array(SHA256.hash(data: message))
        case .sha512: Array(SHA512.hash(data: message))
        }
    }

    /// ClientKey = HMAC(SaltedPassword, "Client Key").
    func clientKey(saltedPassword: [UInt8]) -> [UInt8] {
        hmac(key: saltedPassword, Array("Client Key".utf8))
    }

    /// ServerKey = HMAC(SaltedPassword, "Server Key").
    func serverKey(saltedPassword: [UInt8]) -> [UInt8] {
        hmac(key: saltedPassword, Array("Server Key".utf8))
    }
}

/// Compares two byte strings in time that depends only on their lengths.
func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
    return difference == 0
}

/// `count` bytes from the system's cryptographically secure generator.
func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
}
