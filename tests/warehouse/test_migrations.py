"""The warehouse migrations on real PostgreSQL: adopting a previous-release warehouse, the same schema
from every starting point, and jobs that refuse a warehouse at another revision.

Schemas are compared through pg_catalog (tables, partitioning, columns with types, NOT NULL and
defaults, constraints, indexes, comments), against a fresh empty database upgraded to head.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import psycopg2.errors
import psycopg2.extras
import pytest

from mqttids.analytics import cube
from mqttids.detection import tables as detection_tables
from mqttids.ingest import loading, sources
from mqttids.learning import champion, registry
from mqttids.runtime import db
from mqttids.schema import COLUMNS, LABELS, bound_text
from mqttids.stream import tables as stream_tables
from mqttids.stream.terms import TermSpec
from mqttids.warehouse import migrations, revision, tables

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PREVIOUS_RELEASE = Path(__file__).with_name("previous_release.sql")
BATCH = date(2024, 3, 1)
RUN_ID = "before_upgrade"

# Every table today's code uses; a revision that adds one adds it here.
TABLES = {
    tables.PACKETS,
    tables.REJECTED,
    tables.BATCHES,
    *(out.name for out in cube.OUTPUTS),
    registry.MODEL_RUNS,
    registry.MODEL_METRICS,
    registry.CONFUSION,
    registry.FEATURE_COLUMNS,
    "mqtt.model_runs_pre_mlflow",
    "mqtt.champion_pre_mlflow",
    champion.DECISIONS,
    stream_tables.RUNS,
    stream_tables.TWEETS,
    stream_tables.COUNTS,
    stream_tables.OFFSETS,
    stream_tables.ENDS,
    stream_tables.DEAD_LETTERS,
    tables.DETECTIONS,
    tables.DETECTION_SUMMARY,
    detection_tables.OFFSETS,
    detection_tables.STATE,
    detection_tables.PEERS,
    detection_tables.ENDS,
    detection_tables.DEAD_LETTERS,
}


# --- reading a schema and its data -----------------------------------------------------
def _query(url: str, sql: str, args: tuple = ()) -> list[tuple]:
    conn = db.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


# Regular and partitioned tables of the mqtt schema, not the batch partitions ingest attaches.
_RELATIONS = """
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'mqtt' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
"""


def schema_of(url: str) -> dict[str, list[tuple]]:
    """Everything that makes up the shape of the mqtt schema, in a comparable form."""
    return {
        "tables": _query(
            url,
            "SELECT c.relname, c.relkind, pg_get_partkeydef(c.oid), obj_description(c.oid, 'pg_class') "
            + _RELATIONS
            + " ORDER BY 1",
        ),
        "columns": _query(
            url,
            "SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum) "
            + _RELATIONS.replace(
                "WHERE",
                "JOIN pg_attribute a ON a.attrelid = c.oid "
                "LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum WHERE",
            )
            + " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, 2",
        ),
        "constraints": _query(
            url,
            "SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid) "
            + _RELATIONS.replace("WHERE", "JOIN pg_constraint k ON k.conrelid = c.oid WHERE")
            + " ORDER BY 1, 2",
        ),
        "indexes": _query(
            url,
            "SELECT c.relname, i.relname, pg_get_indexdef(i.oid) "
            + _RELATIONS.replace(
                "WHERE", "JOIN pg_index x ON x.indrelid = c.oid JOIN pg_class i ON i.oid = x.indexrelid WHERE"
            )
            + " ORDER BY 1, 2",
        ),
    }


def columns_of(url: str) -> dict[str, list[str]]:
    """The columns of every table (version table aside), in order."""
    by_table: dict[str, list[str]] = {}
    for table, _, column, *_ in schema_of(url)["columns"]:
        if table != "alembic_version":
            by_table.setdefault(table, []).append(column)
    return by_table


def contents(url: str, columns: dict[str, list[str]]) -> dict[str, list[str]]:
    """The rows of every table (packets through its partitions) over ``columns``, sorted.

    Reading the columns the table had before an upgrade, not ``*``, keeps this comparison valid
    when a later revision adds a column.
    """
    return {
        table: sorted(map(repr, _query(url, f"SELECT {', '.join(names)} FROM mqtt.{table}")))
        for table, names in columns.items()
    }


def upgraded(new_database) -> str:
    url = new_database()
    migrations.upgrade(url)
    return url


# --- the previous release's warehouse, with data -------------------------------------
def _learning_results(conn) -> None:
    """What the previous release's evaluate wrote, as plain SQL in its own shape: feature decisions,
    two models with scores and a confusion matrix, the champion and its decision. Today's writers
    cannot write it: revision 0004 moved the model columns to MLflow."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO mqtt.feature_columns VALUES (%s, 'tcp_flags', 'kept', 'varies'), "
            "(%s, 'mqtt_msg', 'dropped', 'payload text')",
            (RUN_ID, RUN_ID),
        )
        for i, model in enumerate(("lr", "rf")):
            cur.execute(
                "INSERT INTO mqtt.model_runs (run_id, model, kind, params, grid, cv_metric, cv_score, "
                "cv_folds, cv_seconds, fit_seconds, tune_rows, train_rows, test_rows, artifact_uri, "
                "features_uri, batch_from, batch_to, test_fingerprint, plot_uri) VALUES (%s, %s, 'spark', "
                "%s, %s, 'macro_f1', %s, 3, 1.5, 0.5, 100, 200, 90, %s, %s, %s, %s, 'fp', %s)",
                (
                    RUN_ID,
                    model,
                    f'{{"maxIter": {10 + i}}}',
                    '{"maxIter": [10, 11]}',
                    0.8 + i / 100,
                    f"runs/{RUN_ID}/models/{model}",
                    f"runs/{RUN_ID}/features/pipeline",
                    BATCH,
                    BATCH,
                    f"runs/{RUN_ID}/plots/confusion_{model}.png",
                ),
            )
            for metric, value in (("accuracy", 0.9 - i / 10), ("macro_f1", 0.8 + i / 100)):
                cur.execute(
                    "INSERT INTO mqtt.model_metrics VALUES (%s, %s, 'test', %s, 'all', %s)",
                    (RUN_ID, model, metric, value),
                )
            cur.execute(
                "INSERT INTO mqtt.confusion_matrix VALUES (%s, %s, 'test', 'dos', 'dos', 80), "
                "(%s, %s, 'test', 'dos', 'legitimate', 10)",
                (RUN_ID, model, RUN_ID, model),
            )
        cur.execute(
            "INSERT INTO mqtt.champion VALUES ('mqtt_ids', %s, 'rf', 0.81, 'fp', 'no champion yet', now())",
            (RUN_ID,),
        )
        cur.execute(
            "INSERT INTO mqtt.champion_decisions (slot, run_id, model, challenger_macro_f1, promoted, "
            "reason) VALUES ('mqtt_ids', %s, 'rf', 0.81, true, 'no champion yet')",
            (RUN_ID,),
        )
    conn.commit()


