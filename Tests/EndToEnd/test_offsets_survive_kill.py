"""Committed consumer offsets survive kill -9: a group member commits after each record, the
broker is killed with SIGKILL and restarted, and the committed offsets are exactly the last
ones acknowledged (they were appended to __consumer_offsets before the commit was answered)."""
from confluent_kafka import Consumer, TopicPartition

from .confluent_clients import producer_for
from .support import unique_topic


def test_committed_offsets_survive_kill_minus_nine(broker_factory):
    broker = broker_factory(**{"group.initial.rebalance.delay.ms": 0})
    topic, group = unique_topic("kill-offsets"), unique_topic("group")
    producer = producer_for(broker)
    for index in range(120):
        producer.produce(topic, value=b"v%d" % index, partition=0)
    assert producer.flush(30) == 0

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "session.timeout.ms": 6000})
    consumer.subscribe([topic])
    committed = 0
    while committed < 77:
        message = consumer.poll(10)
        assert message is not None, "no record within 10 s"
        if message.error():
            continue
        consumer.commit(message=message, asynchronous=False)
        committed = message.offset() + 1
    broker.kill()  # no clean shutdown, no checkpoints: recovery must find the commits
    consumer.close()
    broker.start()

    reader = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        offsets = reader.committed([TopicPartition(topic, 0)], timeout=30)
    finally:
        reader.close()
    assert offsets[0].offset == 77
