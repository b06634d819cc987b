"""Hostile bytes on one connection: the broker closes that connection (or answers with an error)
and keeps serving every other client."""
import json
import random
import socket
import struct

import pytest

from .confluent_clients import assert_same_messages, consume, produce_all, producer_for
from .support import (drain, kcat, parse_api_versions_v0, process_rss_bytes, read_frame,
                      request_frame, unique_topic)

CLOSE_TIMEOUT_S = 10.0

_rng = random.Random(4242)
GARBAGE = {
    # An HTTP request: its first four bytes read as a frame size of about 1.2 GB.
    "http-request": b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    # A well-sized frame for an API key that does not exist.
    "unknown-api-key": request_frame(0x7ABC, 0, 7, body=b"\x00" * 16),
    # A well-sized frame of random bytes.
    "random-frame": struct.pack(">i", 64) + bytes([0x7F, 0x00]) + _rng.randbytes(62),
    # A valid Metadata v9 header whose body claims a topics array of 2^32 - 2 entries.
    "metadata-hostile-body": request_frame(3, 9, 8, body=b"\xff\xff\xff\xff\x0f" + _rng.randbytes(40),
                                           flexible_header=True),
    # Negative frame size.
    "negative-size": b"\x80\x00\x00\x00" + b"\x00" * 32,
}


def connect(broker):
    return socket.create_connection((broker.host, broker.port), timeout=CLOSE_TIMEOUT_S)


def api_versions(broker, version=0, correlation_id=99):
    with connect(broker) as sock:
        sock.sendall(request_frame(18, version, correlation_id))
        body = read_frame(sock)
    assert body is not None, "ApiVersions: the broker closed a healthy connection"
    return parse_api_versions_v0(body)


def assert_closed_or_error(sock):
    """The broker either closes the connection, or answers with a whole frame and may keep it."""
    received, closed = drain(sock, CLOSE_TIMEOUT_S)
    if closed:
        return
    assert len(received) >= 4, (
        f"connection neither closed nor answered within {CLOSE_TIMEOUT_S} s")
    (size,) = struct.unpack_from(">i", received)
    assert len(received) == 4 + size, f"partial response: {len(received)} bytes of {4 + size}"


def assert_broker_serves(broker):
    assert broker.is_running(), f"broker exited with status {broker.process.returncode}"
    correlation_id, error_code, ranges = api_versions(broker)
    assert (correlation_id, error_code) == (99, 0)
    assert 0 in ranges and 1 in ranges
    metadata = json.loads(kcat("-L", "-J", "-b", broker.bootstrap, "-m", "10", timeout=60).stdout)
    assert metadata["brokers"] == [{"id": 0, "name": broker.bootstrap}]


def round_trip(broker, count=200):
    """Another client, on its own connections, produces and reads back `count` messages."""
    topic = unique_topic("bad-input-witness")
    messages = [(b"k%d" % i, b"v%d" % i, []) for i in range(count)]
    reports = produce_all(producer_for(broker), topic, messages)
    assert [error for error, _, _ in reports] == [None] * count
    assert_same_messages(consume(broker, topic, count), messages)


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_garbage_closes_only_its_own_connection(broker, name):
    with connect(broker) as bad:
        bad.sendall(GARBAGE[name])
        assert_closed_or_error(bad)
    assert_broker_serves(broker)


def test_two_gibibyte_frame_is_refused_without_allocating_it(broker):
    rss_before = process_rss_bytes(broker.pid)
    with connect(broker) as bad:
        bad.sendall(struct.pack(">i", 2**31 - 1) + request_frame(18, 0, 1)[4:] + b"\x00" * 4096)
        assert_closed_or_error(bad)
    assert process_rss_bytes(broker.pid) - rss_before < 256 * 1024 * 1024
    assert_broker_serves(broker)


