import Foundation

/// Throwaway certificates for TLS tests, made with the `openssl` command-line tool in a
/// temporary directory: a CA, a server certificate for 127.0.0.1 and localhost signed by it
/// (also as a Kafka PEM keystore: chain and unencrypted key in one file), a client certificate
/// with CN=alice (its key also encrypted with ``clientKeyPassword``), and a second CA that
/// signed nothing here, to test a client that trusts the wrong CA.
///
/// Broker tests can copy this file as it is: it needs nothing but Foundation and `openssl`.
struct TestCertificates {
    let directory: String
    /// The CA's certificate (PEM): the client's `ssl.ca.location`, the broker's `ssl.truststore.location`.
    var caPath: String { directory + "/ca.pem" }
    /// A CA that signed neither certificate.
    var otherCAPath: String { directory + "/other-ca.pem" }
    /// Server certificate and key in one PEM file: the broker's `ssl.keystore.location`.
    var serverKeystorePath: String { directory + "/server-keystore.pem" }
    /// Client certificate (CN=alice) and key, for mutual TLS.
    var clientCertificatePath: String { directory + "/client.pem" }
    var clientKeyPath: String { directory + "/client.key" }
    /// The client key encrypted with ``clientKeyPassword``.
    var encryptedClientKeyPath: String { directory + "/client-encrypted.key" }
    let clientKeyPassword = "client-key-secret"

    struct OpenSSLFailed: Error, CustomStringConvertible {
        var description: String
    }

    /// Makes all the files in a new temporary directory (about a tenth of a second: EC keys).
    static func make() throws -> TestCertificates {
        let directory = NSTemporaryDirectory() + "apus-certs-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        try certificates.generate()
        return certificates
    }

    private func generate() throws {
        for ca in ["ca", "other-ca"] {
            try openssl(
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "\(ca).key", "-out", "\(ca).pem", "-days", "2", "-subj", "/CN=Apus Test \(ca)",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        }
        try issue("server", subject: "/CN=localhost", extensions: """
            subjectAltName=IP:127.0.0.1,DNS:localhost
            basicConstraints=CA:FALSE
            keyUsage=critical,digitalSignature,keyEncipherment
            extendedKeyUsage=serverAuth
            """)
        try issue("client", subject: "/CN=alice", extensions: """
            basicConstraints=CA:FALSE
            keyUsage=critical,digitalSignature,keyEncipherment
            extendedKeyUsage=clientAuth
            """)
        let keystore = try String(contentsOfFile: directory + "/server.pem", encoding: .utf8)
            + String(contentsOfFile: directory + "/server.key", encoding: .utf8)
        try keystore.write(toFile: serverKeystorePath, atomically: true, encoding: .utf8)
        try openssl("pkey", "-in", "client.key", "-aes256", "-passout", "pass:\(clientKeyPassword)", "-out", "client-encrypted.key")
    }

    /// A key and a certificate for it signed by the CA.
    private func issue(_ name: String, subject: String, extensions: String) throws {
        try extensions.write(toFile: directory + "/\(name).ext", atomically: true, encoding: .utf8)
        try openssl(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", subject)
        try openssl(
            "x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "\(UInt32.random(in: 1...UInt32.max))",
            "-days", "2", "-extfile", "\(name).ext", "-out", "\(name).pem")
    }

    private func openssl(_ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OpenSSLFailed(description: "openssl \(arguments.joined(separator: " ")) failed: \(String(decoding: message, as: UTF8.self))")
        }
    }

    /// Deletes the directory.
    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
