"""kafka-python 3.x's default producer is idempotent (acks=all, enable_idempotence=True): it
asks InitProducerId and numbers its batches. Killing the broker mid-stream makes it retry
batches whose answers were lost; the broker must recognise those retries from the producer
state it rebuilt from the log, so that nothing is duplicated and nothing is missing."""
import threading
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from .support import unique_topic, wait_until

COUNT = 100_000


def test_idempotent_producer_survives_a_broker_kill_without_duplicates_or_gaps(broker):
    topic = unique_topic("idem")
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, linger_ms=5, request_timeout_ms=5000,
        reconnect_backoff_ms=100, reconnect_backoff_max_ms=500, retry_backoff_ms=100)
    assert producer.config["enable_idempotence"] and producer.config["acks"] in (-1, "all")
    futures = []
    failures = []

    def produce():
        for i in range(COUNT):
            futures.append(producer.send(topic, value=b"%08d" % i))
            if i % 5000 == 0:
                time.sleep(0.05)  # spread the stream so the kill lands in the middle of it
        try:
            producer.flush(timeout=120)
        except Exception as error:  # noqa: BLE001 - reported through the assertion below
            failures.append(error)

    thread = threading.Thread(target=produce)
    thread.start()
    wait_until(lambda: len(futures) > COUNT // 3, timeout=60, message="a third of the messages sent")
    broker.kill()  # kill -9: answers in flight are lost, the producer must retry
    unacknowledged_at_kill = sum(1 for future in list(futures) if not future.is_done) + (COUNT - len(futures))
    broker.start()
    thread.join(timeout=180)
    assert not thread.is_alive(), "the producer did not finish"
    assert not failures, failures
    assert unacknowledged_at_kill > 0, "the kill came after the producer had finished: nothing was tested"
    assert "clean_shutdown=false" in broker.log_text(), "the restart did not recover from a crash"
    offsets = [future.get(timeout=30).offset for future in futures]
    assert sorted(offsets) == list(range(COUNT)), "acknowledged offsets are not exactly 0..N-1"
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=5000, max_partition_fetch_bytes=4 << 20)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    values = []
    deadline = time.time() + 120
    while len(values) < COUNT and time.time() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            values.extend(record.value for record in records)
    consumer.close()
    assert len(values) == COUNT, f"read {len(values)} records, expected {COUNT}"
    assert values == [b"%08d" % i for i in range(COUNT)], "duplicates, gaps or reordering in the log"
