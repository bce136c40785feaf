"""bench/e2e works: mqtt_pipeline end to end on a small generated pair, its figures printed.

No timing is asserted (CI machines differ); what is checked is that the bench ran every task of
the pipeline to success, read each one's time and memory, and ended with its machine line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
# As many rows as the pipeline tests' pair: what is checked (every task ran, its figures read)
# does not grow with the size, and the quality gate gets every class in both splits at any size.
ROWS = 3_000
TASKS = ("ingest", "quality_gate", "features", "train_xgb", "evaluate")
SPARK_TASKS = ("ingest", "features", "train_xgb", "evaluate")  # seconds long: their peak is polled


def test_the_end_to_end_bench_runs_the_pipeline_and_prints_its_figures(
    new_database, mlflow_server, spark_submit_env, tmp_path
):
    url = new_database()  # the bench's scratch warehouse: this test's own, dropped at the end
    out = tmp_path / "e2e.json"
    # XGBoost alone: the quickest trainer (the make-run test trains all five).
    command = [sys.executable, str(ROOT / "bench" / "e2e"), "--rows", str(ROWS), "--models", "xgb"]
    command += ["--db-url", url, "--bench-db", urlsplit(url).path.lstrip("/"), "--out", str(out)]
    command += ["--cache", str(tmp_path / "cache"), "--state", str(tmp_path / "state")]
    command += ["--mlflow-uri", mlflow_server["uri"]]  # the session's server, not one of its own
    env = {**os.environ, **spark_submit_env}
    done = subprocess.run(command, capture_output=True, text=True, timeout=1500, env=env)
    assert done.returncode == 0, done.stderr[-4000:]

    last = dict(pair.split("=") for pair in done.stdout.strip().splitlines()[-1].split())
    assert int(last["e2e_rows"]) == ROWS
    assert float(last["e2e_seconds"]) > 0 and int(last["peak_rss_mib"]) > 100
    (run,) = json.loads(out.read_text())
    tasks = {t["name"]: t for t in run["tasks"]}
    assert set(TASKS) <= set(tasks), sorted(tasks)
    assert all(t["state"] in ("success", "skipped") for t in tasks.values())
    assert all(tasks[t]["seconds"] > 1 and tasks[t]["peak_mib"] > 100 for t in SPARK_TASKS)
    assert any(line.split()[:2] == ["packet", "xgb"] for line in run["models"]), run["models"]
    table = done.stdout.split("whole run")[0]
    assert all(t in table for t in TASKS)