# Revision 0004 moved the model columns to MLflow: the previous rows are kept whole in these
# tables, and the champion slot got the registered model's name.
KEPT_AS = {"model_runs": "model_runs_pre_mlflow", "champion": "champion_pre_mlflow"}
MOVED_TO_MLFLOW = {
    "params", "grid", "cv_metric", "cv_score", "cv_folds", "cv_seconds", "fit_seconds", "tune_rows",
    "train_rows", "artifact_uri", "features_uri", "plot_uri",
}  # fmt: skip


def contents_after_upgrade(url: str, old_columns: dict[str, list[str]]) -> dict[str, list[str]]:
    """The previous release's rows where today's warehouse keeps them, in the previous shape."""
    after = {}
    for table, names in old_columns.items():
        kept = KEPT_AS.get(table, table)
        after[table] = contents(url, {kept: names})[kept]
    after["champion_decisions"] = [
        row.replace("'mqtt_ids_packet'", "'mqtt_ids'") for row in after["champion_decisions"]
    ]
    return after


def _analytics_and_stream(conn) -> None:
    results = cube.Results(RUN_ID, BATCH, BATCH)
    results.rows = {
        cube.AVG_MQTT_LEN: [("train", 10, 3.5), ("all", 14, 3.0)],
        cube.AVG_TCP_LEN: [("train", "dos", 10, 12.5)],
        cube.TOP_TCP_FLAGS: [("train", 5, 1, 24, "0x18", 7)],
        cube.CLASS_HISTOGRAM: [("train", "dos", 10, 1.0)],
        cube.TOP_HDRFLAGS: [("train", "dos", 48, "0x30", 6, 0.6)],
    }
    cube.write(conn, results)
    stream_tables.register_run(
        conn, RUN_ID, TermSpec(("dos", "mqtt"), False, frozenset({"dos"})), 60, "replay"
    )
    stream_tables.finish_run(conn, RUN_ID, 0)


