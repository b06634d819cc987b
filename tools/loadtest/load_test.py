#!/usr/bin/env python3
"""Load test: many partitions and many connections on one broker.

  load_test.py --apus .build/release/apus [--partitions 10000] [--connections 1000]

Starts a broker on a private port, creates a topic with --partitions partitions and produces to
every one of them, then opens --connections client connections that each complete an
ApiVersions exchange and stay open. Throughout, a separate connection times Metadata requests
for a one-partition topic; reports p50/p99/max of those, and the broker's memory per partition
and per connection (from /proc/PID/status VmRSS). Prints one JSON object.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path


def rss(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def frame(api_key, version, correlation, body=b""):
    client = b"load"
    header = struct.pack(">hhih", api_key, version, correlation, len(client)) + client
    return struct.pack(">i", len(header) + len(body)) + header + body


def read_frame(sock):
    size = struct.unpack(">i", recv_exactly(sock, 4))[0]
    return recv_exactly(sock, size)


def recv_exactly(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def metadata_v1(topic):
    name = topic.encode()
    return struct.pack(">i", 1) + struct.pack(">h", len(name)) + name


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--apus", default=str(Path(__file__).resolve().parents[2] / ".build/release/apus"))
    parser.add_argument("--partitions", type=int, default=10000)
    parser.add_argument("--connections", type=int, default=1000)
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="apus-load-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    broker = subprocess.Popen([options.apus, "broker", "--data-dir", str(workdir / "data"), "--listen", f"127.0.0.1:{port}",
                               "--metrics", "none", "--log-level", "warning"], stderr=open(workdir / "broker.log", "wb"))
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
        baseline = rss(broker.pid)
        started = time.time()
        futures = admin.create_topics([NewTopic("many", num_partitions=options.partitions, replication_factor=1),
                                       NewTopic("one", num_partitions=1, replication_factor=1)], request_timeout=300)
        for future in futures.values():
            future.result(300)
        create_seconds = time.time() - started
        producer = Producer({"bootstrap.servers": f"127.0.0.1:{port}", "linger.ms": 50})
        for i in range(options.partitions):
            producer.produce("many", b"x" * 100, partition=i)
        producer.flush(120)
        with_partitions = rss(broker.pid)

        probe = socket.create_connection(("127.0.0.1", port))
        latencies = []
        correlation = 0

        def time_metadata(samples):
            nonlocal correlation
            for _ in range(samples):
                correlation += 1
                start = time.perf_counter()
                probe.sendall(frame(3, 1, correlation, metadata_v1("one")))
                read_frame(probe)
                latencies.append((time.perf_counter() - start) * 1000)

        time_metadata(100)
        connections = []
        for i in range(options.connections):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(frame(18, 0, 1))
            read_frame(sock)
            connections.append(sock)
            if i % 100 == 0:
                time_metadata(10)
        with_connections = rss(broker.pid)
        time_metadata(200)
        latencies.sort()
        result = {
            "partitions": options.partitions, "connections": len(connections),
            "create_topic_s": round(create_seconds, 2),
            "rss_baseline_mb": round(baseline / 2**20, 1),
            "rss_per_partition_kb": round((with_partitions - baseline) / options.partitions / 1024, 2),
            "rss_per_connection_kb": round((with_connections - with_partitions) / max(1, len(connections)) / 1024, 2),
            "metadata_p50_ms": round(latencies[len(latencies) // 2], 3),
            "metadata_p99_ms": round(latencies[int(len(latencies) * 0.99)], 3),
            "metadata_max_ms": round(latencies[-1], 3), "metadata_samples": len(latencies),
        }
        for sock in connections:
            sock.close()
        print(json.dumps(result))
    finally:
        broker.send_signal(signal.SIGTERM)
        try:
            broker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            broker.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
