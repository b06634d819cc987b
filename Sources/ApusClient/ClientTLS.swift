import Foundation
import NIOCore
import NIOSSL

/// Turns ``ClientSecurity/TLS`` settings into a NIOSSL context, and NIOSSL's errors into plain
/// reasons ("certificate verify failed").
enum ClientTLS {
    /// A client TLS context: the CA file (or the system's trust roots), the client certificate
    /// and key for mutual TLS, and full verification unless hostname checks are off.
    static func context(for settings: ClientSecurity.TLS) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = settings.caLocation.map { .file($0) } ?? .default
        configuration.certificateVerification = settings.verifyHostname ? .fullVerification : .noHostnameVerification
        if let certificateLocation = settings.certificateLocation, let keyLocation = settings.keyLocation {
            let chain: [NIOSSLCertificate]
            do {
                chain = try NIOSSLCertificate.fromPEMFile(certificateLocation)
            } catch {
                throw KafkaClientError.invalidTLSConfiguration("cannot load the certificate in \(certificateLocation)")
            }
            guard !chain.isEmpty else {
                throw KafkaClientError.invalidTLSConfiguration("no certificate in \(certificateLocation)")
            }
            let key: NIOSSLPrivateKey
            do {
                if let password = settings.keyPassword {
                    key = try NIOSSLPrivateKey(file: keyLocation, format: .pem) { (setter: ([UInt8]) -> Void) in setter(Array(password.utf8)) }
                } else {
                    key = try NIOSSLPrivateKey(file: keyLocation, format: .pem)
                }
            } catch {
                let hint = settings.keyPassword == nil ? " (if it is encrypted, give ssl.key.password)" : " (is ssl.key.password right?)"
                throw KafkaClientError.invalidTLSConfiguration("cannot load the private key in \(keyLocation)\(hint)")
            }
            configuration.certificateChain = chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(key)
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            let what = settings.caLocation.map { "the CA certificates in \($0)" } ?? "the system's trust roots"
            throw KafkaClientError.invalidTLSConfiguration("cannot load \(what): \(reason(error) ?? "\(error)")")
        }
    }

    /// The name to send for SNI and to check the certificate against: the host, unless it is
    /// an IP address (SNI carries names only; NIOSSL then checks the peer's address instead).
    static func serverHostname(for host: String) -> String? {
        (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
    }

    /// A plain reason for a TLS error, or nil if `error` is not one (or is only the peer
    /// closing without a TLS goodbye).
    static func reason(_ error: Error) -> String? {
        switch error {
        case let error as NIOSSLError:
            switch error {
            case .handshakeFailed(let boring), .shutdownFailed(let boring): return reason(boring)
            case .uncleanShutdown: return nil
            case .failedToLoadCertificate: return "a certificate could not be loaded"
            case .failedToLoadPrivateKey: return "the private key could not be loaded"
            case .noSuchFilesystemObject: return "a certificate or key file does not exist"
            default: return "\(error)"
            }
        case let error as BoringSSLError:
            switch error {
            case .sslError(let stack), .unknownError(let stack), .invalidSNIName(let stack), .failedToSetALPN(let stack):
                return stack.first.map(reason) ?? "TLS error"
            default: return "\(error)"
            }
        case let error as NIOSSLExtraError:
            if error == .failedToValidateHostname { return "the broker's certificate does not name the host connected to" }
            return "\(error)"
        default:
            return nil
        }
    }

    /// `error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at …` → `certificate verify failed`;
    /// an alert from the broker → `the broker sent alert certificate required`.
    static func reason(_ error: BoringSSLInternalError) -> String {
        var text = error.description
        if let at = text.range(of: " at ", options: .backwards) { text = String(text[..<at.lowerBound]) }
        if error == .eofDuringHandshake { return "the broker closed the connection during the handshake (is the listener TLS?)" }
        guard text.contains("error:"), let last = text.split(separator: ":").last else {
            return text.hasPrefix("Error:  ") ? String(text.dropFirst(8)) : text
        }
        var code = String(last)
        for prefix in ["TLSV1_ALERT_", "SSLV3_ALERT_"] where code.hasPrefix(prefix) {
            code.removeFirst(prefix.count)
            return "the broker sent alert " + code.lowercased().replacingOccurrences(of: "_", with: " ")
        }
        return code.lowercased().replacingOccurrences(of: "_", with: " ")
    }
}
