#!/usr/bin/env python3
"""Produces messages with kafka-python, then reads them back by assignment and seek.

Runs under any kafka-python that is importable: 3.x in the test virtualenv, or Debian's 2.0.2
under /usr/bin/python3 (so it depends on nothing but kafka-python and the standard library).

stdin: JSON {"bootstrap", "topic", "partition", "compression", "acks", "seek", "timeout_s",
             "messages": [{"key": hex|null, "value": hex|null, "headers": [[name, hex], ...]}]}
stdout: JSON {"kafka_python", "produced": [offset, ...], "beginning", "end",
              "consumed": [record, ...], "from_seek": [record, ...]}
  where a record is {"offset", "partition", "key", "value", "headers"} with hex bytes.
"""
import json
import sys
import time

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def unhex(text):
    return None if text is None else bytes.fromhex(text)


def hexify(data):
    return None if data is None else bytes(data).hex()


def major_version():
    return int(kafka.__version__.split(".")[0])


def produce(request):
    config = dict(bootstrap_servers=request["bootstrap"], acks=request["acks"],
                  compression_type=request["compression"], linger_ms=5,
                  request_timeout_ms=30_000)
    if major_version() >= 3:
        config["enable_idempotence"] = False  # apus has no InitProducerId yet
    producer = KafkaProducer(**config)
    try:
        futures = [
            producer.send(request["topic"], partition=request["partition"], key=unhex(m["key"]),
                          value=unhex(m["value"]),
                          headers=[(name, unhex(value)) for name, value in m["headers"]])
            for m in request["messages"]]
        producer.flush(timeout=request["timeout_s"])
        return [future.get(timeout=request["timeout_s"]).offset for future in futures]
    finally:
        producer.close(timeout=10)


def read(consumer, partition, count, deadline):
    records = []
    while len(records) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"read {len(records)} of {count} records before the deadline")
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return [{"offset": r.offset, "partition": r.partition, "key": hexify(r.key),
             "value": hexify(r.value), "headers": [[name, hexify(value)] for name, value in r.headers]}
            for r in records]


def consume(request):
    deadline = time.monotonic() + request["timeout_s"]
    partition = TopicPartition(request["topic"], request["partition"])
    consumer = KafkaConsumer(bootstrap_servers=request["bootstrap"], group_id=None,
                             enable_auto_commit=False, auto_offset_reset="none",
                             request_timeout_ms=30_000)
    try:
        consumer.assign([partition])
        beginning = consumer.beginning_offsets([partition])[partition]
        end = consumer.end_offsets([partition])[partition]
        consumer.seek_to_beginning(partition)
        consumed = read(consumer, partition, end - beginning, deadline)
        consumer.seek(partition, request["seek"])
        from_seek = read(consumer, partition, end - request["seek"], deadline)
        return beginning, end, consumed, from_seek
    finally:
        consumer.close()


def main():
    request = json.load(sys.stdin)
    produced = produce(request)
    beginning, end, consumed, from_seek = consume(request)
    json.dump({"kafka_python": kafka.__version__, "produced": produced, "beginning": beginning,
               "end": end, "consumed": consumed, "from_seek": from_seek}, sys.stdout)


if __name__ == "__main__":
    main()
