"""Run the platform on one machine: what ``make run`` and ``make airflow`` call.

It starts the embedded PostgreSQL (unless ``MQTTIDS_DB_URL`` names a server)
and the embedded MLflow server (unless ``MLFLOW_TRACKING_URI`` names one),
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
import re
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
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"


def airflow_env(db_url: str) -> dict[str, str]:
    """Environment for every Airflow command of a local run."""
    home = Path(config.STATE_DIR.get()) / "airflow"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        # The web UI listens on loopback unless MQTTIDS_AIRFLOW_HOST widens it; its admin password
        # file is made private (0600) by standalone() before Airflow writes into it.
        "AIRFLOW__API__HOST": config.AIRFLOW_HOST.get(),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / PASSWORDS_FILE),
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


def tracking_env() -> dict[str, str]:
    """MLFLOW_TRACKING_URI for every task: the configured server, else the embedded one (started)."""
    from mqttids.learning import tracking

    uri = tracking.tracking_uri()
    print(f"MLflow: {uri}", flush=True)
    return {"MLFLOW_TRACKING_URI": uri}


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


def run_pipeline(
    train: str, test: str, batch_date: str, verbose: bool = False, params: dict | None = None
) -> int:
    """Run mqtt_pipeline once for ``batch_date`` and print what it produced.

    Quiet by default (one line per task, the logs in a file, see :mod:`run_output`);
    ``verbose`` streams Airflow's whole output instead. ``params`` are more DAG params.
    """
    url = db.resolve_url()
    # A one-off local run fails fast; scheduled runs keep their retries.
    env = {"MQTTIDS_TASK_RETRIES": "0", **_environ(url), **tracking_env()}
    print(f"warehouse: {db.redact(url)}", flush=True)
    migrate(env)
    conf = json.dumps({"train_uri": train, "test_uri": test, **(params or {})})
    command = [AIRFLOW, "dags", "test", "mqtt_pipeline", batch_date, "-c", conf]
    started = time.monotonic()
    if verbose:
        returncode, run_id = subprocess.run(command, env=env, check=False).returncode, None
        print(f"\nmqtt_pipeline finished in {time.monotonic() - started:.0f} s\n")
    else:
        returncode, run_id = _run_quiet(command, env, url, batch_date, started)
    if returncode:
        return returncode
    status = print_summary(url, batch_date)
    if status == 0:
        print(f"report: {write_report(url, batch_date, run_id)}")
    return status


def _run_quiet(
    command: list[str], env: dict[str, str], url: str, batch_date: str, started: float
) -> tuple[int, str | None]:
    """The run with one line per task; on failure, the failing task, its error and the log file."""
    from mqttids_airflow import run_figures, run_output

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    log_path = Path(config.STATE_DIR.get()) / "logs" / f"mqtt_pipeline-{batch_date}-{stamp}.log"
    print(f"mqtt_pipeline, batch {batch_date}; full log: {log_path}", flush=True)
    outcome = run_output.run_quiet(
        command, env, log_path, lambda run_id, task: run_figures.figure(url, batch_date, run_id, task)
    )
    print(f"mqtt_pipeline finished in {time.monotonic() - started:.0f} s\n", flush=True)
    if outcome.returncode:
        where = (
            f"task {outcome.failed_task} failed" if outcome.failed_task else "the run failed outside a task"
        )
        print(f"FAILED: {where}: {outcome.error or 'no error line found'}", file=sys.stderr)
        print(f"full log: {log_path}", file=sys.stderr)
    return outcome.returncode, outcome.run_id


def write_report(url: str, batch_date: str, run_id: str | None) -> Path:
    """The run's HTML report, built from the warehouse, in MQTTIDS_DATA_DIR/reports/."""
    from mqttids.analytics import cube
    from mqttids.report import pages

    conn = db.connect(url)
    try:
        run_id = run_id or cube.latest_run_id(conn, batch_date)
        page = pages.pipeline_report(conn, run_id, datetime.fromisoformat(batch_date).date())
    finally:
        conn.close()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id) + ".html"
    return pages.write(page, Path(config.DATA_DIR.get()) / "reports" / name)


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

    slot = config.MLFLOW_MODEL.get()
    with conn.cursor() as cur:
        cur.execute(f"SELECT to_regclass('{champion.DECISIONS}') IS NOT NULL")
        if not cur.fetchone()[0]:
            return "champion: none yet"
        cur.execute(
            f"SELECT run_id, model, challenger_version, promoted, reason FROM {champion.DECISIONS} "
            "WHERE slot = %s ORDER BY decided_at DESC LIMIT 1",
            (slot,),
        )
        row = cur.fetchone()
    if row is None:
        return "champion: none yet"
    run_id, model, version, promoted, reason = row
    verdict = "promoted to @champion" if promoted else "not promoted"
    return f"champion decision: {model} of {run_id} ({slot} version {version}) {verdict}: {reason}"


def private_file(path: Path) -> Path:
    """Create ``path`` empty, or tighten it, so only its owner can read it (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)
    return path


def standalone() -> int:
    """Airflow standalone (API server, scheduler, dag processor, triggerer) with this project."""
    url = db.resolve_url()
    env = {**_environ(url), **tracking_env()}
    migrate(env)
    passwords = private_file(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]))
    print(
        f"Airflow home: {env['AIRFLOW_HOME']}\nWeb UI: http://{env['AIRFLOW__API__HOST']}:8080 (user admin; "
        f"the password is printed below and kept in {passwords})",
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
    run.add_argument(
        "--verbose",
        action="store_true",
        default=os.environ.get("VERBOSE", "") not in ("", "0"),
        help="stream Airflow's whole output instead of one line per task (default: $VERBOSE)",
    )
    run.add_argument(
        "--params",
        type=json.loads,
        default={},
        help='more DAG params as JSON, e.g. \'{"models": ["lr"], "top_x": 3}\'',
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
        params = {k: v for k, v in options.items() if v} | (args.params or {})
        return run_pipeline(train, test, args.batch_date, args.verbose, params)
    if args.command == "airflow":
        return standalone()
    for key, value in airflow_env(db.resolve_url()).items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
