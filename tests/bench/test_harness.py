"""The shared benchmark harness measures what it says: child wall time, tree memory, the table."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import harness  # noqa: E402

ALLOCATE = (
    "import time; block = bytearray({mib} * 2**20); block[::4096] = b'x' * len(block[::4096]); time.sleep(1)"
)


def test_run_step_sees_the_memory_of_a_grandchild() -> None:
    """The peak counts the whole process tree: a Spark JVM is a grandchild of the step's Python."""
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {ALLOCATE.format(mib=300)!r}])"
    seconds, peak = harness.run_step([sys.executable, "-c", child])
    assert seconds >= 1.0
    assert peak >= 300


def test_run_step_fails_loudly_with_the_log_path(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    with pytest.raises(SystemExit, match="step.log"):
        harness.run_step([sys.executable, "-c", "print('boom'); raise SystemExit(3)"], log_file=log)
    assert "boom" in log.read_text()


def test_side_by_side_aligns_numbers_right() -> None:
    table = harness.side_by_side(
        ("method", "rows", "rows/s"), [("ingest", 1_000_000, 84645.2), ("copy", 7, 0.5)]
    )
    lines = table.splitlines()
    assert lines[1].split() == ["ingest", "1,000,000", "84,645"]
    assert lines[2].split() == ["copy", "7", "0.50"]
    assert len({len(line) for line in lines}) == 1


def test_machine_line_is_key_value_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    harness.machine_line(e2e_rows=20_000_000, e2e_seconds=1712.4567, peak_rss_mib=9000.0)
    assert capsys.readouterr().out == "e2e_rows=20000000 e2e_seconds=1712.457 peak_rss_mib=9000\n"


def test_cpu_meter_charges_this_process_to_client() -> None:
    """CPU spent by the measuring process itself (the PySpark driver) lands in ``client``."""

    def spin() -> None:
        start = time.process_time()
        while time.process_time() - start < 0.3:
            pass

    _, seconds, cpu = harness.timed(harness.CpuMeter(), spin)
    assert set(cpu) == set(harness.CpuMeter.GROUPS)
    assert cpu["client"] >= 0.25
    assert seconds >= 0.25
