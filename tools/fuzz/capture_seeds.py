#!/usr/bin/env python3
"""Seeds the fuzz corpora with real client traffic: runs kcat, confluent-kafka and kafka-python
through a recording proxy in front of a broker, and writes every request frame they send as a
FuzzRequests seed (two selector bytes naming the API and version, then header and body), and
every record batch inside Produce requests as a FuzzRecordBatches seed.

  capture_seeds.py --apus ../../.build/debug/apus
"""
import argparse
import hashlib
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The order of FuzzRequests' requestTypes list, by API key.
KEYS = [0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 32, 33, 36, 37, 42, 44, 47, 29, 30, 31, 60, 35, 71]
# Lowest schema version per key, to turn a version into the selector's offset.
MIN_VERSION = {k: 0 for k in KEYS}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def save(folder, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def record(frame):
    api_key, version = struct.unpack(">hh", frame[:4])
    if api_key in KEYS:
        save(HERE / "seeds" / "FuzzRequests", bytes([KEYS.index(api_key), (version - MIN_VERSION[api_key]) & 0xFF]) + frame)
    if api_key == 0:
        # Record batches start with a base offset of 0 and magic 2 at byte 16: find them.
        index = frame.find(b"\x00" * 8)
        while index >= 0 and index + 61 <= len(frame):
            if frame[index + 16] == 2:
                length = struct.unpack(">i", frame[index + 8:index + 12])[0]
                if 49 <= length <= len(frame) - index - 12:
                    save(HERE / "seeds" / "FuzzRecordBatches", frame[index:index + 12 + length])
            index = frame.find(b"\x00" * 8, index + 1)


def proxy(listen_port, target_port, stop):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen(64)
    server.settimeout(0.2)

    def pump(source, sink, inspect):
        buffer = b""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
                if inspect:
                    buffer += data
                    while len(buffer) >= 4:
                        size = struct.unpack(">i", buffer[:4])[0]
                        if len(buffer) < 4 + size:
                            break
                        record(buffer[4:4 + size])
                        buffer = buffer[4 + size:]
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    while not stop.is_set():
        try:
            client, _ = server.accept()
        except socket.timeout:
            continue
        upstream = socket.create_connection(("127.0.0.1", target_port))
        threading.Thread(target=pump, args=(client, upstream, True), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--apus", required=True)
    options = parser.parse_args()
    broker_port, proxy_port = free_port(), free_port()
    data = tempfile.mkdtemp(prefix="apus-seeds-")
    broker = subprocess.Popen([options.apus, "broker", "--data-dir", data, "--listen", f"127.0.0.1:{broker_port}",
                               "--metrics", "none", "--log-level", "error",
                               "--set", f"advertised.listeners=PLAINTEXT://127.0.0.1:{proxy_port}"])
    time.sleep(1.5)
    stop = threading.Event()
    threading.Thread(target=proxy, args=(proxy_port, broker_port, stop), daemon=True).start()
    bootstrap = f"127.0.0.1:{proxy_port}"
    python = str(HERE.parents[1] / ".venv" / "bin" / "python")
    try:
        for codec in ("none", "gzip", "lz4"):
            subprocess.run(["kcat", "-b", bootstrap, "-t", "seeds", "-P", "-z", codec, "-K", ":", "-H", "h=v"],
                           input=b"".join(b"k%d:value %d\n" % (i, i) for i in range(200)), timeout=60)
        subprocess.run(["kcat", "-b", bootstrap, "-t", "seeds", "-C", "-o", "beginning", "-e", "-q"], timeout=60,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["kcat", "-b", bootstrap, "-L"], timeout=60, stdout=subprocess.DEVNULL)
        script = f"""
from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, ConfigResource
a = AdminClient({{'bootstrap.servers': '{bootstrap}'}})
a.create_topics([NewTopic('seeds2', 3, 1, config={{'retention.ms': '100000'}})])['seeds2'].result(30)
a.describe_configs([ConfigResource('topic', 'seeds2')])
p = Producer({{'bootstrap.servers': '{bootstrap}', 'enable.idempotence': True, 'compression.type': 'lz4'}})
for i in range(300): p.produce('seeds2', key=b'k%d' % i, value=b'v' * i, headers=[('h', b'x')])
p.flush(30)
c = Consumer({{'bootstrap.servers': '{bootstrap}', 'group.id': 'seedgroup', 'auto.offset.reset': 'earliest'}})
c.subscribe(['seeds2'])
import time; end = time.time() + 15
n = 0
while time.time() < end and n < 300:
    m = c.poll(0.5)
    if m and not m.error(): n += 1
try:
    c.commit(asynchronous=False)
except Exception:
    pass
c.close()
from kafka import KafkaProducer, KafkaConsumer
kp = KafkaProducer(bootstrap_servers='{bootstrap}', compression_type='gzip')
for i in range(100): kp.send('seeds3', b'x%d' % i)
kp.flush()
"""
        subprocess.run([python, "-c", script], timeout=120)
    finally:
        stop.set()
        broker.terminate()
        broker.wait(timeout=30)
    for target in ("FuzzRequests", "FuzzRecordBatches"):
        count = len(list((HERE / "seeds" / target).glob("*")))
        print(f"{target}: {count} seeds")


if __name__ == "__main__":
    main()
