"""The `apus broker` process itself: clean shutdown on signals, and the metrics endpoint."""
import re
import signal
import urllib.request

import pytest

from .support import kcat, text_messages, unique_topic

SAMPLE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+]?([0-9.eE+-]+|NaN|[+-]?Inf)( -?[0-9]+)?$")


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_shuts_the_broker_down_cleanly_and_data_survives(broker, signal_number):
    topic = unique_topic("signal")
    messages = text_messages(100, seed=5)
    kcat("-P", "-b", broker.bootstrap, "-t", topic, "-p", "0", "-K", ":",
         input=b"".join(k + b":" + v + b"\n" for k, v in messages))

    broker.process.send_signal(signal_number)
    status = broker.process.wait(timeout=10)
    assert status == 0, f"exit status {status} after {signal.Signals(signal_number).name}"

    broker.start()
    lines = kcat("-C", "-b", broker.bootstrap, "-t", topic, "-p", "0", "-o", "beginning", "-e",
                 "-f", "%k:%s\n").stdout.splitlines()
    assert lines == [k + b":" + v for k, v in messages]


def test_metrics_endpoint_serves_prometheus_text(broker):
    topic = unique_topic("metrics")
    kcat("-P", "-b", broker.bootstrap, "-t", topic, "-p", "0", input=b"one\ntwo\nthree\n")

    with urllib.request.urlopen(broker.metrics_url, timeout=10) as response:
        assert response.status == 200
        content_type = response.headers.get("Content-Type", "")
        text = response.read().decode()
    assert content_type.startswith("text/plain"), content_type

    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert samples, f"no samples in /metrics:\n{text[:2000]}"
    malformed = [line for line in samples if not SAMPLE.match(line)]
    assert not malformed, f"lines that are not Prometheus samples: {malformed[:5]}"
    declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    assert declared, "no # TYPE lines"
