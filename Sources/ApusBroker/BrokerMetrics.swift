import ApusStorage
import Metrics
import Synchronization

/// The broker's metrics, through swift-metrics (the executable bootstraps a Prometheus backend).
/// Names follow Prometheus conventions; partition offsets also use kafka_exporter's names so
/// existing dashboards work.
public final class BrokerMetrics: Sendable {
    private let connections = Gauge(label: "apus_connections")
    private let openConnections = Atomic<Int>(0)
    private let cache = Mutex<[String: (bytesIn: Counter, messagesIn: Counter, bytesOut: Counter)]>([:])
    private let requestTimers = Mutex<[String: (Counter, Timer)]>([:])
    /// One gauge per partition, made once: making one per append cost allocations per request.
    private let offsetGauges = Mutex<[TopicPartition: Gauge]>([:])

    public init() {}

    func connectionOpened() { connections.record(openConnections.add(1, ordering: .relaxed).newValue) }
    func connectionClosed() { connections.record(openConnections.subtract(1, ordering: .relaxed).newValue) }

    func requestCompleted(api: String, seconds: Double) {
        let (counter, timer) = requestTimers.withLock { timers in
            if let found = timers[api] { return found }
            let made = (
                Counter(label: "apus_requests_total", dimensions: [("api", api)]),
                Timer(label: "apus_request_duration_seconds", dimensions: [("api", api)], preferredDisplayUnit: .seconds)
            )
            timers[api] = made
            return made
        }
        counter.increment()
        timer.recordNanoseconds(Int64(seconds * 1e9))
    }

    private func topicCounters(_ topic: String) -> (bytesIn: Counter, messagesIn: Counter, bytesOut: Counter) {
        cache.withLock { cache in
            if let found = cache[topic] { return found }
            let made = (
                bytesIn: Counter(label: "apus_topic_bytes_in_total", dimensions: [("topic", topic)]),
                messagesIn: Counter(label: "apus_topic_messages_in_total", dimensions: [("topic", topic)]),
                bytesOut: Counter(label: "apus_topic_bytes_out_total", dimensions: [("topic", topic)])
            )
            cache[topic] = made
            return made
        }
    }

    func produced(topic: String, bytes: Int, messages: Int) {
        let counters = topicCounters(topic)
        counters.bytesIn.increment(by: bytes)
        counters.messagesIn.increment(by: messages)
    }

    func fetched(topic: String, bytes: Int) { topicCounters(topic).bytesOut.increment(by: bytes) }

    func logEndOffset(topic: String, partition: Int32, offset: Int64) {
        let gauge = offsetGauges.withLock { gauges in
            let key = TopicPartition(topic: topic, partition: partition)
            if let found = gauges[key] { return found }
            let made = Gauge(label: "kafka_topic_partition_current_offset", dimensions: [("topic", topic), ("partition", "\(partition)")])
            gauges[key] = made
            return made
        }
        gauge.record(offset)
    }
}
