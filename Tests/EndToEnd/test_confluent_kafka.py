"""confluent-kafka (Python, librdkafka 2.16) unchanged against apus broker: producer acks,
consumer by assignment, admin operations and offset look-ups."""
import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (AdminClient, ConfigResource, NewPartitions, NewTopic,
                                   OffsetSpec, ResourceType)

from .confluent_clients import (TIMEOUT_S, assert_same_messages, consume, consumer_for,
                                produce_all, producer_for)
from .support import assert_stored_with_codec, binary_messages, unique_topic, wait_until


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_producer_acks_then_assigned_consumer_reads_everything_byte_exact(broker, acks):
    topic = unique_topic(f"ck-acks{acks}")
    messages = binary_messages(3_000, seed=100 + len(acks))

    reports = produce_all(producer_for(broker, acks=acks), topic, messages)

    assert all(error is None for error, _, _ in reports), [r for r in reports if r[0]][:3]
    if acks != "0":  # acks=0 has no response, so no offsets in the reports
        assert [offset for _, _, offset in reports] == list(range(len(messages)))
        assert {partition for _, partition, _ in reports} == {0}
    assert_same_messages(consume(broker, topic, len(messages)), messages)


@pytest.mark.parametrize("compression", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches_round_trip(broker, compression):
    topic = unique_topic(f"ck-{compression}")
    messages = binary_messages(2_000, seed=200)
    reports = produce_all(producer_for(broker, **{"compression.type": compression}), topic, messages)
    assert [error for error, _, _ in reports] == [None] * len(messages)
    assert_same_messages(consume(broker, topic, len(messages)), messages)
    # Stored as sent (snappy and zstd batches are kept without being decoded).
    assert_stored_with_codec(broker.data_dir, topic, compression, len(messages))


def test_consumer_starts_at_an_assigned_offset_in_the_middle(broker):
    topic = unique_topic("ck-seek")
    messages = binary_messages(500, seed=300)
    produce_all(producer_for(broker), topic, messages)
    received = consume(broker, topic, 500 - 321, start=321)
    assert_same_messages(received, messages[321:], first_offset=321)


def test_create_time_timestamps_are_kept_and_found_by_offset_lookups(broker):
    topic = unique_topic("ck-offsets")
    base = 1_700_000_000_000
    messages = binary_messages(100, seed=400)
    timestamps = [base + 1_000 * index for index in range(100)]
    timestamps[40] = base + 10_000_000  # the largest timestamp, in the middle of the log
    produce_all(producer_for(broker), topic, messages, timestamps=timestamps)

    received = consume(broker, topic, 100)
    assert [m.timestamp() for m in received] == [(TIMESTAMP_CREATE_TIME, t) for t in timestamps]

    consumer = consumer_for(broker)
    try:
        partition = TopicPartition(topic, 0)
        assert consumer.get_watermark_offsets(partition, timeout=10) == (0, 100)
        # The first message at or after the time: 10_500 ms after base is message 11.
        found = consumer.offsets_for_times([TopicPartition(topic, 0, base + 10_500)], timeout=10)
        assert found[0].error is None and found[0].offset == 11
        # The lowest offset whose timestamp is at or after the time, even if an earlier one is
        # later: message 40 (10,000 s) comes before message 41 (41 s), so 41 s finds 40.
        found = consumer.offsets_for_times([TopicPartition(topic, 0, base + 41_000)], timeout=10)
        assert found[0].offset == 40
        found = consumer.offsets_for_times([TopicPartition(topic, 0, base + 10_000_001)], timeout=10)
        assert found[0].offset == -1, "no message at or after the time: Kafka answers -1"
    finally:
        consumer.close()

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    specs = {
        "earliest": OffsetSpec.earliest(),
        "latest": OffsetSpec.latest(),
        "max_timestamp": OffsetSpec.max_timestamp(),
        "for_timestamp": OffsetSpec.for_timestamp(base + 30_500),
    }
    results = {}
    for name, spec in specs.items():
        futures = admin.list_offsets({TopicPartition(topic, 0): spec}, request_timeout=10)
        results[name] = list(futures.values())[0].result(timeout=TIMEOUT_S)
    assert results["earliest"].offset == 0
    assert results["latest"].offset == 100
    assert results["max_timestamp"].offset == 40
    assert results["max_timestamp"].timestamp == base + 10_000_000
    assert results["for_timestamp"].offset == 31
    assert results["for_timestamp"].timestamp == base + 31_000


def test_admin_creates_describes_grows_and_deletes_a_topic(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = unique_topic("ck-admin")

    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=3, replication_factor=1, config={"retention.ms": "3600000"})],
        operation_timeout=10, request_timeout=TIMEOUT_S)
    assert futures[topic].result(timeout=TIMEOUT_S) is None

    metadata = admin.list_topics(topic=topic, timeout=10)
    assert metadata.controller_id == 0
    assert {b.id: (b.host, b.port) for b in metadata.brokers.values()} == {0: (broker.host, broker.port)}
    description = metadata.topics[topic]
    assert description.error is None
    assert sorted(description.partitions) == [0, 1, 2]
    for partition in description.partitions.values():
        assert (partition.leader, partition.replicas, partition.isrs) == (0, [0], [0])

    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource], request_timeout=TIMEOUT_S)[resource].result(timeout=TIMEOUT_S)
    assert configs["retention.ms"].value == "3600000"
    assert not configs["retention.ms"].is_default

    again = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)],
                                request_timeout=TIMEOUT_S)
    with pytest.raises(KafkaException) as error:
        again[topic].result(timeout=TIMEOUT_S)
    assert error.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    grown = admin.create_partitions([NewPartitions(topic, 5)], request_timeout=TIMEOUT_S)
    assert grown[topic].result(timeout=TIMEOUT_S) is None
    wait_until(lambda: len(admin.list_topics(topic=topic, timeout=10).topics[topic].partitions) == 5,
               timeout=10, message="5 partitions in metadata")
    # The new partition takes writes and serves them.
    messages = binary_messages(20, seed=500)
    reports = produce_all(producer_for(broker), topic, messages, partition=4)
    assert [(error, partition) for error, partition, _ in reports] == [(None, 4)] * 20
    assert_same_messages(consume(broker, topic, 20, partition=4), messages, partition=4)

    deleted = admin.delete_topics([topic], operation_timeout=10, request_timeout=TIMEOUT_S)
    assert deleted[topic].result(timeout=TIMEOUT_S) is None
    wait_until(lambda: topic not in admin.list_topics(timeout=10).topics, timeout=10,
               message=f"{topic} gone from metadata")

    # A topic of the same name created again starts empty.
    recreated = admin.create_topics([NewTopic(topic, num_partitions=5, replication_factor=1)],
                                    request_timeout=TIMEOUT_S)
    assert recreated[topic].result(timeout=TIMEOUT_S) is None
    consumer = consumer_for(broker)
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic, 4), timeout=10) == (0, 0)
    finally:
        consumer.close()