# What the previous release stored of a batch (revision 0002 added connection columns after them).
PREVIOUS_COLUMNS = {
    tables.PACKETS: tables.LOAD_COLUMNS + tuple(c.name for c in COLUMNS),
    tables.REJECTED: ("batch_date", "split", "source_file", "raw_line", "reason", "rejected_at"),
    tables.BATCHES: (
        "batch_date",
        "sources",
        "rows_read",
        "rows_loaded",
        "rows_rejected",
        "seconds",
        "loaded_at",
    ),
}


def _copy_batch(source_url: str, conn) -> None:
    """BATCH's rows from a warehouse at head into ``conn``'s previous-release tables, as published."""
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE mqtt.packets_{BATCH:%Y%m%d} PARTITION OF {tables.PACKETS} FOR VALUES IN (%s)",
            (BATCH,),
        )
        for table, names in PREVIOUS_COLUMNS.items():
            columns = ", ".join(names)
            rows = _query(source_url, f"SELECT {columns} FROM {table} WHERE batch_date = %s", (BATCH,))
            psycopg2.extras.execute_values(cur, f"INSERT INTO {table} ({columns}) VALUES %s", rows)
    conn.commit()


@pytest.fixture(scope="module")
def previous_release(new_database, spark, generate, tmp_path_factory) -> str:
    """A warehouse built by the previous release's DDL, holding a batch and every kind of result.

    The batch goes in through the real ingest path (load_batch, Spark and COPY) from a small
    generated sample; learning, analytics and stream rows through today's writers.
    """
    url = new_database()
    conn = db.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(PREVIOUS_RELEASE.read_text())
        conn.commit()
        sample = tmp_path_factory.mktemp("previous_release")
        generate("--out", str(sample), "--rows", "300", "--seed", "5")
        inputs = [
            sources.resolve(spark, "train", str(sample / "train70.csv")),
            sources.resolve(spark, "test", str(sample / "test30.csv")),
        ]
        # Today's ingest writes today's shape: it loads into a warehouse at head, and the batch's
        # rows are then copied, in the previous release's columns, into its own partition here.
        scratch = upgraded(new_database)
        loading.load_batch(spark, inputs, scratch, BATCH)
        _copy_batch(scratch, conn)
        _learning_results(conn)
        _analytics_and_stream(conn)
    finally:
        conn.close()
    return url


@pytest.fixture(scope="module")
def head_schema(new_database) -> dict[str, list[tuple]]:
    """The schema a fresh, empty database has after upgrading to head: today's shape."""
    return schema_of(upgraded(new_database))


# --- the tests -------------------------------------------------------------------------
def test_the_head_the_jobs_check_is_alembics_head():
    assert migrations.script_head() == revision.HEAD
    assert [rev for rev, _ in migrations.history()][-1] == revision.HEAD


