import Foundation
import Testing

@Suite("Generator")
struct GeneratorCheckTests {
    /// Fails when the committed generated code differs from what the generator makes from the
    /// schemas now: regenerate with `python3 tools/kafka-codegen/generate.py` and commit.
    @Test func committedGeneratedCodeIsUpToDate() throws {
        let repositoryRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // ApusProtocolTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", repositoryRoot.appendingPathComponent("tools/kafka-codegen/generate.py").path, "--check"]
        process.currentDirectoryURL = repositoryRoot
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "generate.py --check failed:\n\(text)")
    }
}
