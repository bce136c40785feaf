"""Input locations: only the allowed roots and schemes are ever opened (issue 14, item 9).

An HTTP server on loopback stands for any address an ``http://`` param
could point the worker at: the tests assert that it receives no request at
all, through the library (ingest's source check, on a real Spark session),
the job command lines and the DAG-side checks.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mqttids.ingest import sources
from mqttids.runtime import input_paths
from mqttids.schema import CSV_NAMES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET = "TOPSECRET-" + "x" * 190


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def _answer(self) -> None:
        type(self).seen.append(self.path)
        body = (",".join(CSV_NAMES) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    do_GET = do_HEAD = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def http_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server and the list of paths it was asked for."""
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Recorder.seen
    server.shutdown()
    server.server_close()


@pytest.fixture()
def only(monkeypatch, tmp_path):
    """Allow exactly one local folder (plus the data dir and landing root) and gs://."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    monkeypatch.setenv("MQTTIDS_INPUT_ROOTS", f"gs://,{allowed}")
    return allowed


def _secret_file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "secret.csv"
    path.write_text(f"{SECRET}\nrow\n")
    return path


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_http_inputs_never_reach_hadoop(spark, http_server, scheme):
    base, seen = http_server
    uri = base.replace("http", scheme, 1) + "/train70.csv"
    with pytest.raises(input_paths.InputNotAllowed, match=r"train input .* is not an allowed input"):
        sources.resolve(spark, "train", uri)
    assert seen == []


def test_a_local_file_outside_the_roots_is_refused_unread(spark, only, tmp_path):
    secret = _secret_file(tmp_path / "outside")
    for uri in (str(secret), f"file://{secret}", str(only / ".." / "outside" / "secret.csv")):
        with pytest.raises(input_paths.InputNotAllowed) as refused:
            sources.resolve(spark, "test", uri)
        assert "TOPSECRET" not in str(refused.value)
        assert "MQTTIDS_INPUT_ROOTS" in str(refused.value)


def test_a_link_inside_a_root_cannot_lead_out(spark, only, tmp_path):
    secret = _secret_file(tmp_path / "outside")
    (only / "train70.csv").symlink_to(secret)
    with pytest.raises(input_paths.InputNotAllowed):
        sources.resolve(spark, "train", str(only / "*.csv"))  # the glob passes, the file it finds not


def test_wrong_headers_are_quoted_as_a_short_labelled_excerpt(spark, only):
    path = only / "train70.csv"
    path.write_text(",".join([SECRET, *CSV_NAMES[1:]]) + "\nrow\n")
    with pytest.raises(sources.SourceError) as wrong:
        sources.resolve(spark, "train", str(path))
    message = str(wrong.value)
    assert "header excerpt: 'TOPSECRET-" in message
    assert SECRET not in message and SECRET[:60] not in message
    assert len(message) < len(str(path)) + 300


def test_allowed_schemes_and_roots(monkeypatch, tmp_path):
    monkeypatch.setenv("MQTTIDS_INPUT_ROOTS", f"gs://,hdfs://nn:8020/landing,{tmp_path}")
    assert input_paths.check("gs://bucket/mqttset/train*.csv") == "gs://bucket/mqttset/train*.csv"
    assert input_paths.check("hdfs://nn:8020/landing/2026-11-28/train.csv")
    assert input_paths.check(str(tmp_path / "2026-*" / "train*.csv"))
    for refused in (
        "hdfs://nn:8020/etc/passwd",
        "hdfs://nn:8020/landing/../etc",
        "s3a://bucket/train.csv",
        "ftp://127.0.0.1/train.csv",
        "jar:file:/x.jar!/train.csv",
        "/etc/passwd",
        "",
    ):
        with pytest.raises(input_paths.InputNotAllowed):
            input_paths.check(refused)


def test_the_default_roots_cover_the_data_dir_landing_and_gcs(monkeypatch):
    from mqttids.runtime import config

    monkeypatch.delenv("MQTTIDS_INPUT_ROOTS", raising=False)
    monkeypatch.delenv("MQTTIDS_DATA_DIR", raising=False)
    monkeypatch.delenv("MQTTIDS_LANDING_URI", raising=False)
    assert input_paths.allowed_roots() == [config.DATA_DIR.default, config.LANDING_URI.default, "gs://"]
    assert input_paths.check(f"{config.DATA_DIR.default}/sample/train70.csv")
    with pytest.raises(input_paths.InputNotAllowed):
        input_paths.check(str(PROJECT_ROOT / ".local" / "pgdata" / "postgresql.conf"))


def _job(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_ingest_command_line_refuses_before_spark_starts(http_server, db_url):
    base, seen = http_server
    result = _job(
        str(PROJECT_ROOT / "jobs" / "ingest.py"), "--train", f"{base}/t.csv", "--test", "/etc/passwd",
        "--db-url", db_url,
    )  # fmt: skip
    assert result.returncode == 1
    assert "ingest failed: train input" in result.stderr and "is not an allowed input" in result.stderr
    assert "Traceback" not in result.stderr
    assert seen == []


def test_the_stream_producer_refuses_a_replay_file_outside_the_roots(only, tmp_path, db_url):
    secret = _secret_file(tmp_path / "outside")
    result = _job(
        str(PROJECT_ROOT / "jobs" / "tweet_stream.py"), "produce", "--run-id", "r-refused",
        "--replay-file", str(secret), "--db-url", db_url, "--bootstrap", "127.0.0.1:1",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "replay file" in result.stderr and "is not an allowed input" in result.stderr
    assert "TOPSECRET" not in result.stderr + result.stdout


def test_the_dag_side_checks_refuse_before_any_job_runs(http_server, monkeypatch):
    from mqttids_airflow import inputs, stream_steps

    base, seen = http_server
    with pytest.raises(input_paths.InputNotAllowed, match="train_uri"):
        inputs.source_uri({"train_uri": f"{base}/train.csv"}, "2026-11-28", "train")
    assert inputs.source_uri({"test_uri": ""}, "2026-11-28", "test").endswith("/2026-11-28/test*.csv")

    def must_not_run(*args, **kwargs):
        raise AssertionError("the job was started")

    monkeypatch.setattr(stream_steps, "_run", must_not_run)
    params = {"source": "replay", "terms": "dos", "duration": 1, "window_seconds": 1, "plurals": False}
    with pytest.raises(input_paths.InputNotAllowed, match="replay_file"):
        stream_steps.produce("r1", {**params, "replay_file": "/etc/shadow"})
    assert seen == []
