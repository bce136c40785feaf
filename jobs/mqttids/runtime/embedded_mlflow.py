"""The embedded MLflow tracking server: the default when ``MLFLOW_TRACKING_URI`` is not set.

Started once and reused, like the embedded PostgreSQL: ``mlflow server`` as a
plain background process on a free loopback port, its address kept in
``<MQTTIDS_STATE_DIR>/mlflow/server.json`` and checked (process alive,
``/health`` answering) before it is reused.

Its backend store is its own database, ``MQTTIDS_MLFLOW_DB`` (default
``mlflow``), on the warehouse's PostgreSQL server: the URL is the warehouse's
(:func:`mqttids.runtime.db.resolve_url`, with whatever credentials it carries)
with the database name replaced, and it reaches the server through the
environment, never its command line. It is never Airflow's metadata database:
MLflow and Airflow both keep an ``alembic_version`` table. Models and figures
go to ``MQTTIDS_MLFLOW_ARTIFACTS`` (a local folder, or ``gs://`` in Dataproc
mode), served to clients through the server (``mlflow-artifacts:/``), so a
job needs no access of its own to the artifact store.

Run ``python -m mqttids.runtime.embedded_mlflow start|stop|url`` to manage it by hand.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from mqttids.runtime import config, db, service_cli

log = logging.getLogger(__name__)

START_TIMEOUT = 120  # seconds; the first start creates MLflow's tables


class MlflowServerError(RuntimeError):
    """The embedded MLflow server could not be started."""


def state_dir() -> Path:
    return Path(config.STATE_DIR.get()) / "mlflow"


def _state_file(folder: Path | None = None) -> Path:
    return (folder or state_dir()) / "server.json"


def backend_store_uri(warehouse_url: str | None = None) -> str:
    """The MLflow database's SQLAlchemy URL: the warehouse server's URL, other database."""
    url = warehouse_url or db.resolve_url()
    name = config.MLFLOW_DB.get()
    parts = urlsplit(url)
    warehouse = db.DbUrl.parse(url).dbname
    airflow = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    forbidden = {warehouse} | ({db.DbUrl.parse(airflow).dbname} if airflow.startswith("postgres") else set())
    if name in forbidden:
        raise MlflowServerError(
            f"MQTTIDS_MLFLOW_DB={name!r} is the warehouse's or Airflow's database: MLflow needs its own "
            "(it keeps an alembic_version table of its own)"
        )
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2", path=f"/{name}"))


def _ensure_database(warehouse_url: str) -> None:
    """Create the MLflow database on the warehouse's server once."""
    name = config.MLFLOW_DB.get()
    conn = db.connect(warehouse_url, application="mqttids-mlflow")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                log.info("creating database %s for MLflow", name)
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()


def healthy(uri: str, timeout: float = 3.0) -> bool:
    """Whether an MLflow server answers ``/health`` at ``uri``."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def running_uri(folder: Path | None = None) -> str | None:
    """The URI of the embedded server if it runs and answers, else None."""
    try:
        state = json.loads(_state_file(folder).read_text())
    except (OSError, ValueError):
        return None
    if service_cli.alive(int(state["pid"])) and healthy(state["uri"]):
        return state["uri"]
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check_artifacts(destination: str) -> None:
    """A local artifact folder must be creatable and writable: say so now, not at the first model."""
    if "://" in destination:
        return
    path = Path(destination)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise MlflowServerError(
            f"MLflow artifact store {path} is not writable ({err.strerror or err}): "
            "fix its permissions or set MQTTIDS_MLFLOW_ARTIFACTS"
        ) from err


def _mlflow_command() -> list[str]:
    return [sys.executable, "-m", "mlflow", "server"]


def start(warehouse_url: str | None = None, port: int | None = None, folder: Path | None = None) -> str:
    """Start a new server process (callers use :func:`ensure_running`); return its URI.

    ``folder`` keeps its state and log (default: under MQTTIDS_STATE_DIR); the tests give
    their own, so they never take over the server ``make mlflow`` started.
    """
    url = warehouse_url or db.resolve_url()
    destination = config.MLFLOW_ARTIFACTS.get()
    _check_artifacts(destination)
    _ensure_database(url)
    port = port or _free_port()
    uri = f"http://127.0.0.1:{port}"
    folder = folder or state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    logfile = folder / "server.log"
    env = {
        **os.environ,
        "MLFLOW_BACKEND_STORE_URI": backend_store_uri(url),
        "MLFLOW_ARTIFACTS_DESTINATION": destination,
        # No job runner: its Huey consumers (GenAI evaluation, trace rollups, none used here)
        # are about ten processes of ~400 MB each.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": os.environ.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false"),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    log.info("starting the embedded MLflow server on %s (log: %s)", uri, logfile)
    with logfile.open("ab") as out:
        process = subprocess.Popen(
            [*_mlflow_command(), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while not healthy(uri, timeout=1):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            tail = logfile.read_text(errors="replace").splitlines()[-15:]
            raise MlflowServerError(
                f"the MLflow server did not start on {uri}; last lines of {logfile}:\n" + "\n".join(tail)
            )
        time.sleep(0.5)
    _state_file(folder).write_text(json.dumps({"pid": process.pid, "uri": uri}))
    return uri


def ensure_running() -> str:
    """Start the embedded server unless it already runs; return its URI."""
    with service_cli.one_at_a_time(state_dir() / "start.lock"):
        return running_uri() or start()


def stop(folder: Path | None = None) -> None:
    """Stop the embedded server if it runs (its process group: the server and its workers)."""
    try:
        state = json.loads(_state_file(folder).read_text())
    except (OSError, ValueError):
        return
    pid = int(state["pid"])
    if service_cli.alive(pid):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while service_cli.alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
    _state_file(folder).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    return service_cli.main(
        "python -m mqttids.runtime.embedded_mlflow",
        "Manage the embedded MLflow tracking server (state under MQTTIDS_STATE_DIR/mlflow); "
        "start and url print the address of its UI and API.",
        ensure_running,
        stop,
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
