"""The module fixtures of mqtt_pipeline's end-to-end tests (test_pipeline*.py): each module gets
its own migrated Airflow home on the session's test database, and the small generated pair.

Two modules, so that the long full run and the shorter batch runs can go to different
pytest-xdist workers (``make test`` runs the suite on several).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_runs import ROWS

from mqttids_airflow import local


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory, db_url, mlflow_server, spark_submit_env) -> dict[str, str]:
    """Environment for the Airflow CLI: a migrated throwaway home, the test database and MLflow."""
    home = tmp_path_factory.mktemp("airflow-home")
    landing = tmp_path_factory.mktemp("landing")
    env = {
        **local._environ(db_url),
        **spark_submit_env,
        "AIRFLOW_HOME": str(home),
        "MQTTIDS_TASK_RETRIES": "0",
        "MQTTIDS_LANDING_URI": str(landing),
        "MQTTIDS_SPARK_MASTER": "local[2]",
        "MQTTIDS_ARTIFACTS_URI": str(tmp_path_factory.mktemp("artifacts")),
        "MQTTIDS_TUNE_ROWS": "1500",
        "MLFLOW_TRACKING_URI": mlflow_server["uri"],
    }
    local.migrate(env)
    return env


@pytest.fixture(scope="module")
def sample(tmp_path_factory, generate) -> Path:
    """A small generated pair, plus a copy of the train file with bad rows appended."""
    out = tmp_path_factory.mktemp("sample")
    generate("--out", str(out), "--rows", str(ROWS), "--seed", "7")
    good = (out / "train70.csv").read_text()
    bad_lines = [
        "0x00000018,0.1,10,0",  # too few columns
        good.splitlines()[1].replace("0x000000", "0xZZ0000", 1),  # bad hex
        good.splitlines()[1].rsplit(",", 1)[0] + ",botnet",  # unknown label
    ]
    (out / "train_with_bad.csv").write_text(good + "\n".join(bad_lines) + "\n")
    return out
