"""Running mqtt_pipeline as the end-to-end tests do, and reading what landed.

``dags_test`` is ``airflow dags test`` in a subprocess; ``make_run`` is ``make run``
(python -m mqttids_airflow.local run), output merged; both on the module's test database.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from mqttids_airflow import local

ROWS = 3000  # rows of the generated pair the module fixture writes
RUN_TIMEOUT = 1100  # seconds a run may take: a hang guard, under pytest-timeout's 1200 s a test
# The full make run (every model): 3,000 rows took 450-770 s on an idle 2-core machine and passed
# 1,100 s beside the other worker's Spark jobs; its test has a pytest-timeout of its own, above this.
FULL_RUN_TIMEOUT = 1500


def dags_test(
    env: dict[str, str], logical_date: str, conf: dict | None = None
) -> subprocess.CompletedProcess:
    args = [local.AIRFLOW, "dags", "test", "mqtt_pipeline", logical_date]
    if conf is not None:
        args += ["-c", json.dumps(conf)]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)


def make_run(
    env: dict[str, str],
    tmp: Path,
    train: Path,
    test: Path,
    batch_date: str,
    params: dict,
    timeout: int = RUN_TIMEOUT,
) -> subprocess.CompletedProcess:
    """``make run`` (python -m mqttids_airflow.local run) on the test database, output merged."""
    run_env = {
        **env,
        "MQTTIDS_DB_URL": env["AIRFLOW_CONN_MQTTIDS_DB"],
        "MQTTIDS_STATE_DIR": str(tmp / "state"),
        "MQTTIDS_DATA_DIR": str(tmp / "data"),
    }
    run_env.pop("VERBOSE", None)
    args = [
        "--train",
        str(train),
        "--test",
        str(test),
        "--batch-date",
        batch_date,
        "--params",
        json.dumps(params),
    ]
    return subprocess.run(
        [sys.executable, "-m", "mqttids_airflow.local", "run", *args],
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


def log_file(output: str) -> Path:
    path = Path(re.search(r"full log: (\S+)", output).group(1))
    assert path.is_file()
    return path


def csv_counts(*paths: Path) -> Counter:
    counts: Counter = Counter()
    for path in paths:
        split = "train" if path.name.startswith("train") else "test"
        with path.open() as f:
            for row in csv.DictReader(f):
                counts[(split, row["target"])] += 1
    return counts


def packet_counts(conn, batch_date: str) -> Counter:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT split, target, count(*) FROM mqtt.packets WHERE batch_date = %s GROUP BY 1, 2",
            (batch_date,),
        )
        return Counter({(s, t): n for s, t, n in cur.fetchall()})


def scalar(conn, sql: str, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]
