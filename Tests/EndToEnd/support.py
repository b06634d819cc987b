"""Helpers shared by the end-to-end tests: running kcat, making and comparing messages, reading
the broker's segment files, and speaking raw Kafka frames.
"""
import random
import shutil
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

KCAT = shutil.which("kcat") or "/usr/bin/kcat"

# Compression codec ids in bits 0-2 of a record batch's attributes.
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def unique_topic(prefix="e2e"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(predicate, timeout, interval=0.1, message="condition"):
    """Calls `predicate` until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


# ---- kcat -------------------------------------------------------------------------------

def kcat(*args, input=None, timeout=120, check=True):
    """Runs kcat with `args` and returns the CompletedProcess (stdout/stderr as bytes)."""
    command = [KCAT, *map(str, args)]
    try:
        result = subprocess.run(command, input=input, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise AssertionError(
            f"kcat timed out after {timeout} s: {' '.join(command)}\n"
            f"stderr: {(error.stderr or b'')[-4000:].decode('utf-8', 'replace')}") from None
    if check:
        assert result.returncode == 0, (
            f"kcat exited with {result.returncode}: {' '.join(command)}\n"
            f"stderr: {result.stderr[-4000:].decode('utf-8', 'replace')}")
    return result


# ---- messages ---------------------------------------------------------------------------

# Text without the delimiters kcat splits on (newline, ':') or prints between fields ('\t', ','),
# including multi-byte UTF-8, so a byte comparison catches any re-encoding.
_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.{}\"'=/é漢字🦅"


def text_messages(count, seed, max_value_length=120):
    """`count` (key, value) pairs of bytes: keys unique, values of varied length and content."""
    rng = random.Random(seed)
    messages = []
    for i in range(count):
        filler = "".join(rng.choices(_ALPHABET, k=rng.randrange(max_value_length)))
        messages.append((f"key-{seed}-{i:06d}".encode(), f"value-{i:06d}|{filler}".encode()))
    return messages


def binary_messages(count, seed):
    """(key, value, headers) triples of arbitrary bytes, with null and empty keys and values."""
    rng = random.Random(seed)
    messages = []
    for i in range(count):
        key = None if i % 7 == 3 else (b"" if i % 11 == 5 else rng.randbytes(rng.randrange(1, 40)))
        # Never both null: kafka-python refuses to send such a record.
        value = None if i % 13 == 6 and key is not None else rng.randbytes(rng.randrange(0, 600))
        headers = [("seq", str(i).encode()), ("blob", rng.randbytes(rng.randrange(1, 20)))]
        if i % 5 == 0:
            headers.append(("seq", b"repeated"))
        messages.append((key, value, headers))
    return messages


def first_difference(actual_lines, expected_lines):
    """A readable description of where two lists of lines first differ, or None."""
    for index, (actual, expected) in enumerate(zip(actual_lines, expected_lines)):
        if actual != expected:
            return f"line {index} differs:\n  got      {actual!r}\n  expected {expected!r}"
    if len(actual_lines) != len(expected_lines):
        return f"got {len(actual_lines)} lines, expected {len(expected_lines)}"
    return None


# ---- the broker's files -----------------------------------------------------------------

def partition_dir(data_dir, topic, partition=0):
    matches = [p for p in Path(data_dir).rglob(f"{topic}-{partition}") if p.is_dir()]
    assert matches, f"no directory {topic}-{partition} under {data_dir}"
    return matches[0]


def stored_batches(data_dir, topic, partition=0):
    """(baseOffset, lastOffsetDelta, attributes, recordCount) of each batch in the partition's
    `.log` segments, read from the 61-byte v2 batch headers. Preallocated zeros end a segment."""
    batches = []
    for segment in sorted(partition_dir(data_dir, topic, partition).glob("*.log")):
        data = segment.read_bytes()
        position = 0
        while position + 61 <= len(data):
            base_offset, batch_length = struct.unpack_from(">qi", data, position)
            if batch_length <= 0:
                break
            magic = data[position + 16]
            assert magic == 2, f"{segment}: batch at {position} has magic {magic}"
            attributes, last_offset_delta = struct.unpack_from(">hi", data, position + 21)
            record_count = struct.unpack_from(">i", data, position + 57)[0]
            batches.append((base_offset, last_offset_delta, attributes, record_count))
            position += 12 + batch_length
    return batches


def assert_stored_with_codec(data_dir, topic, codec_name, record_count):
    """Checks the batches on disk hold `record_count` records, nearly all in batches of codec
    `codec_name`: the client compressed (it did not silently turn compression off) and the
    broker stored what it was sent. librdkafka sends a batch uncompressed when compressing
    would not make it smaller, so a few small batches may be uncompressed."""
    records = {}
    for _, _, attributes, count in stored_batches(data_dir, topic):
        records[attributes & 0x7] = records.get(attributes & 0x7, 0) + count
    assert sum(records.values()) == record_count, f"records by codec id on disk: {records}"
    codec = CODECS[codec_name]
    assert set(records) <= {codec, CODECS["none"]}, f"records by codec id on disk: {records}"
    assert records.get(codec, 0) >= 0.9 * record_count, f"records by codec id on disk: {records}"


# ---- raw Kafka frames -------------------------------------------------------------------

def request_frame(api_key, api_version, correlation_id, body=b"", client_id="apus-e2e-raw",
                  flexible_header=False):
    """A request with header v1 (or v2 with an empty tag section) and the given body."""
    encoded_id = client_id.encode()
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(encoded_id)) + encoded_id
    if flexible_header:
        header += b"\x00"
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def read_frame(sock, timeout=10.0):
    """Reads one size-prefixed response; None if the peer closed the connection first."""
    sock.settimeout(timeout)
    size_bytes = _read_exactly(sock, 4)
    if size_bytes is None:
        return None
    (size,) = struct.unpack(">i", size_bytes)
    assert 0 <= size < 64 * 1024 * 1024, f"response frame declares size {size}"
    body = _read_exactly(sock, size)
    assert body is not None, "connection closed in the middle of a response frame"
    return body


def _read_exactly(sock, count):
    chunks = []
    remaining = count
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def drain(sock, timeout=10.0):
    """Reads until the peer closes or `timeout` seconds pass: (bytes received, closed?)."""
    received = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(received), False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return bytes(received), True
        except socket.timeout:
            continue
        if not chunk:
            return bytes(received), True
        received += chunk


def parse_api_versions_v0(body):
    """(correlation_id, error_code, {api_key: (min, max)}) from an ApiVersions v0 response."""
    correlation_id, error_code, count = struct.unpack_from(">ihi", body, 0)
    position = 10
    ranges = {}
    for _ in range(count):
        key, low, high = struct.unpack_from(">hhh", body, position)
        ranges[key] = (low, high)
        position += 6
    return correlation_id, error_code, ranges


def process_rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
