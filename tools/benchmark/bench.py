#!/usr/bin/env python3
"""The Apus benchmark: throughput, CPU per byte, memory and end-to-end latency, measured the
way OpenMessaging Benchmark reports them, against Redis Streams in the same run.

Driven by tools/bench. Every system runs on 127.0.0.1 with a private port and data directory;
every load is bounded in count and time. Broker CPU is utime+stime from /proc/PID/stat over
the timed phase, divided by payload gigabytes (10^9 bytes of message values).
"""
import argparse
import datetime
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
# Latency workloads send at their rate this long before measuring (OpenMessaging Benchmark
# warms up too): the first seconds measure page faults on fresh memory and connection set-up.
LATENCY_WARMUP_S = 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_peak_rss_bytes(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def wait_for_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def json_payload(size, seed):
    """JSON-like text so that LZ4 has realistic work (about 3x on this kind of data)."""
    rng = random.Random(seed)
    text = ""
    while len(text) < size:
        text += json.dumps({"user": rng.randint(1, 200000), "event": rng.choice(["click", "view", "buy", "scroll"]),
                            "ts": 1700000000000 + rng.randint(0, 10**6), "page": f"/p/{rng.randint(1, 5000)}",
                            "country": rng.choice(["GB", "DE", "US", "FR", "JP"]), "ok": rng.random() > 0.1}) + " "
    return text[:size].encode()


def settle_page_cache():
    """Writes back dirty pages and, when allowed (root), drops the page cache, so that each
    produce phase starts from the same memory state rather than from what the phases before
    it left (which swung the broker's CPU per GB by up to 4x between runs). Never before a
    consume phase, which reads from the page cache on purpose."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as control:
            control.write("3")
    except OSError:
        pass


class Apus:
    name = "apus"

    def __init__(self, binary, settings=()):
        settle_page_cache()
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="apus-bench-"))
        self.port = free_port()
        command = [binary, "broker", "--data-dir", str(self.dir / "data"), "--listen", f"127.0.0.1:{self.port}",
                   "--metrics", "none", "--log-level", "warning"]
        for key, value in settings:
            command += ["--set", f"{key}={value}"]
        self.process = subprocess.Popen(command, stderr=open(self.dir / "broker.log", "wb"))
        wait_for_port(self.port)
        self.bootstrap = f"127.0.0.1:{self.port}"

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def disk_bytes(self, topic):
        return sum(f.stat().st_size for f in (self.dir / "data").glob(f"{topic}-*/*.log"))


def produce_worker(args):
    from confluent_kafka import Producer
    bootstrap, topic, count, size, acks, partitions, seed = args
    payloads = [json_payload(size, seed * 1000 + i) for i in range(1000)]
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5, "batch.size": 1000000,
                         "compression.type": "lz4", "queue.buffering.max.messages": 1000000,
                         "queue.buffering.max.kbytes": 1048576, "enable.idempotence": False})
    errors = []
    on_delivery = (lambda error, message: error and errors.append(error))
    for i in range(count):
        while True:
            try:
                producer.produce(topic, payloads[i % 1000], partition=i % partitions, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 10000 == 0:
            producer.poll(0)
    producer.flush(120)
    return len(errors)


def measure(system, pid, payload_bytes, body):
    cpu_before = proc_cpu_seconds(pid)
    start = time.perf_counter()
    result = body()
    seconds = time.perf_counter() - start
    cpu = proc_cpu_seconds(pid) - cpu_before
    return seconds, cpu, result


def apus_produce(apus, topic, count, size, acks, partitions, processes):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": apus.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)
    per = count // processes
    jobs = [(apus.bootstrap, topic, per, size, acks, partitions, seed) for seed in range(processes)]
    with multiprocessing.Pool(processes) as pool:
        seconds, cpu, errors = measure(apus, apus.process.pid, per * processes * size,
                                       lambda: sum(pool.map(produce_worker, jobs)))
    return per * processes, seconds, cpu, errors


def apus_native_produce(apus, topic, count, size, acks, partitions, processes):
    """The same produce workload through `apus bench produce` processes (our Swift producer,
    librdkafka's batch size), each sending its share; returns records, seconds, broker CPU."""
    per = count // processes
    command = [apus.binary, "bench", "produce", "-b", apus.bootstrap, "-t", topic, "-n", str(per), "-s", str(size),
               "-z", "lz4", "--acks", "1" if acks == 1 else "all", "-p", str(partitions), "--batch-size", "1000000",
               "--json"]
    # Create the topic first so the processes do not race to create it.
    subprocess.run(command[:-1] + ["-n", "1"], capture_output=True, timeout=60, check=True)

    def run():
        workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for _ in range(processes)]
        outputs = [w.communicate(timeout=600)[0] for w in workers]
        if any(w.returncode != 0 for w in workers):
            raise RuntimeError("apus bench produce failed")
        return [json.loads(o.decode().strip().splitlines()[-1]) for o in outputs]
    seconds, cpu, summaries = measure(apus, apus.process.pid, per * processes * size, run)
    return per * processes, seconds, cpu


def apus_consume(apus, topic, partitions, expected):
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    consumer = Consumer({"bootstrap.servers": apus.bootstrap, "group.id": "bench", "enable.auto.commit": False,
                         "fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 10485760,
                         "queued.max.messages.kbytes": 1048576})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])

    def run():
        got, total = 0, 0
        deadline = time.time() + 300
        while got < expected and time.time() < deadline:
            for message in consumer.consume(10000, 1.0):
                if not message.error():
                    got += 1
                    total += len(message.value())
        return got, total
    seconds, cpu, (got, total) = measure(apus, apus.process.pid, 0, run)
    consumer.close()
    return got, total, seconds, cpu


