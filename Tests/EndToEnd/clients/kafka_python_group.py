#!/usr/bin/env python3
"""Consumes a topic as a member of a consumer group with kafka-python, commits, and leaves.

Runs under kafka-python 3.x (virtualenv) or Debian's 2.0.2 (/usr/bin/python3), which uses
FindCoordinator v0, JoinGroup v2, SyncGroup/Heartbeat/LeaveGroup v1, OffsetCommit v2 and
OffsetFetch v1.

stdin: JSON {"bootstrap", "topic", "group", "count", "timeout_s"}
stdout: JSON {"kafka_python", "consumed": [[partition, offset, value], ...]}
Reads until `count` messages arrived, commits them synchronously, and closes (LeaveGroup).
"""
import json
import sys
import time

import kafka
from kafka import KafkaConsumer


def main():
    request = json.load(sys.stdin)
    consumer = KafkaConsumer(
        request["topic"], bootstrap_servers=request["bootstrap"], group_id=request["group"],
        auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=6000,
        heartbeat_interval_ms=1000, consumer_timeout_ms=1000)
    consumed = []
    deadline = time.monotonic() + request["timeout_s"]
    try:
        while len(consumed) < request["count"] and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    consumed.append([record.partition, record.offset, record.value.decode()])
        consumer.commit()
    finally:
        consumer.close()
    json.dump({"kafka_python": kafka.__version__, "consumed": consumed}, sys.stdout)


if __name__ == "__main__":
    main()
