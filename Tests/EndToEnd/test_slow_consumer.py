"""A slow consumer never stalls producers or other consumers, and never grows the broker's
memory: a client that sends hundreds of Fetch requests and reads none of the answers only
stops its own connection (the broker stops reading from a socket it cannot write to)."""
import os
import socket
import struct
import time

from .confluent_clients import consume, produce_all, producer_for
from .support import process_rss_bytes, request_frame, unique_topic


def fetch_v4(topic, offset, max_bytes=1 << 20):
    name = topic.encode()
    return (struct.pack(">iiiib", -1, 0, 0, 50 << 20, 0) + struct.pack(">i", 1) + struct.pack(">h", len(name)) + name
            + struct.pack(">i", 1) + struct.pack(">iqi", 0, offset, max_bytes))


def test_a_client_that_never_reads_costs_only_its_own_connection(broker):
    big = unique_topic("slow")
    producer = producer_for(broker, **{"compression.type": "none"})
    produce_all(producer, big, [(None, bytes([i % 251]) * 100_000, None) for i in range(200)])  # 20 MB

    rss_before = process_rss_bytes(broker.pid)
    fds_before = len(os.listdir(f"/proc/{broker.pid}/fd"))
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect((broker.host, broker.port))
    slow.settimeout(5)
    sent = 0
    try:
        for correlation in range(1, 2001):  # up to 2 GB of answers requested, none read
            slow.sendall(request_frame(1, 4, correlation, fetch_v4(big, (correlation * 7) % 200)))
            sent += 1
    except (socket.timeout, BlockingIOError):
        pass  # the broker stopped reading from us: that is the point
    time.sleep(1)

    # Everyone else carries on: a producer and a consumer on their own connections.
    other = unique_topic("other")
    messages = [(b"k%d" % i, b"v%d" % i, None) for i in range(500)]
    reports = produce_all(producer_for(broker), other, messages)
    assert all(error is None for error, _, _ in reports)
    got = consume(broker, other, 500)
    assert [m.value() for m in got] == [v for _, v, _ in messages]

    # Answers queued for the slow socket hold file descriptors (sendfile); they stay few.
    fds = len(os.listdir(f"/proc/{broker.pid}/fd")) - fds_before
    assert fds < 300, f"{fds} descriptors held for {sent} unread fetches"
    grown = process_rss_bytes(broker.pid) - rss_before
    assert grown < 100 << 20, f"broker memory grew by {grown >> 20} MiB for {sent} unread fetches"
    slow.close()
