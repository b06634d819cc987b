"""A full disk, at the broker level: on a small tmpfs made for the test, produce fails with
KAFKA_STORAGE_ERROR, nothing acknowledged is lost, consumers keep reading, and producing resumes
by itself once space is freed. Mounting needs root (CI runs as root); elsewhere it is skipped."""
import os
import subprocess

import pytest
from confluent_kafka import KafkaError, TopicPartition

from .confluent_clients import consumer_for, producer_for
from .conftest import BrokerProcess
from .support import unique_topic

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount_point)], check=True)
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def produce_until_full(producer, topic, value, limit=400):
    """Produces one record at a time (acks=1, no retries); returns (acknowledged, first error)."""
    acknowledged = []
    for index in range(limit):
        reports = []
        producer.produce(topic, value=value % index if b"%d" in value else value, partition=0,
                         on_delivery=lambda error, message: reports.append((error, message)))
        producer.flush(30)
        error, message = reports[0]
        if error is not None:
            return acknowledged, error
        acknowledged.append(message.value())
    return acknowledged, None


def test_full_disk_refuses_produce_keeps_serving_and_recovers(apus_binary, small_disk, tmp_path):
    broker = BrokerProcess(apus_binary, data_dir=small_disk / "data", log_path=tmp_path / "broker.stderr",
                           settings={"message.max.bytes": 2_000_000, "offsets.topic.num.partitions": 1})
    broker.start()
    try:
        filler = small_disk / "filler"
        filler.write_bytes(b"\0" * (3 << 20))
        topic = unique_topic("full")
        producer = producer_for(broker, acks=1, retries=0, **{"enable.idempotence": False, "linger.ms": 0,
                                                              "compression.type": "none"})
        value = b"%08d" + b"x" * 300_000
        acknowledged, error = produce_until_full(producer, topic, value)
        assert error is not None, "the 12 MiB disk never filled"
        assert error.code() == KafkaError.KAFKA_STORAGE_ERROR, error
        assert len(acknowledged) >= 5

        # Consumers keep reading everything that was acknowledged.
        consumer = consumer_for(broker, **{"fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 10485760})
        consumer.assign([TopicPartition(topic, 0, 0)])
        got = []
        while len(got) < len(acknowledged):
            message = consumer.poll(10)
            assert message is not None, f"read {len(got)} of {len(acknowledged)}"
            if message.error():
                continue
            got.append(message.value())
        assert got == acknowledged

        # Free space: producing resumes by itself, no restart.
        filler.unlink()
        more, error = produce_until_full(producer, topic, b"after %d", limit=5)
        assert error is None and more == [b"after %d" % i for i in range(5)]
        while len(got) < len(acknowledged) + 5:
            message = consumer.poll(10)
            assert message is not None
            if not message.error():
                got.append(message.value())
        assert got[len(acknowledged):] == more
        consumer.close()
    finally:
        broker.stop()
