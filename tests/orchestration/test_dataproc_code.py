"""The code package Dataproc runs: built, imported from the zip alone, shipped to a GCS emulator.

The upload runs the real ShipCode operator, GCSHook and google-cloud-storage
client against gcp-storage-emulator (a local server speaking the GCS JSON
API), selected the client's documented way, with STORAGE_EMULATOR_HOST.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mqttids_airflow import code_package

JOBS = code_package.JOBS_DIR
BUCKET = "mqttids-test-code"


def test_package_holds_every_entry_point_and_the_library_zip(tmp_path):
    package = code_package.build(tmp_path)
    assert set(package.files) == {p.name for p in JOBS.glob("*.py")} | {"mqttids.zip", "install-tshark.sh"}
    assert {"ingest.py", "analytics.py"} <= set(package.files)
    names = zipfile.ZipFile(package.files["mqttids.zip"]).namelist()
    assert sorted(names) == sorted(p.relative_to(JOBS).as_posix() for p in code_package.library_files())
    assert "mqttids/__init__.py" in names and not [n for n in names if "__pycache__" in n]


def test_version_is_reproducible_and_follows_the_code(tmp_path):
    first, second = code_package.build(tmp_path / "a"), code_package.build(tmp_path / "b")
    assert first.version == second.version == code_package.code_version()
    assert (tmp_path / "a" / "mqttids.zip").read_bytes() == (tmp_path / "b" / "mqttids.zip").read_bytes()
    copy = tmp_path / "jobs"
    shutil.copytree(JOBS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert code_package.code_version(copy) == first.version
    (copy / "mqttids" / "schema.py").write_text(
        (copy / "mqttids" / "schema.py").read_text() + "\n# changed\n"
    )
    assert code_package.code_version(copy) != first.version


def test_the_zip_alone_provides_the_library_in_a_fresh_interpreter(tmp_path):
    """-I: no PYTHONPATH, no user site; the project's editable install must not be what is found."""
    package = code_package.build(tmp_path / "pkg")
    library = package.files["mqttids.zip"]
    modules = sorted(
        n[:-3].replace("/", ".").removesuffix(".__init__") for n in zipfile.ZipFile(library).namelist()
    )
    probe = (
        "import importlib, json, sys; sys.path.insert(0, sys.argv[1]); "
        "print(json.dumps({m: importlib.import_module(m).__file__ for m in sys.argv[2:]}))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(library), *modules],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    files = json.loads(result.stdout)
    assert set(files) == set(modules) and "mqttids.ingest.loading" in files
    assert all(f.startswith(str(library) + "/") for f in files.values()), files


def test_an_entry_point_runs_from_the_package_alone(tmp_path):
    """What Dataproc does: the main file from the package, the library from --py-files."""
    package = code_package.build(tmp_path / "pkg")
    runner = (
        "import runpy, sys; sys.path.insert(0, sys.argv[1]); main = sys.argv[2]; "
        "sys.argv = [main, '--help']; runpy.run_path(main, run_name='__main__')"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            runner,
            str(package.files["mqttids.zip"]),
            str(package.files["ingest.py"]),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "--batch-date" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def gcs(monkeypatch, tmp_path):
    """A local GCS emulator with an empty bucket; the google_cloud_default connection points to it."""
    from gcp_storage_emulator import server as emulator

    port = _free_port()
    server = emulator.create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    monkeypatch.setenv(
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
        json.dumps(
            {"conn_type": "google_cloud_platform", "extra": {"project": "test", "is_anonymous": True}}
        ),
    )
    jar = tmp_path / "postgresql-42.7.4.jar"
    jar.write_bytes(b"PK\x03\x04 stand-in for the JDBC driver")
    monkeypatch.setenv("POSTGRES_JDBC_JAR", str(jar))
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    yield GCSHook()
    server.stop()


def test_ship_code_uploads_the_package_to_its_version_folder(gcs, tmp_path):
    from mqttids_airflow.dataproc import ShipCode

    version = code_package.code_version()
    uri = ShipCode(task_id="ship_code", bucket=BUCKET, code_version=version).execute({})
    assert uri == f"gs://{BUCKET}/mqttids/{version}/"
    local = code_package.build(tmp_path / "local")
    objects = set(gcs.list(BUCKET, prefix=f"mqttids/{version}/"))
    assert objects == {f"mqttids/{version}/{name}" for name in [*local.files, "postgresql.jar"]}
    for name, path in local.files.items():
        assert gcs.download(BUCKET, f"mqttids/{version}/{name}") == path.read_bytes(), name
    assert gcs.download(BUCKET, f"mqttids/{version}/postgresql.jar").startswith(b"PK")


def test_ship_code_refuses_code_other_than_the_parsed_version(gcs):
    from mqttids_airflow.dataproc import ShipCode

    with pytest.raises(RuntimeError, match="the DAG was parsed with 000000000000"):
        ShipCode(task_id="ship_code", bucket=BUCKET, code_version="000000000000").execute({})
    assert gcs.list(BUCKET) == []


def test_ship_code_needs_the_jdbc_driver(gcs, monkeypatch):
    from mqttids_airflow.dataproc import ShipCode

    monkeypatch.setenv("POSTGRES_JDBC_JAR", "")
    monkeypatch.setattr("mqttids.runtime.spark.DEBIAN_JDBC_JAR", Path("/nonexistent/postgresql.jar"))
    with pytest.raises(FileNotFoundError, match="no PostgreSQL JDBC jar to ship"):
        ShipCode(task_id="ship_code", bucket=BUCKET, code_version=code_package.code_version()).execute({})
