// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Apus",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "apus", targets: ["apus"]),
        .library(name: "ApusRecord", targets: ["ApusRecord"]),
        .library(name: "ApusStorage", targets: ["ApusStorage"]),
        .library(name: "ApusProtocol", targets: ["ApusProtocol"]),
        .library(name: "ApusBroker", targets: ["ApusBroker"]),
        .library(name: "ApusPlacement", targets: ["ApusPlacement"]),
        .library(name: "ApusClient", targets: ["ApusClient"]),
        .library(name: "ApusSecurity", targets: ["ApusSecurity"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
    ],
    targets: [
        // C shims: the system's liblz4 and zlib, CRC32C, and Linux calls glibc hides from Swift.
        .systemLibrary(
            name: "CLZ4", pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .target(
            name: "CCRC32C",
            cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "CLinuxIO"),

        // Record batch v2, varints and compression: no I/O, shared by broker and client.
        .target(
            name: "ApusRecord",
            dependencies: ["CLZ4", "CZlib", "CCRC32C"]),

        // Generated Kafka protocol messages and wire primitives.
        .target(
            name: "ApusProtocol",
            dependencies: [
                "ApusRecord",
                .product(name: "NIOCore", package: "swift-nio"),
            ]),

        // Segments, indexes, partition logs, recovery and retention. No networking.
        .target(
            name: "ApusStorage",
            dependencies: ["ApusRecord", "CLinuxIO"]),

        // SASL mechanisms (PLAIN, SCRAM-SHA-256/512), credentials, principals and the ACL model:
        // shared by broker and client, no I/O.
        .target(
            name: "ApusSecurity",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]),

        // Java .properties text (server.properties, --command-config files): shared by broker,
        // client and CLI, no I/O.
        .target(name: "ApusProperties"),

        // Partition placement by consistent hashing with bounded loads: pure, no I/O.
        .target(name: "ApusPlacement"),
        .executableTarget(name: "placement-sim", dependencies: ["ApusPlacement"], path: "Sources/PlacementSim"),

        // The broker: the NIO server, one handler file per API, configuration, metrics.
        .target(
            name: "ApusBroker",
            dependencies: [
                "ApusProtocol", "ApusStorage", "ApusRecord", "ApusSecurity", "ApusProperties",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),

        // The Swift client: connections, producer, consumer and admin, speaking only the protocol.
        .target(
            name: "ApusClient",
            dependencies: [
                "ApusProtocol", "ApusRecord", "ApusSecurity", "ApusProperties",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),

        // The `apus` command line.
        .executableTarget(
            name: "apus",
            dependencies: [
                "ApusBroker", "ApusClient", "ApusProtocol", "ApusStorage", "ApusRecord", "ApusSecurity",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),

        .testTarget(name: "ApusRecordTests", dependencies: ["ApusRecord"]),
        .testTarget(name: "ApusStorageTests", dependencies: ["ApusStorage", "ApusRecord"]),
        .testTarget(name: "ApusPlacementTests", dependencies: ["ApusPlacement"]),
        .testTarget(name: "ApusPropertiesTests", dependencies: ["ApusProperties"]),
        .testTarget(name: "ApusSecurityTests", dependencies: ["ApusSecurity"]),
        .testTarget(
            name: "ApusClientTests",
            dependencies: [
                "ApusClient", "ApusBroker", "ApusProtocol", "ApusRecord", "ApusSecurity",
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .testTarget(
            name: "ApusBrokerTests",
            dependencies: [
                "ApusBroker", "ApusProtocol", "ApusRecord", "ApusSecurity", "ApusStorage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]),
        .testTarget(
            name: "ApusProtocolTests",
            dependencies: ["ApusProtocol", .product(name: "NIOCore", package: "swift-nio")]),
    ],
    swiftLanguageModes: [.v6]
)
