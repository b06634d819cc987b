/// How `PartitionPlacer` trades balance against movement.
public struct PlacementPolicy: Sendable, Hashable {
    /// Virtual nodes per broker of weight equal to the mean. 128 by default.
    public var virtualNodesPerBroker: Int
    /// ε of consistent hashing with bounded loads: no broker holds more than
    /// `max(⌈share⌉, ⌊(1 + ε) · share⌋)` replicas (or leaders), where `share` is its weighted
    /// fair share, so never more than `⌈(1 + ε) · share⌉`. 0.05 by default.
    public var loadSlack: Double
    /// What to do when a topic's replication factor exceeds the live brokers (or racks, when
    /// racks are used). False (topic creation): fail with `PlacementError`. True (recomputing
    /// after a broker is lost): give such partitions as many replicas as there are brokers (racks)
    /// and report them in `PlacementResult.underReplicated`.
    public var allowUnderReplication: Bool

    /// The default policy: 128 virtual nodes, ε = 0.05, fail rather than under-replicate.
    public init(virtualNodesPerBroker: Int = 128, loadSlack: Double = 0.05, allowUnderReplication: Bool = false) {
        self.virtualNodesPerBroker = virtualNodesPerBroker
        self.loadSlack = loadSlack
        self.allowUnderReplication = allowUnderReplication
    }
}