def test_truncated_frame_then_half_close_closes_the_connection(broker):
    frame = request_frame(3, 1, 5, body=b"\xff\xff\xff\xff")  # Metadata v1, all topics
    with connect(broker) as bad:
        bad.sendall(frame[: len(frame) // 2])
        bad.shutdown(socket.SHUT_WR)
        received, closed = drain(bad, CLOSE_TIMEOUT_S)
        assert closed, "the broker kept a half-closed connection with a partial frame open"
        assert received == b"", "the broker answered a request it never fully received"
    assert_broker_serves(broker)


def test_clients_keep_working_while_hostile_connections_stay_open(broker):
    frame = request_frame(3, 1, 5, body=b"\xff\xff\xff\xff")
    open_sockets = []
    try:
        truncated = connect(broker)  # stalls mid-frame and stays open
        truncated.sendall(frame[:7])
        open_sockets.append(truncated)
        for name in sorted(GARBAGE):
            sock = connect(broker)
            sock.sendall(GARBAGE[name])
            open_sockets.append(sock)
        huge = connect(broker)
        huge.sendall(struct.pack(">i", 2**31 - 1) + b"\x00" * 1024)
        open_sockets.append(huge)

        assert_broker_serves(broker)
        round_trip(broker)
        # A stalled partial frame is not an error yet: the connection may wait for the rest.
        # A healthy request on a fresh connection is still answered in the meantime.
        assert api_versions(broker, correlation_id=123)[:2] == (123, 0)
    finally:
        for sock in open_sockets:
            sock.close()
    assert_broker_serves(broker)


def test_unsupported_api_versions_version_gets_a_v0_error_listing_the_supported_range(broker):
    with connect(broker) as sock:
        sock.sendall(request_frame(18, 127, 31, body=b"\x00" * 8, flexible_header=True))
        body = read_frame(sock)
    assert body is not None, "the broker closed the connection instead of answering"
    correlation_id, error_code, ranges = parse_api_versions_v0(body)
    assert correlation_id == 31
    assert error_code == 35  # UNSUPPORTED_VERSION
    assert 18 in ranges and ranges[18][0] == 0 and ranges[18][1] >= 3


def test_probe_pipelined_like_kafka_python_2_is_answered_in_order(broker):
    # kafka-python 2.0.2 sends ApiVersions v0 and Metadata v0 back to back, without waiting.
    with connect(broker) as sock:
        sock.sendall(request_frame(18, 0, 1) + request_frame(3, 0, 2, body=struct.pack(">i", 0)))
        first, second = read_frame(sock), read_frame(sock)
    assert first is not None and second is not None
    assert struct.unpack_from(">i", first)[0] == 1
    assert struct.unpack_from(">i", second)[0] == 2
    # Metadata v0 response: brokers [node_id, host, port], with the broker itself as node 0.
    (count,) = struct.unpack_from(">i", second, 4)
    assert count == 1
    node_id, host_length = struct.unpack_from(">ih", second, 8)
    host = second[14:14 + host_length].decode()
    (port,) = struct.unpack_from(">i", second, 14 + host_length)
    assert (node_id, host, port) == (0, broker.host, broker.port)


# The API ranges the broker promises (README of the broker contract); a client relies on each.
CONTRACT = {0: (3, 9), 1: (4, 12), 2: (0, 7), 3: (0, 12), 10: (0, 3), 18: (0, 3), 19: (0, 5),
            20: (0, 4), 21: (0, 2), 32: (0, 4), 37: (0, 3)}


def test_api_versions_advertise_the_contract_ranges(broker):
    correlation_id, error_code, ranges = api_versions(broker)
    assert error_code == 0
    for key, (low, high) in CONTRACT.items():
        assert key in ranges, f"API key {key} not advertised"
        advertised_low, advertised_high = ranges[key]
        assert advertised_low <= low and advertised_high >= high, (
            f"API key {key}: advertised {ranges[key]}, contract needs {low}-{high}")
