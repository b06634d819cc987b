import Testing
@testable import ApusPlacement

/// Pinned outputs: the hash decides where every replica of a cluster lives, so any change to it
/// must show up here. The expected values were computed by an independent implementation
/// (Python) of FNV-1a 64 and the SplitMix64 finalizer.
@Suite struct StableHashTests {
    @Test func fnv1aMatchesPublishedVectors() {
        #expect(StableHash.fnv1a("".utf8) == 0xcbf2_9ce4_8422_2325)
        #expect(StableHash.fnv1a("a".utf8) == 0xaf63_dc4c_8601_ec8c)
        #expect(StableHash.fnv1a("foobar".utf8) == 0x8594_4171_f739_67e8)
    }

    @Test func mixIsTheSplitMix64Finalizer() {
        // The first two outputs of SplitMix64 seeded with 0.
        #expect(StableHash.mix(0x9e37_79b9_7f4a_7c15) == 0xe220_a839_7b1d_cdaf)
        #expect(StableHash.mix(0x3c6e_f372_fe94_f82a) == 0x6e78_9e6a_a1b9_65f4)
    }

    @Test func partitionKeysArePinned() {
        #expect(StableHash.hash("orders/0") == 0xb185_139b_bb81_992a)
        #expect(StableHash.partitionKey(topic: "orders", partition: 0) == 0xb185_139b_bb81_992a)
        #expect(StableHash.partitionKey(topic: "orders", partition: 1) == 0xab83_5cc1_0b05_6a9d)
        #expect(StableHash.partitionKey(topic: "payments", partition: 41) == 0xb826_434c_47a0_710e)
    }

    @Test func partitionKeyEqualsHashOfTheTopicSlashPartitionString() {
        for partition: Int32 in [0, 7, 10, 99, 100, 12345, Int32.max] {
            #expect(StableHash.partitionKey(topic: "tópic.é", partition: partition) == StableHash.hash("tópic.é/\(partition)"))
        }
    }

    @Test func virtualNodeAndBrokerKeysArePinned() {
        #expect(StableHash.virtualNodePoint(brokerId: 1, virtualNode: 0) == 0xc9ba_ea8a_2610_d716)
        #expect(StableHash.virtualNodePoint(brokerId: 1, virtualNode: 127) == 0x4283_0843_9a90_2369)
        #expect(StableHash.virtualNodePoint(brokerId: -3, virtualNode: 2) == 0x9574_2191_cd02_dfd1)
        #expect(StableHash.brokerKey(brokerId: 7) == 0xd04b_f707_04ca_4480)
        #expect(StableHash.affinity(StableHash.hash("orders/0"), StableHash.brokerKey(brokerId: 7)) == 0x129f_6f0b_a958_0e7c)
    }

    @Test func ringLookupsArePinned() {
        let ring = HashRing(brokerIds: [5, 4, 3, 2, 1], virtualNodesPerBroker: 128)
        #expect(ring.pointCount == 640)
        #expect(ring.replicas(forKey: StableHash.hash("orders/0"), count: 3) == [3, 1, 2])
        #expect(ring.replicas(forKey: StableHash.hash("orders/1"), count: 3) == [1, 2, 4])
        #expect(ring.replicas(forKey: StableHash.hash("payments/41"), count: 3) == [5, 4, 1])
        #expect(ring.replicas(forKey: 42, count: 9).sorted() == [1, 2, 3, 4, 5])
    }
}