def latency_producer(args):
    """One process sending at a fixed rate, each value starting with its send time."""
    from confluent_kafka import Producer
    bootstrap, topic, rate, duration, size, seed = args
    producer = Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 1, "compression.type": "lz4",
                         "queue.buffering.max.messages": 1000000})
    filler = json_payload(max(0, size - 20), seed)
    interval = 1.0 / rate
    start = time.time()
    sent = 0
    while True:
        now = time.time()
        if now >= start + duration:
            break
        target = start + sent * interval
        if now < target:
            time.sleep(min(target - now, 0.001))
            continue
        try:
            producer.produce(topic, b"%020.6f" % time.time() + filler)
        except BufferError:
            producer.poll(0.001)
            continue
        sent += 1
        if sent % 100 == 0:  # serve delivery reports now and then, not after every message
            producer.poll(0)
    producer.flush(60)
    return sent


def apus_latency(apus, topic, rate, duration, size, processes, warmup):
    """Producer processes at a fixed total rate stamp the send time (wall clock); the consumer
    (this process) computes receive - send for every record sent after the first `warmup`
    seconds (as OpenMessaging Benchmark, which measures after a warm-up)."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_END
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": apus.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    consumer = Consumer({"bootstrap.servers": apus.bootstrap, "group.id": "lat", "enable.auto.commit": False,
                         "fetch.wait.max.ms": 5, "fetch.min.bytes": 1})
    consumer.assign([TopicPartition(topic, 0, OFFSET_END)])
    consumer.consume(1, 1.0)
    latencies = []
    jobs = [(apus.bootstrap, topic, rate / processes, warmup + duration, size, seed) for seed in range(processes)]
    measured_from = time.time() + warmup
    received = 0

    def take(messages, now):
        nonlocal received
        for m in messages:
            if m.error():
                continue
            received += 1
            sent_at = float(m.value()[:20])
            if sent_at >= measured_from:
                latencies.append(now - sent_at)
    with multiprocessing.Pool(processes) as pool:
        pending = pool.map_async(latency_producer, jobs)
        # The receive time is read once per consume() call: the messages it returns arrived together.
        while not pending.ready():
            messages = consumer.consume(10000, 0.05)
            take(messages, time.time())
        sent = sum(pending.get())
    deadline = time.time() + 10
    while received < sent and time.time() < deadline:
        messages = consumer.consume(10000, 0.2)
        take(messages, time.time())
    consumer.close()
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else None
    return {"p50_ms": pct(0.50), "p99_ms": pct(0.99), "p999_ms": pct(0.999),
            "max_ms": latencies[-1] * 1000 if latencies else None, "samples": len(latencies), "sent": sent}


def redis_rows(count_small, count_large):
    settle_page_cache()
    directory = Path(tempfile.mkdtemp(prefix="redis-bench-"))
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    wait_for_port(port)
    rows = []
    try:
        for size, count in ((100, count_small), (1024, count_large)):
            # redis-benchmark repeats one value; Redis does not compress, so that costs it nothing.
            value = json_payload(size, 3).decode().replace(" ", "_")
            cpu_before = proc_cpu_seconds(server.pid)
            start = time.perf_counter()
            subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(count), "-P", "64", "-c", "8",
                            "--csv", "XADD", f"s{size}", "*", "f", value], check=True, capture_output=True, timeout=600)
            seconds = time.perf_counter() - start
            cpu = proc_cpu_seconds(server.pid) - cpu_before
            rows.append(row("redis-streams", f"XADD {size} B", count, count * size, seconds, cpu, proc_peak_rss_bytes(server.pid)))
            reads = max(1000, count // 100)
            cpu_before = proc_cpu_seconds(server.pid)
            start = time.perf_counter()
            subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(reads), "-P", "16", "-c", "8",
                            "--csv", "XRANGE", f"s{size}", "-", "+", "COUNT", "100"], check=True, capture_output=True, timeout=600)
            seconds = time.perf_counter() - start
            cpu = proc_cpu_seconds(server.pid) - cpu_before
            rows.append(row("redis-streams", f"XRANGE COUNT 100, {size} B", reads * 100, reads * 100 * size, seconds, cpu,
                            proc_peak_rss_bytes(server.pid)))
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)
    return rows


def row(system, workload, records, payload_bytes, seconds, cpu, rss, **extra):
    result = {"system": system, "workload": workload, "records": records, "seconds": round(seconds, 3),
              "records_per_s": round(records / seconds), "mb_per_s": round(payload_bytes / 1e6 / seconds, 1),
              "cpu_s_per_gb": round(cpu / (payload_bytes / 1e9), 3) if payload_bytes else None,
              "peak_rss_mb": round(rss / 2**20, 1), "p50_ms": None, "p99_ms": None, "p999_ms": None}
    result.update(extra)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--apus", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="results")
    parser.add_argument("--processes", type=int, default=2, help="producer processes (one client process is the limit)")
    options = parser.parse_args()
    scale = 0.1 if options.quick else 1.0
    small, large = int(2_000_000 * scale), int(1_000_000 * scale)
    # Apus's produce runs are three times longer: at about a million records a second, a run of
    # one million would be mostly process start, connection set-up and the last linger.
    apus_small, apus_large = 3 * small, 3 * large
    rows = []

    workloads = [
        ("produce 100 B, LZ4, acks=1, 1 partition", 100, apus_small, 1, 1, ()),
        ("produce 1 KiB, LZ4, acks=1, 1 partition", 1024, apus_large, 1, 1, ()),
        ("produce 1 KiB, LZ4, acks=1, 8 partitions", 1024, apus_large, 1, 8, ()),
        ("produce 1 KiB, LZ4, acks=all, durable (flush.messages=1)", 1024, apus_large // 2, -1, 1,
         (("log.flush.interval.messages", "1"),)),
    ]
    peak_rate = None
    for name, size, count, acks, partitions, settings in workloads:
        apus = Apus(options.apus, settings)
        try:
            topic = f"bench-{size}-{partitions}"
            records, seconds, cpu, errors = apus_produce(apus, topic, count, size, acks, partitions, options.processes)
            ratio = round(records * size / max(1, apus.disk_bytes(topic)), 2)
            rows.append(row("apus", name, records, records * size, seconds, cpu, proc_peak_rss_bytes(apus.process.pid),
                            delivery_errors=errors, lz4_ratio=ratio))
            print(json.dumps(rows[-1]), flush=True)
            native_topic = topic + "-native"
            settle_page_cache()
            nrecords, nseconds, ncpu = apus_native_produce(apus, native_topic, count, size, acks, partitions, options.processes)
            rows.append(row("apus", name + ", apus bench produce client", nrecords, nrecords * size, nseconds, ncpu,
                            proc_peak_rss_bytes(apus.process.pid), lz4_ratio=round(nrecords * size / max(1, apus.disk_bytes(native_topic)), 2)))
            print(json.dumps(rows[-1]), flush=True)
            if size == 1024 and partitions == 1 and acks == 1:
                peak_rate = max(records / seconds, nrecords / nseconds)
                got, total, cseconds, ccpu = apus_consume(apus, topic, partitions, records)
                rows.append(row("apus", "consume 1 KiB from the beginning (page cache)", got, total, cseconds, ccpu,
                                proc_peak_rss_bytes(apus.process.pid)))
                print(json.dumps(rows[-1]), flush=True)
                # The same read through our own client (`apus bench consume`), which is not
                # bound by a per-message Python loop: what the broker can serve.
                cpu_before = proc_cpu_seconds(apus.process.pid)
                out = subprocess.run([options.apus, "bench", "consume", "-b", apus.bootstrap, "-t", topic,
                                      "-n", str(records), "--max-partition-fetch-bytes", str(4 << 20), "--json"],
                                     capture_output=True, timeout=600, check=True)
                summary = json.loads(out.stdout.decode().strip().splitlines()[-1])
                rows.append(row("apus", "consume 1 KiB from the beginning, apus bench consume client",
                                summary["records"], summary["bytes"], summary["seconds"],
                                proc_cpu_seconds(apus.process.pid) - cpu_before, proc_peak_rss_bytes(apus.process.pid)))
                print(json.dumps(rows[-1]), flush=True)
        finally:
            apus.stop()

    if peak_rate:
        apus = Apus(options.apus)
        try:
            rate = max(100, int(peak_rate / 2))
            cpu_before = proc_cpu_seconds(apus.process.pid)
            seconds = 10 if options.quick else 30
            latency = apus_latency(apus, "latency", rate, seconds, 1024, options.processes, LATENCY_WARMUP_S)
            # The broker's CPU over the measured part, at a constant rate: its share of the run.
            cpu = (proc_cpu_seconds(apus.process.pid) - cpu_before) * seconds / (seconds + LATENCY_WARMUP_S)
            rows.append(row("apus", f"end-to-end latency, 1 KiB at {rate}/s (half of peak)", latency["samples"],
                            latency["samples"] * 1024, 10 if options.quick else 30, cpu, proc_peak_rss_bytes(apus.process.pid),
                            **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in latency.items()}))
            print(json.dumps(rows[-1]), flush=True)
        finally:
            apus.stop()
        # The same rate through our own client (`apus bench latency`: one process sends at the
        # fixed rate and receives, one monotonic clock), without a Python call per message.
        apus = Apus(options.apus)
        try:
            seconds = 10 if options.quick else 30
            cpu_before = proc_cpu_seconds(apus.process.pid)
            out = subprocess.run([options.apus, "bench", "latency", "-b", apus.bootstrap, "--rate", str(rate),
                                  "--duration", str(seconds), "--warmup", str(LATENCY_WARMUP_S), "--record-size", "1024",
                                  "--json"],
                                 capture_output=True, timeout=seconds + LATENCY_WARMUP_S + 120, check=True)
            summary = json.loads(out.stdout.decode().strip().splitlines()[-1])
            rows.append(row("apus", f"end-to-end latency, 1 KiB at {rate}/s (half of peak), apus bench latency client",
                            summary["records"], summary["bytes"], summary["seconds"],
                            (proc_cpu_seconds(apus.process.pid) - cpu_before) * seconds / (seconds + LATENCY_WARMUP_S),
                            proc_peak_rss_bytes(apus.process.pid), p50_ms=summary.get("latency_p50_ms"), p99_ms=summary.get("latency_p99_ms"),
                            p999_ms=summary.get("latency_p99.9_ms"), max_ms=summary.get("latency_max_ms"),
                            publish_p50_ms=summary.get("publish_latency_p50_ms"),
                            publish_p99_ms=summary.get("publish_latency_p99_ms"),
                            publish_p999_ms=summary.get("publish_latency_p99.9_ms")))
            print(json.dumps(rows[-1]), flush=True)
        finally:
            apus.stop()

    rows += redis_rows(small, large)
    for r in rows[-4:]:
        print(json.dumps(r), flush=True)

    out = Path(options.out) / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    columns = ["system", "workload", "records_per_s", "mb_per_s", "cpu_s_per_gb", "peak_rss_mb", "p50_ms", "p99_ms", "p999_ms", "max_ms"]
    table = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    for r in rows:
        table += "| " + " | ".join("-" if r.get(c) is None else str(r.get(c)) for c in columns) + " |\n"
    (out / "results.md").write_text(table)
    print(table)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
        labels = [f"{r['system']}\n{r['workload'][:38]}" for r in rows if r["mb_per_s"]]
        left.barh(labels, [r["mb_per_s"] for r in rows if r["mb_per_s"]],
                  color=["#2a7" if r["system"] == "apus" else "#c44" for r in rows if r["mb_per_s"]])
        left.set_xlabel("MB/s of payload")
        left.tick_params(axis="y", labelsize=7)
        latency_rows = [r for r in rows if r.get("p99_ms") is not None]
        for r in latency_rows:
            right.bar(["p50", "p99", "p99.9", "max"], [r["p50_ms"], r["p99_ms"], r["p999_ms"], r["max_ms"]], label=r["workload"])
        right.set_ylabel("ms")
        right.set_title("end-to-end latency (apus)")
        figure.tight_layout()
        figure.savefig(out / "chart.png", dpi=110)
    except ImportError:
        pass
    print(f"results in {out}")


if __name__ == "__main__":
    main()
