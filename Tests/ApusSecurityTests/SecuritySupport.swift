@testable import ApusSecurity

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

/// The thrown SaslAuthenticationError, or nil when `body` did not throw.
func saslError<T>(_ body: () throws(SaslAuthenticationError) -> T) -> SaslAuthenticationError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// A credential store for ScramServer holding one user.
func store(_ user: String, _ credential: ScramCredential) -> @Sendable (String) -> ScramCredential? {
    { $0 == user ? credential : nil }
}
