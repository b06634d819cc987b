"""The `apus` CLI (produce, consume, topics, groups) against a real `apus broker`, its error
paths, and wire compatibility with confluent-kafka (librdkafka) in both directions."""
import json
import subprocess

from confluent_kafka import Consumer, Producer

from .support import unique_topic

TIMEOUT_S = 60


def apus(binary, broker, *args, input=None, env_brokers=False, check=True):
    env = {"PATH": "/usr/bin:/bin"}
    command = [str(binary), *args]
    if env_brokers:
        env["APUS_BROKERS"] = broker.bootstrap
    elif broker is not None:
        command += ["-b", broker.bootstrap]
    result = subprocess.run(command, input=input, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_produce_then_consume_with_keys_headers_partition_and_format(apus_binary, broker):
    topic = unique_topic("cli")
    apus(apus_binary, broker, "topics", "create", topic, "-p", "3")
    lines = "".join(f"k{i}:v{i}\n" for i in range(100))
    apus(apus_binary, broker, "produce", "-t", topic, "-k", ":", "-H", "origin=cli", "-z", "lz4", input=lines)
    out = apus(apus_binary, broker, "consume", "-t", topic, "-o", "beginning", "-e", "-f", "%k %s %h %p\\n").stdout
    rows = sorted(line.split(" ") for line in out.splitlines())
    assert len(rows) == 100
    assert {(k, v) for k, v, _, _ in rows} == {(f"k{i}", f"v{i}") for i in range(100)}
    assert all(h == "origin=cli" for _, _, h, _ in rows)
    # The same key always lands on the same partition.
    by_key = {}
    for k, _, _, p in rows:
        by_key.setdefault(k, set()).add(p)
    assert all(len(ps) == 1 for ps in by_key.values())


def test_consume_json_count_offsets_and_partition(apus_binary, broker):
    topic = unique_topic("cli-json")
    apus(apus_binary, broker, "produce", "-t", topic, "-p", "0", "-z", "gzip", input="".join(f"m{i}\n" for i in range(20)))
    out = apus(apus_binary, broker, "consume", "-t", topic, "-p", "0", "-o", "5", "-c", "3", "--json", env_brokers=True).stdout
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["offset"], r["value"], r["partition"], r["key"]) for r in records] == [(5, "m5", 0, None), (6, "m6", 0, None), (7, "m7", 0, None)]
    tail = apus(apus_binary, broker, "consume", "-t", topic, "-o", "-2", "-e").stdout
    assert tail.splitlines() == ["m18", "m19"]
    at = records[1]["timestamp"]
    later = apus(apus_binary, broker, "consume", "-t", topic, "-o", f"@{at + 10**9}", "-e").stdout
    assert later == ""


def test_group_consume_commits_and_groups_commands(apus_binary, broker):
    topic = unique_topic("cli-group")
    apus(apus_binary, broker, "produce", "-t", topic, input="".join(f"{i}\n" for i in range(10)))
    first = apus(apus_binary, broker, "consume", "-t", topic, "-g", "g1", "-o", "beginning", "-c", "4").stdout
    assert first.splitlines() == ["0", "1", "2", "3"]
    rest = apus(apus_binary, broker, "consume", "-t", topic, "-g", "g1", "-o", "beginning", "-e").stdout
    assert rest.splitlines() == [str(i) for i in range(4, 10)]
    assert "g1" in apus(apus_binary, broker, "groups", "list").stdout
    described = apus(apus_binary, broker, "groups", "describe", "g1").stdout
    assert f"{topic}" in described and " 10 " in described
    apus(apus_binary, broker, "groups", "reset-offsets", "g1", "-t", topic, "--to-offset", "8", "--execute")
    again = apus(apus_binary, broker, "consume", "-t", topic, "-g", "g1", "-e").stdout
    assert again.splitlines() == ["8", "9"]
    apus(apus_binary, broker, "groups", "delete", "g1")
    assert "g1" not in apus(apus_binary, broker, "groups", "list").stdout


def test_topics_commands(apus_binary, broker):
    topic = unique_topic("cli-topics")
    apus(apus_binary, broker, "topics", "create", topic, "-p", "2", "-c", "retention.ms=60000")
    assert topic in apus(apus_binary, broker, "topics", "list").stdout.split()
    apus(apus_binary, broker, "topics", "alter", topic, "-p", "4")
    described = apus(apus_binary, broker, "topics", "describe", topic).stdout
    assert "PartitionCount: 4" in described and "retention.ms=60000" in described
    apus(apus_binary, broker, "topics", "delete", topic)
    assert topic not in apus(apus_binary, broker, "topics", "list").stdout.split()


def one_plain_line(result):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("apus: ") and "Traceback" not in result.stderr and "Fatal" not in result.stderr
    return lines[0]