def test_upgrading_a_previous_release_warehouse_keeps_every_row_and_gives_todays_shape(
    previous_release, head_schema
):
    with pytest.raises(revision.WarehouseOutdated, match="no schema revision"):
        revision.require_head(previous_release)
    old_columns = columns_of(previous_release)
    before = contents(previous_release, old_columns)
    assert len(before["packets"]) == 300 and len(before["model_metrics"]) > 0
    assert all(before[name] for name in ("ingest_batches", "champion", "champion_decisions", "avg_mqtt_len"))

    assert migrations.upgrade(previous_release) == (None, revision.HEAD)

    assert contents_after_upgrade(previous_release, old_columns) == before
    # What MLflow does not hold stays in mqtt.model_runs, row for row.
    runs = [c for c in old_columns["model_runs"] if c not in MOVED_TO_MLFLOW]
    today = contents(previous_release, {"model_runs": runs})["model_runs"]
    assert (
        len(today) == 2
        and today == contents(previous_release, {"model_runs_pre_mlflow": runs})["model_runs_pre_mlflow"]
    )
    assert schema_of(previous_release) == head_schema
    revision.require_head(previous_release)  # jobs accept it now
    partitions = _query(
        previous_release,
        "SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass",
        (tables.PACKETS,),
    )
    assert partitions == [(1,)]  # the batch is still attached as its partition


def test_upgrade_gives_the_same_schema_from_empty_previous_and_current(
    previous_release, head_schema, new_database
):
    migrations.upgrade(previous_release)  # idempotent whether or not the test above ran first
    again = upgraded(new_database)
    assert migrations.upgrade(again) == (revision.HEAD, revision.HEAD)  # an already-upgraded warehouse
    assert schema_of(previous_release) == schema_of(again) == head_schema
    assert {f"mqtt.{name}" for name, *_ in head_schema["tables"]} == TABLES | {"mqtt.alembic_version"}
    assert _query(again, "SELECT version_num FROM mqtt.alembic_version") == [(revision.HEAD,)]
    assert _query(again, "SELECT to_regclass('public.alembic_version')") == [(None,)]


def test_head_packets_table_matches_the_mqttset_schema(db_url):
    """schema.py and the frozen revision must agree: a column changed in one needs a revision."""
    columns = _query(
        db_url,
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (tables.PACKETS,),
    )
    assert [name for name, _ in columns] == list(tables.PACKET_COLUMNS)
    mqttset = columns[len(tables.LOAD_COLUMNS) : len(tables.LOAD_COLUMNS) + len(COLUMNS)]
    assert dict(mqttset) == {c.name: c.pg_type for c in COLUMNS}
    assert columns[len(tables.LOAD_COLUMNS) + len(COLUMNS) :] == [  # revision 0002
        ("connection_id", "bigint"),
        ("capture_time", "timestamp with time zone"),
        ("connection_seq", "integer"),
    ]


@pytest.fixture()
def probe(db_url):
    """Insert one value into a scratch copy of mqtt.packets' checks: True if a CHECK refuses it.

    The copy has every CHECK of the table but no NOT NULL, so a row with a single value set
    tests that value's constraint alone.
    """
    conn = db.connect(db_url)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE probe (LIKE {tables.PACKETS} INCLUDING CONSTRAINTS)")
        cur.execute(
            "ALTER TABLE probe " + ", ".join(f"ALTER COLUMN {c} DROP NOT NULL" for c in tables.PACKET_COLUMNS)
        )

    def rejects(column: str, value: str) -> bool:
        with conn.cursor() as cur:
            cur.execute("SAVEPOINT one")
            try:
                cur.execute(f"INSERT INTO probe ({column}) VALUES ({value})")
            except psycopg2.errors.CheckViolation:
                cur.execute("ROLLBACK TO SAVEPOINT one")
                return True
            cur.execute("RELEASE SAVEPOINT one")
            return False

    yield rejects
    conn.rollback()
    conn.close()


def test_head_packets_checks_follow_the_schema_bounds(probe):
    """Just outside each bound of schema.py PostgreSQL refuses the value; at the bound it accepts it."""
    bounded = [c for c in COLUMNS if c.lo is not None or c.hi is not None]
    assert len(bounded) > 20
    for col in bounded:
        for bound, step in ((col.lo, -1), (col.hi, 1)):
            if bound is not None:
                assert not probe(col.name, bound_text(bound)), (col.name, bound)
                assert probe(col.name, bound_text(bound + step)), (col.name, bound + step)
    assert probe("target", "'botnet'") and not any(probe("target", f"'{label}'") for label in LABELS)
    assert probe("split", "'validation'") and not probe("split", "'test'")


