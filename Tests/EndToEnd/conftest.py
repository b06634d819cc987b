"""Fixtures for the end-to-end suite: a real `apus broker` process per test.

`broker` starts `apus broker` on free loopback ports with a fresh data directory, waits until it
accepts connections and stops it after the test (SIGTERM, then SIGKILL after 10 s). The broker's
stderr goes to `<tmp>/broker.stderr`; when a test fails, its tail is attached to the report.

`broker_factory(**settings)` starts more brokers, or brokers with Kafka properties passed as
`--set key=value` (for example `broker_factory(**{"num.partitions": 3})`). Two keyword arguments
are not properties: `listener_names=("SASL_SSL", "PLAINTEXT")` gives the broker one loopback
listener per name, each on its own free port (`broker.address("SASL_SSL")`; the first is
`broker.bootstrap`), and `listen_host="0.0.0.0"` binds the listeners to another address.

The binary is `$APUS_BINARY`, or `<repo>/.build/debug/apus`. The suite does not build it:
`tools/test` does (`swift build --build-tests`), or run `swift build --product apus`.
"""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_BYTES = 24_000


def free_ports(count):
    """Ports the kernel hands out for port 0 on the loopback address, distinct from each other."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class BrokerProcess:
    """One `apus broker` process: its ports, data directory, settings and stderr log.

    `start()`, `stop()` and `restart()` keep the ports and the data directory, so a restart
    shows what the broker recovers from disk.
    """

    def __init__(self, binary, data_dir, log_path, settings, listener_names=None, listen_host=None):
        self.binary = Path(binary)
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.settings = dict(settings)
        self.host = HOST
        # None: one plain `--listen HOST:PORT`; else a `NAME://HOST:PORT,...` listener per name.
        self.listener_names = list(listener_names) if listener_names else None
        self.listen_host = listen_host or HOST
        ports = free_ports(len(self.listener_names or [None]) + 1)
        self.metrics_port = ports.pop()
        self.ports = dict(zip(self.listener_names or ["PLAINTEXT"], ports))
        self.port = ports[0]
        self.process = None
        self.returncodes = []  # exit status of each stop, in order

    @property
    def bootstrap(self):
        return f"{self.host}:{self.port}"

    def address(self, listener_name):
        """HOST:PORT of the named listener (a loopback address clients can connect to)."""
        return f"{self.host}:{self.ports[listener_name]}"

    def listen_value(self):
        if self.listener_names is None:
            return f"{self.listen_host}:{self.port}"
        return ",".join(f"{name}://{self.listen_host}:{self.ports[name]}" for name in self.listener_names)

    @property
    def metrics_url(self):
        return f"http://{self.host}:{self.metrics_port}/metrics"

    @property
    def pid(self):
        return self.process.pid if self.process else None

    def command(self):
        args = [
            str(self.binary), "broker",
            "--data-dir", str(self.data_dir),
            "--listen", self.listen_value(),
            "--metrics", f"{self.host}:{self.metrics_port}",
        ]
        for key, value in self.settings.items():
            args += ["--set", f"{key}={value}"]
        return args

    def start(self, timeout=START_TIMEOUT_S):
        assert self.process is None or self.process.poll() is not None, "broker already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"---- start: {' '.join(self.command())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                cwd=self.data_dir.parent, env=broker_environment())
        self._wait_until_listening(timeout)
        return self

    def _wait_until_listening(self, timeout):
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            status = self.process.poll()
            if status is not None:
                raise RuntimeError(
                    f"apus broker exited with status {status} before listening on {self.bootstrap}\n"
                    f"{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError as error:
                last_error = error
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(
            f"apus broker did not accept connections on {self.bootstrap} within {timeout:.0f} s "
            f"(last error: {last_error})\n{self.log_tail()}")

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit status (negative: signal)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._append_log(f"---- did not exit {timeout:.0f} s after SIGTERM: SIGKILL\n")
            self.process.kill()
            status = self.process.wait(timeout=timeout)
        self.returncodes.append(status)
        self._append_log(f"---- exited with status {status}\n")
        return status

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def restart(self, timeout=STOP_TIMEOUT_S):
        """Stops the broker cleanly and starts it again on the same ports and data directory."""
        status = self.stop(timeout)
        self.start()
        return status

    def is_running(self):
        return self.process is not None and self.process.poll() is None

    def _append_log(self, text):
        with open(self.log_path, "ab") as log:
            log.write(text.encode())

    def log_text(self):
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, limit=LOG_TAIL_BYTES):
        try:
            size = self.log_path.stat().st_size
            with open(self.log_path, "rb") as log:
                log.seek(max(0, size - limit))
                tail = log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return f"(no broker log at {self.log_path})"
        prefix = f"(last {limit} bytes of {size}, full log: {self.log_path})\n" if size > limit else ""
        return f"---- apus broker stderr ({self.log_path}):\n{prefix}{tail}"


def broker_environment():
    """The test's environment without APUS_* variables, which the broker reads as settings."""
    return {name: value for name, value in os.environ.items() if not name.startswith("APUS_")}


def apus_binary_path():
    configured = os.environ.get("APUS_BINARY")
    return Path(configured) if configured else REPO_ROOT / ".build" / "debug" / "apus"


@pytest.fixture(scope="session")
def apus_binary():
    path = apus_binary_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"no apus binary at {path}: build it with `swift build --product apus` (tools/test does), "
            "or point APUS_BINARY at one", pytrace=False)
    return path


@pytest.fixture
def broker_factory(apus_binary, tmp_path, request):
    """Starts brokers with the given Kafka properties (`--set key=value`); stops them all after."""
    brokers = []
    request.node.apus_brokers = brokers

    def start(listener_names=None, listen_host=None, **settings):
        index = len(brokers)
        broker = BrokerProcess(
            apus_binary,
            data_dir=tmp_path / f"broker{index}" / "data",
            log_path=tmp_path / f"broker{index}.stderr",
            settings=settings, listener_names=listener_names, listen_host=listen_host)
        brokers.append(broker)
        return broker.start()

    yield start
    for broker in brokers:
        broker.stop()


@pytest.fixture
def broker(broker_factory):
    """A fresh single-node broker with default settings."""
    return broker_factory()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for broker in getattr(item, "apus_brokers", []):
            report.sections.append((f"apus broker {broker.bootstrap} stderr", broker.log_tail()))
    return report
