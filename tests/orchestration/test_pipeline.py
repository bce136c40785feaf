"""The whole mqtt_pipeline DAG, end to end, as ``make run`` runs it: every task and every model.

The test runs ``make run`` in a subprocess against a fresh test database, real spark-submit
jobs and small generated data, then checks its output, what landed in PostgreSQL and MLflow,
and the run's report. Reruns, a failed run and a scheduled run: test_pipeline_batches.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pipeline_runs import FULL_RUN_TIMEOUT, ROWS, csv_counts, log_file, make_run, packet_counts, scalar
from report import checks

from mqttids.analytics import cube
from mqttids.report import pages


@pytest.mark.timeout(FULL_RUN_TIMEOUT + 100)
def test_pipeline_loads_quarantines_analyses_and_learns(airflow_env, sample, db_conn, tmp_path):
    """What ``make run`` does, quietly: one line per task, the answers, the report, under 60 lines."""
    params = {"top_x": 3, "grid": "quick"}
    train, test = sample / "train_with_bad.csv", sample / "test30.csv"
    result = make_run(airflow_env, tmp_path, train, test, "2026-03-01", params, FULL_RUN_TIMEOUT)
    log = log_file(result.stdout)
    assert result.returncode == 0, result.stdout[-4000:] + log.read_text()[-4000:]
    print(result.stdout)  # shown with -s, and in the report of a failure
    lines = result.stdout.splitlines()
    assert len(lines) < 60, result.stdout
    for task in (
        "ingest",
        "quality_gate",
        "analytics",
        "features",
        "train_lr",
        "train_rf",
        "train_tf",
        "train_xgb",
    ):
        assert re.search(rf"^  {task} +success +\d+\.\d s", result.stdout, re.M), task
    assert re.search(rf"^  ingest +success .* {ROWS:,} rows loaded, 3 rejected", result.stdout, re.M)
    assert re.search(r"^  evaluate +success .* best macro F1 0\.\d{4} \(\w+\); champion", result.stdout, re.M)
    assert "[DAG TEST] starting task_id=train_tf" in log.read_text()  # the whole log is in the file
    assert Path(re.search(r"^report: (.+)$", result.stdout, re.M).group(1)).is_file()

    expected = csv_counts(sample / "train70.csv", sample / "test30.csv")
    assert packet_counts(db_conn, "2026-03-01") == expected
    rejected = scalar(db_conn, "SELECT count(*) FROM mqtt.rejected_rows WHERE batch_date = '2026-03-01'")
    assert rejected == 3
    run_id = cube.latest_run_id(db_conn, "2026-03-01")
    assert run_id is not None and run_id.startswith("manual__")
    # Ranks never exceed top_x; ties at rank 3 would add rows, not ranks.
    assert scalar(db_conn, "SELECT max(rank) FROM mqtt.top_tcp_flags WHERE run_id = %s", run_id) <= 3
    splits = scalar(db_conn, "SELECT count(DISTINCT split) FROM mqtt.avg_mqtt_len WHERE run_id = %s", run_id)
    assert splits >= 2

    # Learning: every model trained, scored and registered under the same run id.
    with db_conn.cursor() as cur:
        cur.execute(
            "SELECT model, test_rows FROM mqtt.model_runs WHERE run_id = %s ORDER BY model", (run_id,)
        )
        test_rows = sum(n for (split, _), n in expected.items() if split == "test")
        assert cur.fetchall() == [(m, test_rows) for m in ("dnn_narrow", "dnn_wide", "lr", "rf", "xgb")]
        cur.execute("SELECT count(*) FROM mqtt.champion_decisions WHERE run_id = %s", (run_id,))
        assert cur.fetchone()[0] == 1
    # ... and tracked in MLflow: one run per model in the DAG's experiment, the champion an alias.
    from mlflow import MlflowClient

    client = MlflowClient(airflow_env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("mqtt_pipeline")
    runs = client.search_runs([experiment.experiment_id], f"tags.`airflow.run_id` = '{run_id}'")
    assert sorted(r.data.tags["mqttids.model"] for r in runs) == ["dnn_narrow", "dnn_wide", "lr", "rf", "xgb"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert client.get_model_version_by_alias("mqtt_ids_packet", "champion").run_id in {
        r.info.run_id for r in runs
    }
    assert "Models of learning run" in result.stdout
    check_report(db_conn, run_id, "2026-03-01")


def check_report(conn, run_id: str, batch_date: str) -> None:
    """The run's report shows the tables' figures, learning included; optionally saved as a PNG."""
    page = pages.pipeline_report(conn, run_id)
    checks.assert_pipeline_page(checks.tables_from_html(page), conn, run_id, batch_date, learning=True)
    # One inlined bundle, one resize hook, and a small script per chart.
    assert page.count("<script") == 2 + page.count('class="plotly-graph-div"')
    assert "<script src" not in page and '<link rel="stylesheet"' not in page  # nothing fetched
    for chart in ("c-recall", "c-champions", "c-confusion-lr", "c-ingest-counts", "c-flags"):
        assert f'id="{chart}"' in page, chart
    if target := os.environ.get("MQTTIDS_REPORT_SCREENSHOT"):
        from ui import browser

        html = Path(target).with_suffix(".html")
        html.write_text(page)
        with browser.browser(viewport={"width": 1280, "height": 900}) as ctx:
            shot = ctx.new_page()
            shot.goto(html.as_uri())
            shot.wait_for_function("document.querySelectorAll('.plotly-graph-div .main-svg').length > 5")
            shot.wait_for_timeout(1000)  # the resize hook runs on load
            shot.screenshot(path=target, full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": 1800})
        html.unlink()
