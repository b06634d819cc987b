// swift-tools-version:6.1
// libFuzzer targets for Apus's decoders. Build and run with tools/fuzz/run (needs --sanitize=fuzzer).
import PackageDescription

let package = Package(
    name: "ApusFuzz",
    dependencies: [
        .package(name: "Apus", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "FuzzRequests",
            dependencies: [
                .product(name: "ApusProtocol", package: "Apus"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .executableTarget(
            name: "FuzzRecordBatches",
            dependencies: [
                .product(name: "ApusRecord", package: "Apus"),
                .product(name: "ApusStorage", package: "Apus"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
