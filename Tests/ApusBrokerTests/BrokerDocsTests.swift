import ApusProtocol
import Foundation
import Testing
@testable import ApusBroker

/// Docs/protocol.md's table of served APIs must match what the broker advertises.
@Suite struct BrokerDocsTests {
    @Test func protocolDocListsExactlyTheAdvertisedVersions() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("Docs/protocol.md"), encoding: .utf8)
        let begin = try #require(text.range(of: "<!-- BEGIN broker API table -->"))
        let end = try #require(text.range(of: "<!-- END broker API table -->"))
        var documented: [String] = []
        for line in text[begin.upperBound..<end.lowerBound].split(separator: "\n").dropFirst(2) {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            documented.append("\(cells[1]) \(cells[2]) \(cells[3])")
        }
        let advertised = ApiVersionsHandler.advertised.map { entry in
            "\(ApiKey(rawValue: entry.apiKey)!.name) \(entry.apiKey) \(entry.minVersion)-\(entry.maxVersion)"
        }
        #expect(documented == advertised)
    }
}
