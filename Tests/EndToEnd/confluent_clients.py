"""confluent-kafka helpers shared by the tests: produce with delivery reports, read a partition
by assignment (no group join, no commits), and compare what came back with what was sent."""
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

TIMEOUT_S = 60


def producer_for(broker, **config):
    return Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, **config})


def produce_all(producer, topic, messages, partition=0, timestamps=None):
    """Produces (key, value, headers) triples; returns the delivery reports in send order."""
    reports = [None] * len(messages)

    def on_delivery(index):
        def record(error, message):
            reports[index] = (error, message.partition(), message.offset())
        return record

    deadline = time.monotonic() + TIMEOUT_S
    for index, (key, value, headers) in enumerate(messages):
        extra = {"timestamp": timestamps[index]} if timestamps else {}
        while True:
            try:
                producer.produce(topic, value=value, key=key, headers=headers, partition=partition,
                                 on_delivery=on_delivery(index), **extra)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                assert time.monotonic() < deadline, f"producer queue still full after {TIMEOUT_S} s"
                producer.poll(0.1)
    remaining = producer.flush(TIMEOUT_S)
    assert remaining == 0, f"{remaining} messages still undelivered after {TIMEOUT_S} s"
    return reports


def consumer_for(broker, **config):
    # group.id is required by the library; the suite never joins or commits (assign() only).
    return Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "apus-e2e-unused",
                     "enable.auto.commit": False, "enable.auto.offset.store": False,
                     "enable.partition.eof": True, **config})


def consume(broker, topic, count, partition=0, start=OFFSET_BEGINNING, timeout=TIMEOUT_S):
    """Reads from `start` until `count` messages are in and the partition's end was reached."""
    consumer = consumer_for(broker)
    try:
        consumer.assign([TopicPartition(topic, partition, start)])
        messages, at_end = [], False
        deadline = time.monotonic() + timeout
        while not (at_end and len(messages) >= count):
            assert time.monotonic() < deadline, (
                f"read {len(messages)} of {count} messages from {topic}[{partition}] in {timeout} s")
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
                at_end = True
                continue
            messages.append(message)
            at_end = False
        return messages
    finally:
        consumer.close()


def normalize_headers(headers):
    return [(name, value) for name, value in (headers or [])]


def assert_same_messages(received, sent, first_offset=0, partition=0):
    assert len(received) == len(sent), f"got {len(received)} messages, sent {len(sent)}"
    for index, (message, (key, value, headers)) in enumerate(zip(received, sent)):
        assert message.offset() == first_offset + index
        assert message.partition() == partition
        assert message.key() == key, f"key of message {index}"
        assert message.value() == value, f"value of message {index}"
        assert normalize_headers(message.headers()) == headers, f"headers of message {index}"
