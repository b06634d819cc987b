import ApusSecurity
import ApusStorage
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// The broker's security state: the TLS context of its TLS listeners, the SCRAM credentials
/// and the ACLs, with the authorization check every handler asks.
///
/// Credentials and ACLs live in files under `<data dir>/security/` (``ScramCredentialStore``,
/// ``AclStore``); this type keeps them in memory and writes changes through. The ACL snapshot
/// is read under a mutex once per check when an authorizer is configured, and not at all
/// otherwise, so the development mode pays nothing.
public final class BrokerSecurity: Sendable {
    /// The broker-wide settings (the authorizer, super users, and each listener's defaults).
    public let config: SecurityConfig
    /// Each listener's TLS and SASL settings (its `listener.name.<listener>.*` over ``config``).
    private let listenerConfigs: [String: SecurityConfig]
    /// The TLS context of each TLS listener, by name.
    private let tlsContexts: [String: NIOSSLContext]
    let credentialStore: ScramCredentialStore
    private let aclStore: AclStore
    private let credentials: Mutex<(version: FileSystem.Version?, users: [String: [ScramMechanism: ScramCredential]])>
    private let authorizer: Mutex<AclAuthorizer>
    /// Whether ACLs are checked at all (`authorizer.class.name` set).
    public let authorizerEnabled: Bool
    private let logger: Logger

    init(config: BrokerConfig, logger: Logger) throws {
        self.config = config.security
        self.logger = logger
        credentialStore = ScramCredentialStore(dataDirectory: config.dataDirectory)
        aclStore = AclStore(dataDirectory: config.dataDirectory)
        try credentialStore.removeLeftovers()
        credentials = Mutex((credentialStore.version, try credentialStore.load()))
        authorizerEnabled = config.security.authorizerEnabled
        authorizer = Mutex(Self.makeAuthorizer(authorizerEnabled ? try aclStore.load() : [], config.security))
        let scoped = Dictionary(config.listeners.map { ($0.name, config.security(for: $0)) }, uniquingKeysWith: { first, _ in first })
        var contexts: [String: NIOSSLContext] = [:]
        for listener in config.listeners where listener.securityProtocol.usesTLS {
            guard let settings = scoped[listener.name], let keystore = settings.keystoreLocation else { continue }  // validate() refuses this
            contexts[listener.name] = try Self.makeTLSContext(settings, keystore: keystore)
        }
        listenerConfigs = scoped
        tlsContexts = contexts
    }

    /// The TLS and SASL settings of `listener`.
    func config(for listener: Listener) -> SecurityConfig { listenerConfigs[listener.name] ?? config }

    /// The TLS context of a TLS listener; nil for the others.
    func tlsContext(for listener: Listener) -> NIOSSLContext? { tlsContexts[listener.name] }

