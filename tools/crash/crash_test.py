#!/usr/bin/env python3
"""Crash test: kill -9 the broker at random moments under load and check that every
acknowledged record survives, exactly once per idempotent producer, in order per partition.

  crash_test.py --apus .build/release/apus [--kills 20] [--durable|--default-flush] [--seconds 60]

Producers are confluent-kafka (librdkafka) with enable.idempotence=true and acks=all; each
record's value names its producer and sequence number. While they run, the broker is killed
with SIGKILL and restarted on the same data directory `--kills` times. At the end everything is
read back and compared with the acknowledgements. Prints one JSON object and exits non-zero on
any loss, duplicate, reordering or corrupt record.

--durable sets log.flush.interval.messages=1 (acknowledged after fdatasync, group commit);
--default-flush keeps Kafka's default policy (acknowledged from the page cache), whose loss
window a process kill cannot reveal: the kernel keeps the page cache. Only a power cut would.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, binary, data_dir, port, settings):
        self.command = [binary, "broker", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}",
                        "--metrics", "none", "--log-level", "warning"]
        for key, value in settings.items():
            self.command += ["--set", f"{key}={value}"]
        self.port = port
        self.log = open(Path(data_dir).parent / "broker.log", "ab")
        self.process = None

    def start(self):
        self.process = subprocess.Popen(self.command, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"broker exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("broker did not start")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def run(binary, kills, durable, seconds, partitions=3, producers=3, seed=None):
    rng = random.Random(seed)
    workdir = Path(tempfile.mkdtemp(prefix="apus-crash-"))
    data = workdir / "data"
    port = free_port()
    settings = {"num.partitions": partitions, "log.segment.bytes": 4 * 1024 * 1024}
    if durable:
        settings["log.flush.interval.messages"] = 1
    broker = Broker(binary, data, port, settings)
    broker.start()
    from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
    from confluent_kafka.admin import AdminClient, NewTopic
    topic = "crash"
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)
    del admin

    acknowledged = {p: [] for p in range(producers)}  # producer -> [(partition, offset, seq)]
    failed = []
    stop = threading.Event()
    lock = threading.Lock()

    def produce(index):
        producer = Producer({"bootstrap.servers": f"127.0.0.1:{port}", "enable.idempotence": True, "acks": "all",
                             "linger.ms": 2, "message.timeout.ms": 300000, "retry.backoff.ms": 50,
                             "reconnect.backoff.max.ms": 200, "socket.connection.setup.timeout.ms": 3000})
        sequence = 0

        def delivered(error, message, seq):
            with lock:
                if error:
                    failed.append((index, seq, str(error)))
                else:
                    acknowledged[index].append((message.partition(), message.offset(), seq))
        while not stop.is_set():
            seq = sequence
            try:
                producer.produce(topic, key=b"p%d" % index, value=b"%d:%d:" % (index, seq) + b"x" * rng.randint(10, 400),
                                 on_delivery=lambda e, m, s=seq: delivered(e, m, s))
                sequence += 1
            except BufferError:
                producer.poll(0.05)
                continue
            producer.poll(0)
            if sequence % 200 == 0:
                time.sleep(0.01)
        producer.flush(300)

    threads = [threading.Thread(target=produce, args=(i,)) for i in range(producers)]
    for thread in threads:
        thread.start()
    started = time.time()
    kill_times = []
    for _ in range(kills):
        time.sleep(rng.uniform(0.2, max(0.3, seconds / max(1, kills))))
        broker.kill()
        kill_times.append(round(time.time() - started, 2))
        time.sleep(rng.uniform(0.0, 0.3))
        broker.start()
    time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=400)

    # Read everything back.
    consumer = Consumer({"bootstrap.servers": f"127.0.0.1:{port}", "group.id": "crash-check", "enable.auto.commit": False,
                         "check.crcs": True})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    stored = []  # (partition, offset, producer, seq)
    corrupt = []
    expected_total = sum(len(v) for v in acknowledged.values())
    idle_deadline = time.time() + 30
    while time.time() < idle_deadline:
        messages = consumer.consume(10000, 1.0)
        if not messages and len(stored) >= expected_total:
            break
        for message in messages:
            if message.error():
                if message.error().code() != -191:  # _PARTITION_EOF
                    corrupt.append(str(message.error()))
                continue
            idle_deadline = time.time() + 10
            producer_index, seq = (int(x) for x in message.value().split(b":")[:2])
            stored.append((message.partition(), message.offset(), producer_index, seq))
    consumer.close()
    broker.stop()

    by_position = {(p, o): (pi, s) for p, o, pi, s in stored}
    seen = {}
    duplicates = 0
    for p, o, pi, s in stored:
        if (pi, s) in seen:
            duplicates += 1
        seen[(pi, s)] = (p, o)
    lost = []
    misplaced = 0
    for index, acks in acknowledged.items():
        for partition, offset, seq in acks:
            if (index, seq) not in seen:
                lost.append((index, seq))
            elif by_position.get((partition, offset)) != (index, seq):
                misplaced += 1
    # Per producer and partition, sequence numbers must increase with offsets.
    reordered = 0
    last = {}
    for p, o, pi, s in sorted(stored):
        key = (p, pi)
        if key in last and s <= last[key]:
            reordered += 1
        last[key] = s
    result = {"kills": kills, "durable": durable, "acknowledged": expected_total, "stored": len(stored),
              "lost": len(lost), "duplicates": duplicates, "misplaced": misplaced, "reordered": reordered,
              "corrupt": len(corrupt), "delivery_failures": len(failed), "kill_times_s": kill_times,
              "seconds": round(time.time() - started, 1)}
    shutil.rmtree(workdir, ignore_errors=True)
    result["ok"] = not (lost or duplicates or misplaced or reordered or corrupt)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apus", default=str(Path(__file__).resolve().parents[2] / ".build/release/apus"))
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=40)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--durable", action="store_true", default=True)
    group.add_argument("--default-flush", action="store_true")
    parser.add_argument("--seed", type=int)
    options = parser.parse_args()
    result = run(options.apus, options.kills, not options.default_flush, options.seconds, seed=options.seed)
    print(json.dumps(result))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
