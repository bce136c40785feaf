"""Shared fixtures: a real PostgreSQL database and a real local Spark session.

The database is a fresh, uniquely named one on the server given by
``MQTTIDS_TEST_DB_URL`` (any PostgreSQL you can create databases on), else on
the project's embedded server, upgraded to the head revision of the warehouse
migrations. It is dropped at the end of the session, so tests never touch the
data ``make run`` produced.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from fixtures import REAL_TEST, REAL_TRAIN, require

from mqttids.capture import corpus as corpus_module

# Every skip is a failure (tests/noskip.py).
pytest_plugins = ("noskip",)

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Airflow reads these at import time: a throwaway home, this project's DAGs, no examples.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="mqttids-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(PROJECT_ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(PROJECT_ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# Tests write their inputs to temporary folders and read fixtures: allow those (and gs://) as inputs.
INPUT_ROOTS = ["gs://", tempfile.gettempdir(), str(PROJECT_ROOT / "tests")]
os.environ.setdefault("MQTTIDS_INPUT_ROOTS", ",".join(INPUT_ROOTS))
# The suite's splits are tiny: its networks train 30 epochs, not the small-split step budget, and
# logistic regression reads no quantile bins (they slow its fits; tests/detection fits them itself).
os.environ.setdefault("MQTTIDS_NN_MIN_STEPS", "0")
os.environ.setdefault("MQTTIDS_LR_BINS", "0")


# How `make test` spreads the suite over pytest-xdist workers (--dist loadfile): a unit of work is
# a module, or a whole directory of TOGETHER, whose modules share a session fixture built at
# length (the capture corpus loaded, the detection champions trained), so that it is built on one
# worker only. Units go out longest first (--no-loadscope-reorder keeps this order), so no long
# one starts last and keeps one worker busy alone at the end. xdist tops a worker up when two tests
# or fewer are pending, so the single-test first unit takes the third along at once: with the
# default two workers, that one is short, and the fourth goes to whichever worker is free first.
TOGETHER = ("learning/", "detection/")
LONGEST_FIRST = (
    "orchestration/test_pipeline.py",  # make run: every task, every model, every level
    "learning/",
    "orchestration/test_dag_integrity.py",  # short: queued behind the first
    "detection/",
    "ui/",
    "orchestration/test_pipeline_batches.py",
    "bench/test_e2e.py",
)


def _unit(path: str) -> str:
    """The unit of work of a test file (its path under tests/): its directory, or itself."""
    return next((d for d in TOGETHER if path.startswith(d)), path)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.path.relative_to(PROJECT_ROOT / "tests").as_posix()
        return next((i for i, p in enumerate(LONGEST_FIRST) if path.startswith(p)), len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: the collection order within each rank


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """--dist loadfile with TOGETHER's directories as single units (xdist's loadgroup marks do
    not reach pytest 9's node ids)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndDirectories(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid.split("::", 1)[0].removeprefix("tests/"))

    return ModulesAndDirectories(config, log)


def _server_url() -> str:
    url = os.environ.get("MQTTIDS_TEST_DB_URL")
    if url:
        return url
    from mqttids.runtime import embedded_db

    return embedded_db.ensure_running()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def new_database() -> Iterator[Callable[[], str]]:
    """Make fresh, empty, uniquely named databases on the test server; all dropped at session end.

    ``new_database()`` returns the URL of a new database, with no schema at all.
    """
    from mqttids.runtime import db

    server = _server_url()
    admin = db.connect(server)
    admin.autocommit = True
    made: list[str] = []

    def make() -> str:
        name = f"mqttids_test_{uuid.uuid4().hex[:8]}"
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        made.append(name)
        return _with_database(server, name)

    try:
        yield make
    finally:
        with admin.cursor() as cur:
            for name in made:
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture(scope="session")
def db_url(new_database) -> str:
    """URL of a fresh database upgraded to the head revision, shared by the whole test session."""
    from mqttids.warehouse import migrations

    url = new_database()
    migrations.upgrade(url)
    return url


