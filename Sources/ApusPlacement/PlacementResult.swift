/// The outcome of `PartitionPlacer.place`: the assignment and what it could not do.
public struct PlacementResult: Sendable, Hashable {
    /// Every partition's ordered replica list; the first broker is the preferred leader.
    public var assignment: ReplicaAssignment
    /// Partitions holding fewer replicas than their replication factor, by topic (partition
    /// numbers ascending). Only non-empty under `PlacementPolicy.allowUnderReplication`.
    public var underReplicated: [String: [Int32]]
    /// Replicas placed beyond a broker's bound because the rack constraint left no broker under
    /// its bound (racks of unequal size). Zero when the bound holds everywhere.
    public var replicasOverBound: Int

    /// A result from its parts.
    public init(assignment: ReplicaAssignment, underReplicated: [String: [Int32]], replicasOverBound: Int) {
        self.assignment = assignment
        self.underReplicated = underReplicated
        self.replicasOverBound = replicasOverBound
    }
}