def test_errors_are_one_plain_line_and_a_nonzero_exit(apus_binary, broker_factory):
    broker = broker_factory(**{"auto.create.topics.enable": "false"})
    assert "unknown topic" in one_plain_line(apus(apus_binary, broker, "consume", "-t", "nope", "-e", check=False))
    assert "snappy" in one_plain_line(apus(apus_binary, broker, "produce", "-t", "x", "-z", "snappy", input="a\n", check=False))
    one_plain_line(apus(apus_binary, broker, "consume", "-t", "x", "--bogus", check=False))
    one_plain_line(apus(apus_binary, broker, "consume", "-t", "x", "-o", "sideways", check=False))
    one_plain_line(apus(apus_binary, broker, "produce", "-t", "nope", input="a\n", check=False))
    one_plain_line(apus(apus_binary, broker, "topics", "delete", "nope", check=False))
    unreachable = subprocess.run([str(apus_binary), "topics", "list", "-b", "127.0.0.1:1"], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert "cannot connect to 127.0.0.1:1" in one_plain_line(unreachable)


def test_apus_producer_to_confluent_consumer(apus_binary, broker):
    topic = unique_topic("interop-a2c")
    apus(apus_binary, broker, "topics", "create", topic, "-p", "2")
    apus(apus_binary, broker, "produce", "-t", topic, "-k", "\t", "-H", "src=apus", "-z", "lz4",
         input="".join(f"key{i}\tvalue{i}\n" for i in range(200)))
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "interop", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen = {}
    try:
        import time
        deadline = time.monotonic() + TIMEOUT_S
        while len(seen) < 200 and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            seen[message.key().decode()] = (message.value().decode(), message.headers(), message.partition())
    finally:
        consumer.close()
    assert {k: v for k, (v, _, _) in seen.items()} == {f"key{i}": f"value{i}" for i in range(200)}
    assert all(h == [("src", b"apus")] for _, h, _ in seen.values())


def test_confluent_producer_to_apus_consumer(apus_binary, broker):
    topic = unique_topic("interop-c2a")
    apus(apus_binary, broker, "topics", "create", topic, "-p", "3")
    producer = Producer({"bootstrap.servers": broker.bootstrap, "partitioner": "murmur2_random", "compression.type": "gzip",
                         "enable.idempotence": True})
    for i in range(300):
        producer.produce(topic, key=f"k{i % 17}".encode(), value=f"v{i}".encode(), headers=[("n", str(i).encode())])
    assert producer.flush(TIMEOUT_S) == 0
    out = apus(apus_binary, broker, "consume", "-t", topic, "-o", "beginning", "-e", "--json").stdout
    records = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["value"] for r in records) == sorted(f"v{i}" for i in range(300))
    assert all(r["headers"]["n"] == r["value"][1:] for r in records)
    # librdkafka's murmur2 partitioner and ours agree on every key: our producer sends k{n} where it put it.
    placed = {r["key"]: r["partition"] for r in records}
    apus(apus_binary, broker, "produce", "-t", topic, "-k", ":", input="".join(f"{k}:again\n" for k in placed))
    again = [json.loads(line) for line in apus(apus_binary, broker, "consume", "-t", topic, "-o", "beginning", "-e", "--json").stdout.splitlines()]
    assert {r["key"]: r["partition"] for r in again if r["value"] == "again"} == placed


def test_bench_produce_then_consume_report_json_summaries(apus_binary, broker):
    topic = unique_topic("cli-bench")
    produced = apus(apus_binary, broker, "bench", "produce", "-t", topic, "-n", "500", "-s", "64", "-p", "2", "-z", "lz4", "--acks", "1", "--json").stdout
    summary = json.loads(produced)
    assert summary["kind"] == "produce" and summary["records"] == 500 and summary["bytes"] == 500 * 64
    assert summary["records_per_second"] > 0 and 0 <= summary["latency_p50_ms"] <= summary["latency_p99_ms"] <= summary["latency_max_ms"]
    consumed = json.loads(apus(apus_binary, broker, "bench", "consume", "-t", topic, "--json", env_brokers=True).stdout)
    assert consumed["kind"] == "consume" and consumed["records"] == 500 and consumed["bytes"] == 500 * 64
    counted = json.loads(apus(apus_binary, broker, "bench", "consume", "-t", topic, "-n", "100", "--json").stdout)
    assert counted["records"] == 100
    # The human summary, and a bad flag as one plain line.
    text = apus(apus_binary, broker, "bench", "produce", "-t", topic, "-n", "10").stdout
    assert text.startswith("produce: 10 records") and "records/s" in text and "ack latency: p50" in text
    bad = apus(apus_binary, broker, "bench", "produce", "-t", topic, "--acks", "0", check=False)
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0 and "acks" in bad.stderr


def test_bench_latency_receives_every_record_sent_at_the_fixed_rate(apus_binary, broker):
    topic = unique_topic("cli-latency")
    summary = json.loads(apus(apus_binary, broker, "bench", "latency", "-t", topic, "--rate", "2000", "--duration", "2",
                              "--warmup", "1", "-s", "256", "--json").stdout)
    # 1 s of warm-up, then 2 s at 2,000 records/s: every record sent arrives, those of the
    # warm-up are not measured, and none arrives sooner than the rate allows.
    assert summary["kind"] == "latency" and summary["records"] == 4000 and summary["bytes"] == 4000 * 256
    assert summary["seconds"] >= 1.9
    assert 0 < summary["latency_p50_ms"] <= summary["latency_p99_ms"] <= summary["latency_max_ms"] < 10_000
    # One measured record in 64 also reports its publish latency (send to acknowledgement).
    assert 0 < summary["publish_latency_p50_ms"] <= summary["publish_latency_max_ms"] < 10_000
    bad = apus(apus_binary, broker, "bench", "latency", "-t", topic, "-s", "4", check=False)
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0 and "at least 8" in bad.stderr
