/// Record values for the client benchmarks: JSON-like event text (user ids, event names,
/// timestamps, pages, countries), so LZ4 has the realistic work it has in tools/bench's
/// confluent-kafka producers (about 3x on 1 KiB values), not a few repeated strings.
enum BenchPayloads {
    /// `count` different values of exactly `size` bytes.
    static func jsonLike(size: Int, count: Int = 1000) -> [[UInt8]] {
        var generator = SystemRandomNumberGenerator()
        let events = ["click", "view", "buy", "scroll"]
        let countries = ["GB", "DE", "US", "FR", "JP"]
        return (0..<count).map { _ in
            var text = ""
            while text.utf8.count < size {
                text += "{\"user\": \(Int.random(in: 1...200_000, using: &generator)), "
                    + "\"event\": \"\(events.randomElement(using: &generator)!)\", "
                    + "\"ts\": \(1_700_000_000_000 + Int.random(in: 0...1_000_000, using: &generator)), "
                    + "\"page\": \"/p/\(Int.random(in: 1...5000, using: &generator))\", "
                    + "\"country\": \"\(countries.randomElement(using: &generator)!)\", "
                    + "\"ok\": \(Int.random(in: 0..<10, using: &generator) > 0)} "
            }
            return Array(text.utf8.prefix(size))
        }
    }
}
