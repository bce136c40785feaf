"""Run mqtt_tweet_stream once on this machine: what ``make stream`` calls.

It uses the same local setup as ``make run`` (embedded PostgreSQL unless
``MQTTIDS_DB_URL`` is set, a project-local Airflow home), and the embedded
Kafka broker unless ``KAFKA_BOOTSTRAP_SERVERS`` is set, runs the DAG once
in-process (``airflow dags test``) and prints the run's per-term totals.

    python -m mqttids_airflow.local_stream [--source replay|x_api] [--replay FILE] [--duration S]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from mqttids.runtime import broker, db
from mqttids.stream import tables as stream_tables
from mqttids.stream.chart import format_totals
from mqttids_airflow import local, stream_steps


def latest_run(url: str, since: float) -> str | None:
    """The id of the newest stream run registered after ``since`` (epoch seconds)."""
    conn = db.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT run_id FROM {stream_tables.RUNS} WHERE started_at >= to_timestamp(%s) "
                "ORDER BY started_at DESC LIMIT 1",
                (since,),
            )
            row = cur.fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def print_totals(url: str, run_id: str) -> None:
    conn = db.connect(url)
    try:
        print(format_totals(run_id, stream_tables.run_totals(conn, run_id)))
    finally:
        conn.close()
    print(f"chart: {stream_steps.chart_path(run_id)}")


def run_stream(source: str, replay: str, duration: int) -> int:
    url = db.resolve_url()
    print(f"warehouse: {db.redact(url)}\nkafka: {broker.resolve_bootstrap()}", flush=True)
    env = {"MQTTIDS_TASK_RETRIES": "0", **local._environ(url)}
    local.migrate(env)
    conf = json.dumps({"source": source, "replay_file": replay, "duration": duration})
    started = time.time()
    result = local._airflow(["dags", "test", "mqtt_tweet_stream", "-c", conf], env)
    print(f"\nmqtt_tweet_stream finished in {time.time() - started:.0f} s\n")
    run_id = latest_run(url, started - 1)
    if run_id is None:
        print("the producer never registered a run: see the task logs above", file=sys.stderr)
        return result.returncode or 1
    print_totals(url, run_id)
    return result.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mqttids_airflow.local_stream", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--source", choices=["replay", "x_api"], default="replay", help="default: replay")
    parser.add_argument("--replay", default="", help="replay file (default: the shipped sample)")
    parser.add_argument("--duration", type=int, default=300, help="seconds to stream at most (default 300)")
    args = parser.parse_args(argv)
    if args.duration < 1:
        parser.error("--duration must be positive")
    return run_stream(args.source, args.replay, args.duration)


if __name__ == "__main__":
    sys.exit(main())
