"""mqtt_pipeline's batches through the real Airflow CLI: a missing file fails clearly and changes
nothing; a scheduled run loads its own landing day and retrains, and a rerun of that day replaces
its batch.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from pipeline_runs import csv_counts, dags_test, log_file, make_run, packet_counts, scalar


def test_missing_file_fails_clearly_and_changes_nothing(airflow_env, sample, db_conn, tmp_path):
    """A failed ``make run`` names the task, its error line and the log file."""
    before = scalar(db_conn, "SELECT count(*) FROM mqtt.packets")
    missing = sample / "no_such_train.csv"
    result = make_run(airflow_env, tmp_path, missing, sample / "test30.csv", "2026-03-03", {"models": []})
    assert result.returncode != 0
    failure = re.search(r"^FAILED: task (\w+) failed: (.*)$", result.stdout, re.M)
    assert failure and failure.group(1) == "ingest", result.stdout
    assert f"train file not found: {missing}" in failure.group(2)
    assert f"train file not found: {missing}" in log_file(result.stdout).read_text()
    assert scalar(db_conn, "SELECT count(*) FROM mqtt.packets") == before


def test_scheduled_run_loads_its_landing_batch_and_a_rerun_replaces_it(
    airflow_env, sample, db_conn, generate
):
    """A scheduled run loads its own landing day and retrains; rerunning that day with other files
    leaves the rerun's rows alone in the batch (one run less than loading a day twice first)."""
    landing = Path(airflow_env["MQTTIDS_LANDING_URI"])
    generate(
        "--landing",
        str(landing),
        "--days",
        "2",
        "--start-date",
        "2026-04-01",
        "--rows",
        "2000",
        "--seed",
        "3",
    )
    day = landing / "2026-04-02"
    # No conf: the data interval's landing batch, and the models MQTTIDS_MODELS names (XGBoost
    # alone here, the quickest to train; test_pipeline.py's make run trains all five).
    scheduled_env = {**airflow_env, "MQTTIDS_MODELS": "xgb"}
    result = dags_test(scheduled_env, "2026-04-02")
    assert result.returncode == 0, result.stdout[-4000:]
    landed = csv_counts(*sorted(day.glob("train*.csv")), *sorted(day.glob("test*.csv")))
    assert packet_counts(db_conn, "2026-04-02") == landed
    assert packet_counts(db_conn, "2026-04-01") == Counter()  # only its own day
    # A scheduled run retrains too, on its own batch (train_days defaults to 1).
    trained = "SELECT array_agg(model ORDER BY model) FROM mqtt.model_runs WHERE batch_from = '2026-04-02'"
    assert scalar(db_conn, trained) == ["xgb"]

    # The rerun of that day loads the module's pair instead: its rows replace the landing batch's.
    conf = {"train_uri": str(sample / "train70.csv"), "test_uri": str(sample / "test30.csv"), "models": []}
    db_conn.rollback()  # end the checks' read transaction: the rerun's partition swap waits on it
    rerun = dags_test(airflow_env, "2026-04-02", conf)
    assert rerun.returncode == 0, rerun.stdout[-4000:]
    reloaded = csv_counts(sample / "train70.csv", sample / "test30.csv")
    assert reloaded != landed  # so an appended or a skipped reload shows
    assert packet_counts(db_conn, "2026-04-02") == reloaded
    assert scalar(db_conn, "SELECT count(*) FROM mqtt.ingest_batches WHERE batch_date = '2026-04-02'") == 1
