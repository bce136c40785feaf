"""Airflow side of the tweet stream: run a step of ``jobs/tweet_stream.py`` for a DAG run.

Each step runs the job in a child process, as spark-submit runs the Spark
jobs: Kafka's and tweepy's threads end with the process, and secrets travel
in its environment only. The warehouse URL comes from the ``mqttids_db``
connection; the X bearer token from the ``x_api`` connection (its password),
else ``X_BEARER_TOKEN``; Kafka from ``KAFKA_BOOTSTRAP_SERVERS``, else the
embedded broker.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from mqttids.runtime import config
from mqttids_airflow import connections

JOB = Path(__file__).resolve().parents[2] / "jobs" / "tweet_stream.py"
X_API_CONN_ID = "x_api"


class StreamStepFailed(RuntimeError):
    """The job exited non-zero; its own message is in the task log just above."""


def _run(step: str, run_id: str, args: list[str], env: dict[str, str] | None = None) -> None:
    command = [sys.executable, str(JOB), step, "--run-id", run_id, *args]
    environ = {**os.environ, "MQTTIDS_DB_URL": connections.warehouse_url(), **(env or {})}
    result = subprocess.run(command, env=environ, check=False)
    if result.returncode:
        raise StreamStepFailed(f"tweet_stream {step} exited with {result.returncode}: see the log above")


def x_bearer_token() -> str:
    """The X bearer token: the x_api connection's password, else X_BEARER_TOKEN (may be empty)."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(X_API_CONN_ID).password or config.X_BEARER_TOKEN.get()
    except AirflowNotFoundException:
        return config.X_BEARER_TOKEN.get()


def produce(run_id: str, params: dict) -> None:
    """The producer, for ``params['duration']`` seconds at most."""
    args = [
        "--source",
        params["source"],
        "--terms",
        params["terms"],
        "--duration",
        str(params["duration"]),
        "--window",
        str(params["window_seconds"]),
    ]
    if params["plurals"]:
        args.append("--plurals")
    if params["replay_file"]:
        args += ["--replay-file", params["replay_file"]]
    env = {"X_BEARER_TOKEN": x_bearer_token()} if params["source"] == "x_api" else {}
    _run("produce", run_id, args, env)


def producer_started(run_id: str, producer_state: str | None) -> bool:
    """Whether the run's producer has registered the run (it does so before it publishes anything).

    A producer that ended without registering it (Kafka down, a bad token...) fails the sensor at
    once instead of letting it poke until its timeout.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from mqttids.runtime import db
    from mqttids.stream import tables as stream_tables

    conn = db.connect(connections.warehouse_url(), application="mqttids-stream-sensor")
    try:
        if run_id in stream_tables.run_infos(conn, [run_id]):
            return True
    finally:
        conn.close()
    if producer_state in ("success", "failed", "upstream_failed", "skipped"):
        raise AirflowFailException(f"the producer ended ({producer_state}) without starting run {run_id}")
    return False


def consume(run_id: str, params: dict) -> None:
    """The consumer: the duration plus MQTTIDS_STREAM_GRACE seconds to drain the last tweets."""
    deadline = float(params["duration"]) + float(config.STREAM_GRACE.get())
    _run("consume", run_id, ["--duration", str(deadline)])


def chart_path(run_id: str) -> Path:
    return Path(config.DATA_DIR.get()) / "stream" / (re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id) + ".png")


def chart(run_id: str) -> str:
    """Print the run's totals and write its bar chart; returns the PNG's path."""
    path = chart_path(run_id)
    _run("chart", run_id, ["--out", str(path)])
    return str(path)