@pytest.fixture()
def db_conn(db_url):
    """An open psycopg2 connection to the test database."""
    from mqttids.runtime import db

    conn = db.connect(db_url)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test run (starting one takes seconds)."""
    os.environ.setdefault("MQTTIDS_SPARK_MASTER", "local[2]")
    from mqttids.runtime.spark import session

    spark = session("mqttids-tests", jdbc=True)
    spark.conf.set("spark.sql.shuffle.partitions", "4")
    yield spark
    spark.stop()


@pytest.fixture()
def run_main(spark, monkeypatch, capsys):
    """A job's ``main(argv)`` in this process, on the shared Spark session: (exit code, out, err).

    The job's ``session`` is the shared one and ``stop`` is a no-op (main() stops its session);
    the root logger's level and handlers, which main() sets up, are put back afterwards.
    """

    def run(job, *argv: str) -> tuple[int, str, str]:
        monkeypatch.setattr(job, "session", lambda *args, **kwargs: spark)
        monkeypatch.setattr(spark, "stop", lambda: None)
        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        try:
            code = job.main(list(argv))
        finally:
            root.setLevel(level)
            root.handlers[:] = handlers
        out, err = capsys.readouterr()
        return code, out, err

    return run


# The JVM of each spark-submit job the end-to-end tests run through Airflow (driver and executors
# in one local-mode process): the quick C1 compiler only and the serial collector, which start
# faster on two cores. Those jobs last seconds to a minute on small files; the suite's own Spark
# session (tests/learning, tests/detection) keeps the defaults. Measured in docs/testing.md#timing.
QUICK_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


@pytest.fixture(scope="session")
def spark_submit_env() -> dict[str, str]:
    """What the environment of a run's spark-submit jobs adds: QUICK_JVM as SPARK_SUBMIT_OPTS."""
    return {"SPARK_SUBMIT_OPTS": QUICK_JVM}


@pytest.fixture(scope="session")
def generate():
    """Run the real sample generator CLI (jobs/generate_sample.py) with the given arguments."""

    def run(*args: object) -> None:
        script = PROJECT_ROOT / "jobs" / "generate_sample.py"
        subprocess.run([sys.executable, str(script), *map(str, args)], check=True)

    return run


@pytest.fixture(scope="session")
def real_rows() -> tuple[Path, Path]:
    """The genuine MQTTset rows (train, test), from tests/fixtures."""
    return require(REAL_TRAIN), require(REAL_TEST)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> Iterator[str]:
    """A real Kafka-protocol broker (the embedded tansu) of its own, for the whole test session."""
    from mqttids.runtime import embedded_kafka

    state = tmp_path_factory.mktemp("kafka")
    bootstrap = embedded_kafka.ensure_running(state)
    yield bootstrap
    embedded_kafka.stop(state)


@pytest.fixture(scope="session")
def mlflow_server(db_url, tmp_path_factory) -> Iterator[dict]:
    """A real ``mlflow server`` of its own (the embedded one's code), on a database of its own.

    Its backend store is a fresh database on the test PostgreSQL server; its artifacts a
    temporary folder. MLFLOW_TRACKING_URI points every job of the session at it.
    """
    from mqttids.runtime import db, embedded_mlflow

    name = f"mlflow_test_{uuid.uuid4().hex[:8]}"
    folder = tmp_path_factory.mktemp("mlflow")
    saved = {
        k: os.environ.get(k) for k in ("MQTTIDS_MLFLOW_DB", "MQTTIDS_MLFLOW_ARTIFACTS", "MLFLOW_TRACKING_URI")
    }
    os.environ["MQTTIDS_MLFLOW_DB"] = name
    os.environ["MQTTIDS_MLFLOW_ARTIFACTS"] = str(folder / "artifacts")
    uri = embedded_mlflow.start(warehouse_url=db_url, folder=folder)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        yield {"uri": uri, "folder": folder, "artifacts": folder / "artifacts", "db_url": db_url}
    finally:
        embedded_mlflow.stop(folder)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        admin = db.connect(db_url)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


# ---------------------------------------------------------------------------------------
# The corpus of genuine MQTT traffic (mqttids.capture.corpus), built once per session and
# shared by tests/capture and tests/ingest.
# ---------------------------------------------------------------------------------------
PROGRAMS = ("tshark", "dumpcap", "editcap", "capinfos", "mosquitto", "mosquitto_passwd")


def _missing_programs() -> list[str]:
    path = os.pathsep.join([os.environ.get("PATH", ""), *corpus_module.SBIN])
    return [name for name in PROGRAMS if shutil.which(name, path=path) is None]


@dataclass(frozen=True)
class Built:
    """The corpus and how long its build took."""

    corpus: corpus_module.Corpus
    seconds: float


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """All twelve captures, built once for the session."""
    missing = _missing_programs()
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run scripts/system-deps-capture.sh as root")
    started = time.monotonic()
    made = corpus_module.build(tmp_path_factory.mktemp("corpus"))
    return Built(made, time.monotonic() - started)


@pytest.fixture(scope="session")
def corpus(built: Built) -> corpus_module.Corpus:
    return built.corpus


CORPUS_DAY = date(2003, 1, 1)


@pytest.fixture(scope="session")
def corpus_packets(spark, db_url, corpus: corpus_module.Corpus) -> date:
    """The corpus's train and test captures loaded through ingest as batch CORPUS_DAY; its date.

    Shared by tests/connection and tests/learning: genuine packets with their connections.
    """
    from mqttids.ingest import loading, sources

    found = [
        sources.resolve(spark, split, f"{corpus.directory}/*-{split}.pcap") for split in ("train", "test")
    ]
    loading.load_batch(spark, found, db_url, CORPUS_DAY)
    return CORPUS_DAY
