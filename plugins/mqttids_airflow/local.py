"""Run the platform on one machine: what ``make run`` and ``make airflow`` call.

It starts the embedded PostgreSQL (unless ``MQTTIDS_DB_URL`` names a server),
points a project-local Airflow home at ``dags/`` and ``plugins/``, defines the
two connections as ``AIRFLOW_CONN_*`` variables, and then either runs
``mqtt_pipeline`` once in-process (``airflow dags test``) or starts Airflow
standalone for the web UI.

    python -m mqttids_airflow.local run [--train PATH --test PATH]
    python -m mqttids_airflow.local airflow
    python -m mqttids_airflow.local env      # print the environment, for a shell
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from mqttids.runtime import config, db

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
SAMPLE_DIR = Path(config.DATA_DIR.get()) / "sample"


def airflow_env(db_url: str) -> dict[str, str]:
    """Environment for every Airflow command of a local run."""
    home = Path(config.STATE_DIR.get()) / "airflow"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW_CONN_MQTTIDS_DB": db_url,
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps(
            {"conn_type": "spark", "host": os.environ.get("MQTTIDS_SPARK_MASTER", "local[*]")}
        ),
        "PYSPARK_PYTHON": sys.executable,
        # spark-submit (from the pyspark wheel) finds Spark through the venv's python.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT / "jobs")]),
    }


def _environ(db_url: str) -> dict[str, str]:
    return {**os.environ, **airflow_env(db_url)}


def _airflow(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([AIRFLOW, *args], env=env, check=False, **kwargs)


def migrate(env: dict[str, str]) -> None:
    """Create or upgrade the local Airflow metadata database (SQLite)."""
    result = _airflow(["db", "migrate"], env, capture_output=True, text=True)
    if result.returncode:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit("airflow db migrate failed")


def ensure_sample() -> tuple[str, str]:
    """The default inputs: the reduced-shape sample, generated once."""
    train, test = SAMPLE_DIR / "train70.csv", SAMPLE_DIR / "test30.csv"
    if not (train.exists() and test.exists()):
        print(f"generating the reduced-shape sample in {SAMPLE_DIR} ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                str(PROJECT_ROOT / "jobs" / "generate_sample.py"),
                "--out",
                str(SAMPLE_DIR),
                "--shape",
                "reduced",
                "--seed",
                "0",
            ],
            check=True,
        )
    return str(train), str(test)


def run_pipeline(train: str, test: str, batch_date: str, options: dict[str, str] | None = None) -> int:
    """Run mqtt_pipeline once for ``batch_date`` and print what it produced."""
    url = db.resolve_url()
    # A one-off local run fails fast; scheduled runs keep their retries.
    env = {"MQTTIDS_TASK_RETRIES": "0", **_environ(url)}
    print(f"warehouse: {db.redact(url)}", flush=True)
    migrate(env)
    conf = json.dumps({"train_uri": train, "test_uri": test, **(options or {})})
    started = time.monotonic()
    result = _airflow(["dags", "test", "mqtt_pipeline", batch_date, "-c", conf], env)
    print(f"\nmqtt_pipeline finished in {time.monotonic() - started:.0f} s\n")
    return print_summary(url, batch_date) if result.returncode == 0 else result.returncode


def print_summary(url: str, batch_date: str) -> int:
    """The Task I, II and III answers, read back from the warehouse."""
    from mqttids.analytics import cube
    from mqttids.learning import registry

    conn = db.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT rows_read, rows_loaded, rows_rejected, seconds FROM mqtt.ingest_batches "
                "WHERE batch_date = %s",
                (batch_date,),
            )
            row = cur.fetchone()
            if row is None:
                print(f"batch {batch_date} was not loaded: see the task logs above", file=sys.stderr)
                return 1
            read, loaded, rejected, seconds = row
            print(
                f"ingest: batch {batch_date}: {read:,} rows read, {loaded:,} loaded, "
                f"{rejected:,} rejected ({seconds:.1f} s)"
            )
            run_id = cube.latest_run_id(conn, batch_date)
        if run_id is None:
            print("analytics did not run: see the task logs above", file=sys.stderr)
            return 1
        print(cube.summary(conn, run_id))
        print()
        print(registry.summary(conn, run_id))
        print(champion_line(conn))
    finally:
        conn.close()
    return 0


def champion_line(conn) -> str:
    """The current champion and the latest decision about it."""
    from mqttids.learning import champion

    with conn.cursor() as cur:
        cur.execute(f"SELECT to_regclass('{champion.DECISIONS}') IS NOT NULL")
        if not cur.fetchone()[0]:
            return "champion: none yet"
        cur.execute(
            f"SELECT run_id, model, promoted, reason FROM {champion.DECISIONS} WHERE slot = %s "
            "ORDER BY decided_at DESC LIMIT 1",
            (champion.SLOT,),
        )
        run_id, model, promoted, reason = cur.fetchone()
    verdict = "promoted" if promoted else "not promoted"
    return f"champion decision: {model} of {run_id} {verdict}: {reason}"


def standalone() -> int:
    """Airflow standalone (API server, scheduler, dag processor, triggerer) with this project."""
    url = db.resolve_url()
    env = _environ(url)
    migrate(env)
    home = Path(env["AIRFLOW_HOME"])
    print(
        f"Airflow home: {home}\nWeb UI: http://localhost:8080 (user admin; the password is printed "
        f"below and kept in {home / 'simple_auth_manager_passwords.json.generated'})",
        flush=True,
    )
    return _airflow(["standalone"], env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mqttids_airflow.local", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run mqtt_pipeline once and print its results")
    run.add_argument(
        "--train",
        default="",
        help="train CSVs or captures, path or glob (default: the reduced sample)",
    )
    run.add_argument(
        "--test",
        default="",
        help="test CSVs or captures, path or glob (default: the reduced sample)",
    )
    run.add_argument("--labels", default="", help="label map pattern=class,... (docs/inputs.md)")
    run.add_argument("--mqtt-ports", default="", help="TCP ports tshark decodes as MQTT, e.g. 1883,8883")
    run.add_argument("--split-by", default="", choices=["", "connection"], help="split --train by connection")
    run.add_argument(
        "--batch-date",
        default=datetime.now(UTC).date().isoformat(),
        help="batch date (logical date of the run; default: today)",
    )
    sub.add_parser("airflow", help="start Airflow standalone with this project's DAGs")
    sub.add_parser("env", help="print the environment local Airflow commands need, as shell exports")
    args = parser.parse_args(argv)
    if args.command == "run":
        train, test = (args.train, args.test) if args.train or args.test else ensure_sample()
        if args.split_by and (test or not train):
            parser.error("--split-by splits --train: give --train and no --test")
        if not (train and (test or args.split_by)):
            parser.error("give both --train and --test, or neither")
        options = {"labels": args.labels, "mqtt_ports": args.mqtt_ports, "split_by": args.split_by}
        return run_pipeline(train, test, args.batch_date, {k: v for k, v in options.items() if v})
    if args.command == "airflow":
        return standalone()
    for key, value in airflow_env(db.resolve_url()).items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