def test_describe_configs_reports_every_config_set_at_creation(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = unique_topic("ck-configs")
    settings = {"retention.ms": "7200000", "segment.bytes": "1048576", "max.message.bytes": "200000",
                "cleanup.policy": "delete", "message.timestamp.type": "LogAppendTime"}
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1, config=settings)],
                                  request_timeout=TIMEOUT_S)
    assert futures[topic].result(timeout=TIMEOUT_S) is None

    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource], request_timeout=TIMEOUT_S)[resource].result(timeout=TIMEOUT_S)
    described = {name: configs[name].value for name in settings if name in configs}
    assert described == settings, f"described {described}, set {settings}"
    assert configs["retention.bytes"].is_default


def test_delete_records_moves_the_log_start_offset(broker):
    topic = unique_topic("ck-delrec")
    messages = binary_messages(50, seed=600)
    produce_all(producer_for(broker), topic, messages)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})

    futures = admin.delete_records([TopicPartition(topic, 0, 20)], request_timeout=TIMEOUT_S)
    deleted = list(futures.values())[0].result(timeout=TIMEOUT_S)
    assert deleted.low_watermark == 20

    consumer = consumer_for(broker)
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (20, 50)
    finally:
        consumer.close()
    assert_same_messages(consume(broker, topic, 30), messages[20:], first_offset=20)


def test_messages_larger_than_message_max_bytes_are_rejected(broker_factory):
    broker = broker_factory(**{"message.max.bytes": 10_000})
    topic = unique_topic("ck-toolarge")
    producer = producer_for(broker, **{"message.timeout.ms": 20_000})
    small = [(b"small", b"x" * 100, [])]
    big = [(b"big", bytes(range(256)) * 200, [])]  # 51,200 bytes, incompressible enough
    assert [r[0] for r in produce_all(producer, topic, small)] == [None]
    [(error, _, _)] = produce_all(producer, topic, big)
    assert error is not None and error.code() == KafkaError.MSG_SIZE_TOO_LARGE, error
    assert_same_messages(consume(broker, topic, 1), small)


def test_no_auto_creation_when_disabled(broker_factory):
    broker = broker_factory(**{"auto.create.topics.enable": "false"})
    topic = unique_topic("ck-noauto")
    producer = producer_for(broker, **{"message.timeout.ms": 5_000})
    [(error, _, _)] = produce_all(producer, topic, [(b"k", b"v", [])])
    assert error is not None, "a message to a missing topic was delivered"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert topic not in admin.list_topics(timeout=10).topics


def test_log_segments_roll_and_reads_span_them(broker_factory):
    broker = broker_factory(**{"log.segment.bytes": 65_536, "log.flush.interval.messages": 500})
    topic = unique_topic("ck-segments")
    messages = binary_messages(4_000, seed=700)  # about 1.3 MB uncompressed
    produce_all(producer_for(broker, **{"batch.size": 16_384}), topic, messages)
    segments = sorted(p for p in broker.data_dir.rglob(f"{topic}-0/*.log"))
    assert len(segments) >= 10, f"expected many 64 KiB segments, found {[p.name for p in segments]}"
    assert_same_messages(consume(broker, topic, len(messages)), messages)
    broker.restart()
    assert_same_messages(consume(broker, topic, len(messages)), messages)


def test_writeback_as_you_go_keeps_every_message_and_is_reported(broker_factory):
    # Writeback started every 4 KiB and segments of 64 KiB: many sync_file_range calls and
    # rolls while confluent-kafka produces; every message comes back, also after a restart.
    broker = broker_factory(**{"apus.log.writeback.bytes": 4_096, "log.segment.bytes": 65_536})
    topic = unique_topic("ck-writeback")
    messages = binary_messages(3_000, seed=800)
    reports = produce_all(producer_for(broker, **{"batch.size": 16_384}), topic, messages)
    assert [error for error, _, _ in reports] == [None] * len(messages)
    assert_same_messages(consume(broker, topic, len(messages)), messages)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    resource = ConfigResource(ResourceType.BROKER, "0")
    configs = admin.describe_configs([resource], request_timeout=TIMEOUT_S)[resource].result(timeout=TIMEOUT_S)
    assert configs["apus.log.writeback.bytes"].value == "4096"
    broker.restart()
    assert_same_messages(consume(broker, topic, len(messages)), messages)