    /// Kafka's PEM keystore: one file with the certificate chain and the private key.
    private static func makeTLSContext(_ config: SecurityConfig, keystore: String) throws -> NIOSSLContext {
        let certificates: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(keystore)
            if let password = config.keyPassword {
                key = try NIOSSLPrivateKey(file: keystore, format: .pem) { setter in setter(Array(password.utf8)) }
            } else {
                key = try NIOSSLPrivateKey(file: keystore, format: .pem)
            }
        } catch {
            throw ConfigError("ssl.keystore.location=\(keystore): cannot read a PEM certificate chain and private key: \(error)")
        }
        guard !certificates.isEmpty else { throw ConfigError("ssl.keystore.location=\(keystore) holds no certificate") }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        if config.clientAuth != .none, let truststore = config.truststoreLocation {
            // A client's certificate is checked against the truststore, not against a host name.
            tls.certificateVerification = config.clientAuth == .required ? .noHostnameVerification : .optionalVerification
            tls.trustRoots = .file(truststore)
            tls.sendCANameList = true
        }
        do { return try NIOSSLContext(configuration: tls) } catch {
            throw ConfigError("cannot build the TLS context from ssl.keystore.location / ssl.truststore.location: \(error)")
        }
    }

    // MARK: Authorization

    /// The name of the single cluster resource in ACLs.
    public static let clusterResourceName = "kafka-cluster"

    /// Whether `principal` connecting from `host` may do `operation` on the resource. Always
    /// true without an authorizer.
    public func authorize(
        _ principal: KafkaPrincipal, host: String, _ operation: AclOperation, _ resourceType: AclResourceType, _ name: String
    ) -> Bool {
        guard authorizerEnabled else { return true }
        return authorizer.withLock {
            $0.authorize(principal: principal, host: host, operation: operation, resourceType: resourceType, name: name)
        }
    }

    /// Whether `principal` may do `operation` on at least one resource of the type (KIP-679).
    public func authorizeAny(_ principal: KafkaPrincipal, host: String, _ operation: AclOperation, _ resourceType: AclResourceType) -> Bool {
        guard authorizerEnabled else { return true }
        return authorizer.withLock { $0.authorizeAny(principal: principal, host: host, operation: operation, resourceType: resourceType) }
    }

    private static func makeAuthorizer(_ bindings: [AclBinding], _ config: SecurityConfig) -> AclAuthorizer {
        AclAuthorizer(bindings: bindings, superUsers: config.superUsers, allowEveryoneIfNoAclFound: config.allowEveryoneIfNoAclFound)
    }

    /// The ACLs matching `filter` (none without an authorizer: handlers answer SECURITY_DISABLED first).
    func describeAcls(_ filter: AclBindingFilter) -> [AclBinding] {
        authorizer.withLock { $0.bindings.filter(filter.matches) }
    }

    /// Adds bindings (duplicates are kept once) and persists them.
    func createAcls(_ bindings: [AclBinding]) throws {
        try authorizer.withLock { current in
            var all = current.bindings
            for binding in bindings where !all.contains(binding) { all.append(binding) }
            try aclStore.save(all)
            current = Self.makeAuthorizer(all, config)
        }
    }

    /// Deletes what each filter matches; per filter, the deleted bindings.
    func deleteAcls(_ filters: [AclBindingFilter]) throws -> [[AclBinding]] {
        try authorizer.withLock { current in
            let before = current.bindings
            let matched = filters.map { filter in before.filter(filter.matches) }
            let remaining = before.filter { binding in !filters.contains(where: { $0.matches(binding) }) }
            if remaining.count != before.count {
                try aclStore.save(remaining)
                current = Self.makeAuthorizer(remaining, config)
            }
            return matched
        }
    }

    // MARK: Credentials

    /// The stored credential of `user` for `mechanism`.
    public func credential(user: String, mechanism: ScramMechanism) -> ScramCredential? {
        describeCredentials()[user]?[mechanism]
    }

    /// Every user's credentials; rereads the file first when another process
    /// (`apus users --data-dir`) changed it.
    func describeCredentials() -> [String: [ScramMechanism: ScramCredential]] {
        credentials.withLock { state in
            let version = credentialStore.version
            if version != state.version {
                do {
                    state = (version, try credentialStore.load())
                } catch {
                    logger.error("cannot reread the credentials file; keeping the previous credentials", metadata: ["error": "\(error)"])
                }
            }
            return state.users
        }
    }

    /// Adds or replaces a credential and persists it.
    func upsertCredential(user: String, credential: ScramCredential) throws {
        try credentials.withLock { state in
            try credentialStore.upsert(user: user, credential: credential)
            state = (credentialStore.version, try credentialStore.load())
        }
    }

    /// Deletes a credential; false when there was none.
    func deleteCredential(user: String, mechanism: ScramMechanism) throws -> Bool {
        try credentials.withLock { state in
            let deleted = try credentialStore.delete(user: user, mechanism: mechanism)
            state = (credentialStore.version, try credentialStore.load())
            return deleted
        }
    }
}
