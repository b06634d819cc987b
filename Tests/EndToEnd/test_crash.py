"""The short form of tools/crash-test: kill -9 the broker a few times under idempotent acks=all
load (durable flush) and check every acknowledged record is stored exactly once, in order."""
import importlib.util
from pathlib import Path

from .conftest import apus_binary_path

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "crash" / "crash_test.py"


def load_crash_test():
    spec = importlib.util.spec_from_file_location("crash_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_acknowledged_records_survive_repeated_kill_minus_nine():
    result = load_crash_test().run(str(apus_binary_path()), kills=4, durable=True, seconds=8, seed=7)
    assert result["acknowledged"] > 1000, result
    assert result["ok"], result
    assert result["stored"] == result["acknowledged"], result
