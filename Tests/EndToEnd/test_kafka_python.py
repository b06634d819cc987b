"""kafka-python, unchanged, against apus broker: 3.x from the virtualenv and Debian's 2.0.2
(python3-kafka, which only the system interpreter has), each through the same client script."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .support import binary_messages, unique_topic

ROUNDTRIP = Path(__file__).parent / "clients" / "kafka_python_roundtrip.py"
SYSTEM_PYTHON = "/usr/bin/python3"
TIMEOUT_S = 90

# (interpreter, expected kafka-python major version, extra interpreter flags). -I keeps the
# virtualenv's PYTHONPATH and user site out of the system interpreter.
CLIENTS = {
    "kafka-python-3": (sys.executable, "3", []),
    "kafka-python-2.0.2": (SYSTEM_PYTHON, "2.0", ["-I"]),
}


def run_roundtrip(client, broker, topic, messages, compression, acks, seek):
    interpreter, version, flags = CLIENTS[client]
    request = {
        "bootstrap": broker.bootstrap, "topic": topic, "partition": 0, "compression": compression,
        "acks": acks, "seek": seek, "timeout_s": TIMEOUT_S - 20,
        "messages": [{"key": None if k is None else k.hex(), "value": None if v is None else v.hex(),
                      "headers": [[name, value.hex()] for name, value in h]}
                     for k, v, h in messages],
    }
    try:
        result = subprocess.run([interpreter, *flags, str(ROUNDTRIP)], input=json.dumps(request).encode(),
                                capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"{client} timed out:\n{(error.stderr or b'').decode()[-4000:]}") from None
    assert result.returncode == 0, f"{client} failed:\n{result.stderr.decode()[-6000:]}"
    output = json.loads(result.stdout)
    assert output["kafka_python"].startswith(version), f"{client} imported {output['kafka_python']}"
    return output


def expected_records(messages, first_offset=0):
    return [{"offset": first_offset + i, "partition": 0, "key": None if k is None else k.hex(),
             "value": None if v is None else v.hex(), "headers": [[n, b.hex()] for n, b in h]}
            for i, (k, v, h) in enumerate(messages)]


def interpreter_available(client):
    interpreter = CLIENTS[client][0]
    if not Path(interpreter).exists():
        return False
    probe = subprocess.run([interpreter, "-I", "-c", "import kafka"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.parametrize("client,compression,acks", [
    ("kafka-python-3", None, "all"),
    ("kafka-python-3", "gzip", 1),
    ("kafka-python-3", "lz4", 1),
    ("kafka-python-2.0.2", None, 1),
    ("kafka-python-2.0.2", "gzip", "all"),
])
def test_produce_then_consume_with_assign_and_seek(broker, client, compression, acks):
    if client == "kafka-python-2.0.2" and not interpreter_available(client):
        pytest.fail(f"{SYSTEM_PYTHON} cannot import kafka: install Debian's python3-kafka (tools/setup does)")
    topic = unique_topic("kp")
    messages = binary_messages(1_500, seed=800)

    output = run_roundtrip(client, broker, topic, messages, compression, acks, seek=1_234)

    assert output["produced"] == list(range(len(messages)))
    assert (output["beginning"], output["end"]) == (0, len(messages))
    assert output["consumed"] == expected_records(messages)
    assert output["from_seek"] == expected_records(messages[1_234:], first_offset=1_234)
