"""Local services trust nobody on the machine (issue 14, item 11).

Each embedded PostgreSQL test starts a real server of its own, in a state
dir of its own, so the project's server is left alone.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import pytest

from mqttids.runtime import db, embedded_db

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def state_dir(monkeypatch):
    """A state dir of its own, outside pytest's numbered temp dirs (which other sessions prune)."""
    state = Path(tempfile.mkdtemp(prefix="mqttids-pgtest-"))
    monkeypatch.setenv("MQTTIDS_STATE_DIR", str(state))
    yield state
    embedded_db.stop()
    shutil.rmtree(state, ignore_errors=True)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _refused(port: int, **kwargs) -> str:
    with pytest.raises(psycopg2.OperationalError) as refused:
        psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="mqttids", **kwargs).close()
    return str(refused.value)


def _port(url: str) -> int:
    return db.DbUrl.parse(url).port


def test_the_embedded_server_asks_every_client_for_a_password(state_dir, capsys):
    url = embedded_db.ensure_running()
    password = embedded_db.password_file().read_text().strip()
    assert db.DbUrl.parse(url).password == password and len(password) >= 24
    assert _mode(embedded_db.password_file()) == 0o600
    port = _port(url)
    assert "password" in _refused(port)  # no password: refused
    assert "password authentication failed" in _refused(port, password="guess")
    conn = db.connect(url)
    with conn.cursor() as cur:
        cur.execute("SHOW listen_addresses")
        assert cur.fetchone() == ("127.0.0.1",)
        cur.execute("SELECT DISTINCT auth_method FROM pg_hba_file_rules")
        assert {row[0] for row in cur.fetchall()} == {"scram-sha-256"}
    conn.close()
    assert embedded_db.main(["start"]) == 0  # already running: prints where, not the password
    printed = capsys.readouterr().out
    assert password not in printed and f"127.0.0.1:{port}/mqttids" in printed


def test_a_trust_initialised_data_dir_is_moved_to_a_password(state_dir):
    pgdata = embedded_db.data_dir()
    pgdata.mkdir(parents=True)
    embedded_db._grant_access(pgdata)
    initdb = [embedded_db._bin("initdb"), "-D", str(pgdata), "--auth=trust", "-U", "postgres"]
    subprocess.run(initdb, check=True, stdout=subprocess.DEVNULL, **embedded_db._as_user())
    assert not embedded_db.password_file().exists()

    url = embedded_db.ensure_running()
    assert _mode(embedded_db.password_file()) == 0o600
    assert "password" in _refused(_port(url))
    db.connect(url).close()
    assert not embedded_db._trusts_anyone(pgdata)
    embedded_db.stop()
    restarted = embedded_db.ensure_running()  # a restart keeps the password
    assert db.DbUrl.parse(restarted).password == db.DbUrl.parse(url).password
    db.connect(restarted).close()
    assert "password" in _refused(_port(restarted))


def test_a_lost_password_file_is_a_clear_error(state_dir):
    embedded_db.ensure_running()
    embedded_db.password_file().unlink()
    with pytest.raises(embedded_db.EmbeddedDbError, match="requires a password, but .* is missing"):
        embedded_db.ensure_running()


def test_spark_jobs_start_no_web_ui_under_spark_submit(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from mqttids.runtime.spark import session\n"
        "spark = session('mqttids-ui-probe')\n"
        "sc = spark.sparkContext\n"
        "print('UI:', sc.uiWebUrl, sc.getConf().get('spark.ui.enabled', 'unset'))\n"
        "spark.stop()\n"
    )
    spark_submit = Path(sys.executable).with_name("spark-submit")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "jobs"), "PYSPARK_PYTHON": sys.executable}
    env.pop("MQTTIDS_SPARK_UI", None)
    result = subprocess.run(
        [str(spark_submit), "--master", "local[1]", str(probe)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "UI: None false" in result.stdout


def test_airflow_serves_on_loopback_and_keeps_its_password_file_private(tmp_path, monkeypatch):
    from mqttids_airflow import local

    monkeypatch.setenv("MQTTIDS_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("MQTTIDS_AIRFLOW_HOST", raising=False)
    env = local.airflow_env("postgresql://u:p@127.0.0.1:5432/db")
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    monkeypatch.setenv("MQTTIDS_AIRFLOW_HOST", "0.0.0.0")
    assert local.airflow_env("postgresql://u:p@127.0.0.1:5432/db")["AIRFLOW__API__HOST"] == "0.0.0.0"

    passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    passwords.parent.mkdir(parents=True)
    passwords.write_text("{}\n")
    os.chmod(passwords, 0o644)  # as an earlier version of make airflow left it
    local.private_file(passwords)
    # Airflow's own auth manager then generates the admin password into it, as standalone does.
    writer = (
        "from airflow.configuration import conf; "
        "from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager; "
        "SimpleAuthManager().init(); print(conf.get('api', 'host'))"
    )
    child = {**os.environ, **env, "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin"}
    result = subprocess.run([sys.executable, "-c", writer], env=child, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "127.0.0.1"  # what `airflow api-server` binds
    assert '"admin"' in passwords.read_text()
    assert _mode(passwords) == 0o600