def test_downgrade_to_base_drops_the_tables_and_upgrade_restores_them(new_database, head_schema):
    url = upgraded(new_database)
    assert migrations.downgrade(url, "base") == (revision.HEAD, None)
    assert [name for name, *_ in schema_of(url)["tables"]] == ["alembic_version"]
    assert _query(url, "SELECT count(*) FROM mqtt.alembic_version") == [(0,)]
    migrations.upgrade(url)
    assert schema_of(url) == head_schema


# --- the command line, the jobs and the DAG task ------------------------------------------
def _warehouse_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mqttids.warehouse", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "jobs")},
        timeout=120,
    )


def test_cli_reports_upgrades_and_the_current_revision(new_database, head_schema):
    url = new_database()
    usage = _warehouse_cli("--help")
    assert usage.returncode == 0 and "upgrade" in usage.stdout and "current" in usage.stdout

    before = _warehouse_cli("current", "--db-url", url)
    assert before.returncode == 1 and "no schema revision" in before.stdout

    first = _warehouse_cli("upgrade", "--db-url", url)
    assert first.returncode == 0, first.stderr
    assert f"upgraded from no revision to {revision.HEAD}" in first.stdout
    second = _warehouse_cli("upgrade", "--db-url", url)
    assert second.returncode == 0 and "unchanged" in second.stdout

    after = _warehouse_cli("current", "--db-url", url)
    assert after.returncode == 0 and f"revision {revision.HEAD} (current)" in after.stdout
    assert schema_of(url) == head_schema


def test_two_upgrades_at_once_both_succeed(new_database, head_schema):
    """Both DAGs start with an upgrade: concurrent upgrades wait for each other on the lock."""
    url = new_database()
    command = [sys.executable, "-m", "mqttids.warehouse", "upgrade", "--db-url", url]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "jobs")}
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    runs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sorted("unchanged" in out for out, _ in outputs) == [False, True], outputs
    assert schema_of(url) == head_schema
    assert _query(url, "SELECT version_num FROM mqtt.alembic_version") == [(revision.HEAD,)]


JOBS = {
    "ingest": ["--train", "train70.csv", "--test", "test30.csv", "--batch-date", "2024-01-01"],
    "analytics": ["--run-id", "r1", "--batch-date", "2024-01-01"],
    "features": ["--run-id", "r1", "--artifacts", "{tmp}", "--batch-date", "2024-01-01"],
    "evaluate": ["--run-id", "r1", "--artifacts", "{tmp}"],
    "tweet_stream": ["chart", "--run-id", "r1", "--out", "{tmp}/chart.png"],
}


@pytest.mark.parametrize("job", sorted(JOBS))
def test_a_job_refuses_a_warehouse_without_revision_and_names_the_command(job, new_database, tmp_path):
    url = new_database()
    args = [a.replace("{tmp}", str(tmp_path)) for a in JOBS[job]]
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "jobs" / f"{job}.py"), *args, "--db-url", url],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert "has no schema revision" in message, result.stderr
    assert "make db-upgrade" in message and "python -m mqttids.warehouse upgrade" in message
    assert "Traceback" not in result.stderr
    assert _query(url, "SELECT to_regnamespace('mqtt')") == [(None,)]  # the job created nothing


def test_a_job_refuses_a_warehouse_at_another_revision(db_url, monkeypatch, capsys):
    """Code that needs a newer revision than the warehouse has (the next one against head) stops."""
    import analytics  # jobs/analytics.py

    head, newer = revision.HEAD, f"{int(revision.HEAD) + 1:04d}"
    monkeypatch.setattr(revision, "HEAD", newer)
    assert analytics.main(["--run-id", "r1", "--batch-date", "2024-01-01", "--db-url", db_url]) == 1
    error = capsys.readouterr().err
    assert f"is at schema revision {head}, this code needs {newer}" in error and "make db-upgrade" in error


def test_the_dag_task_upgrades_through_the_warehouse_connection(new_database, head_schema, monkeypatch):
    from mqttids_airflow import warehouse

    url = new_database()
    monkeypatch.setenv("AIRFLOW_CONN_MQTTIDS_DB", url)
    assert warehouse.upgrade() == revision.HEAD
    assert schema_of(url) == head_schema
