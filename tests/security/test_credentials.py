"""The warehouse URL never rides a spark-submit command line (issue 14, items 6 and 10).

The real MqttSparkSubmitOperator runs against ``spark_default`` connections
for each kind of master; only the final ``Popen`` of spark-submit is
replaced, by a recorder of the command line the provider's hook built and
the environment it would start it with (no cluster is reachable here).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from urllib.parse import quote

import pytest
from airflow.providers.apache.spark.hooks import spark_submit

from mqttids.runtime import db
from mqttids_airflow import spark_steps

PASSWORD = "s3cret/pw:@x"
URL = f"postgresql://etl:{quote(PASSWORD, safe='')}@10.1.2.3:5432/mqttids"
LEAKS = ("s3cret", quote(PASSWORD, safe=""))


class Submitted(Exception):
    """Raised by the recorder instead of starting spark-submit."""


@pytest.fixture()
def submit(monkeypatch):
    """Run the operator's execute with a master; return (command line, env, the URL file it read)."""

    def run(master: str, deploy_mode: str | None = None, **env: str) -> dict:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        extra = {"deploy-mode": deploy_mode} if deploy_mode else {}
        monkeypatch.setenv(
            "AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": master, "extra": extra})
        )
        monkeypatch.setenv("AIRFLOW_CONN_MQTTIDS_DB", URL)
        if master.startswith("k8s://"):
            # The cncf.kubernetes provider is not installed here; only status polling would use it.
            monkeypatch.setattr(spark_submit, "kube_client", object(), raising=False)
        seen: dict = {}

        def record(hook, application="", **kwargs):
            seen["command"] = hook._build_spark_submit_command(application)
            seen["env"] = dict(hook._env or {})
            files = [f for f in (hook._files or "").split(",") if f]
            path = seen["env"].get("MQTTIDS_DB_URL_FILE", "")
            shipped = [f for f in files if Path(f).name == spark_steps.URL_FILE_NAME]
            url_file = Path(shipped[0]) if shipped else Path(path) if path else None
            if url_file is not None:
                seen["url_file"] = url_file
                seen["url"] = url_file.read_text()
                seen["mode"] = stat.S_IMODE(url_file.stat().st_mode)
                seen["dir_mode"] = stat.S_IMODE(url_file.parent.stat().st_mode)
            raise Submitted

        monkeypatch.setattr(spark_submit.SparkSubmitHook, "submit", record)
        # The provider resumes a durable YARN cluster job only through the RM API: not our concern here.
        durable = {"durable": False} if master == "yarn" and deploy_mode == "cluster" else {}
        task = spark_steps.spark_job("analytics", "analytics", ["--run-id", "r1"], jdbc=True, **durable)
        with pytest.raises(Submitted):
            task.execute({})
        return seen

    return run


def _assert_no_url(seen: dict) -> None:
    line = " ".join(seen["command"])
    for leak in LEAKS:
        assert leak not in line
        assert leak not in json.dumps(seen["env"])
    assert "MQTTIDS_DB_URL=postgres" not in line and "10.1.2.3" not in line


def _assert_private_file(seen: dict) -> None:
    assert db.DbUrl.parse(seen["url"]) == db.DbUrl.parse(URL)
    assert seen["mode"] == 0o600 and seen["dir_mode"] == 0o700
    assert not seen["url_file"].exists()  # removed with its folder when the job ended


def test_local_master_gets_the_path_of_a_private_file(submit):
    seen = submit("local[2]")
    _assert_no_url(seen)
    _assert_private_file(seen)
    assert seen["env"]["MQTTIDS_DB_URL_FILE"] == str(seen["url_file"])


@pytest.mark.parametrize("deploy_mode", ["client", "cluster"])
def test_yarn_master_never_sees_the_url(submit, deploy_mode):
    seen = submit("yarn", deploy_mode)
    _assert_no_url(seen)
    _assert_private_file(seen)
    line = " ".join(seen["command"])
    if deploy_mode == "cluster":  # the file travels with the job, the driver reads its local copy
        assert f"--files {seen['url_file']}" in line
        assert "spark.yarn.appMasterEnv.MQTTIDS_DB_URL_FILE=mqttids-db-url" in line
    else:
        assert f"spark.yarn.appMasterEnv.MQTTIDS_DB_URL_FILE={seen['url_file']}" in line


def test_kubernetes_master_ships_the_file(submit):
    seen = submit("k8s://https://127.0.0.1:6443", "cluster")
    _assert_no_url(seen)
    _assert_private_file(seen)
    line = " ".join(seen["command"])
    assert f"--files {seen['url_file']}" in line
    assert "spark.kubernetes.driverEnv.MQTTIDS_DB_URL_FILE=mqttids-db-url" in line


def test_kubernetes_master_with_a_secret_gets_only_its_name(submit):
    seen = submit("k8s://https://127.0.0.1:6443", "cluster", MQTTIDS_K8S_DB_SECRET="mqttids-db:url")
    _assert_no_url(seen)
    assert "url_file" not in seen
    assert "spark.kubernetes.driver.secretKeyRef.MQTTIDS_DB_URL=mqttids-db:url" in " ".join(seen["command"])


def test_every_spelling_of_the_password_is_masked(submit):
    from airflow.sdk._shared.secrets_masker import redact

    submit("yarn", "cluster")
    line = f"job properties: MQTTIDS_DB_URL={URL} password={PASSWORD} form={quote(PASSWORD)}"
    masked = redact(line)
    for leak in LEAKS:
        assert leak not in masked


def test_jobs_read_the_url_file(monkeypatch, tmp_path):
    path = tmp_path / "url"
    path.write_text(URL + "\n")
    os.chmod(path, 0o600)
    monkeypatch.delenv("MQTTIDS_DB_URL", raising=False)
    monkeypatch.setenv("MQTTIDS_DB_URL_FILE", str(path))
    assert db.resolve_url() == URL
    monkeypatch.setenv("MQTTIDS_DB_URL_FILE", str(tmp_path / "missing"))
    with pytest.raises(db.DatabaseUnreachable, match="cannot read the database URL file"):
        db.resolve_url()
