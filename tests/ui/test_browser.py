"""The web UI as a user meets it: trigger forms, runs, the Report tab, and its access control.

Runs are triggered by clicking through the form in Chromium; their outcome is read from the
REST API and the warehouse. Learning is left out of these runs (``models`` cleared): the
report's learning section is checked against real models in tests/orchestration/test_pipeline.py.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest
from report import checks

from ui.conftest import LANDING_ROWS

RUN_TIMEOUT = 900


def _open_trigger_form(page, airflow, dag_id: str):
    page.goto(f"{airflow.url}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    submit = page.get_by_test_id("trigger-dag-submit")
    submit.wait_for()
    return submit


def _trigger(page, submit) -> str:
    """Click Trigger; the UI moves to the new run's page, whose URL names the run id."""
    submit.click()
    page.wait_for_url("**/runs/**")
    return urllib.request.unquote(page.url.split("/runs/", 1)[1].split("/", 1)[0])


def _wait_for(airflow, dag_id: str, run_id: str) -> dict:
    token = airflow.token()
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        try:
            run = airflow.api(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}", token)
        except (TimeoutError, urllib.error.URLError):  # a busy API server (SQLite) is no failure
            time.sleep(3)
            continue
        if run["state"] in ("success", "failed"):
            tis = airflow.api(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances", token)
            states = {t["task_id"]: t["state"] for t in tis["task_instances"]}
            assert run["state"] == "success", f"{dag_id} {run_id}: {states}; logs under {airflow.home}"
            return run
        airflow.check_alive()
        time.sleep(3)
    raise TimeoutError(f"{dag_id} {run_id} still running after {RUN_TIMEOUT} s")


def _report_tables(page, airflow, dag_id: str, run_id: str) -> dict:
    """Open the run's Report tab and read the tables shown in its frame."""
    page.goto(f"{airflow.url}/dags/{dag_id}/runs/{quote(run_id, safe='')}")
    page.get_by_role("link", name="Report", exact=True).click()
    frame = page.frame_locator("iframe").first
    frame.locator("table#t-" + ("ingest-batch" if dag_id == "mqtt_pipeline" else "stream-run")).wait_for()
    report = next(f for f in page.frames if "/mqttids/report/" in f.url)
    # The first table appears while the rest of the page (charts, later tables) is still being
    # parsed: read the tables once the whole document has loaded, or a later one reads as empty.
    report.wait_for_load_state("load")
    return report.evaluate(checks.TABLES_JS)


def test_report_endpoint_refuses_a_logged_out_request(airflow):
    url = f"{airflow.url}/mqttids/report/mqtt_pipeline/{quote('manual__2026-01-01T00:00:00+00:00')}"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code in (401, 403)
    # Logged in, the same request reaches the report, which knows no such run.
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {airflow.token()}"})
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(request, timeout=10)
    assert missing.value.code == 404


def test_pipeline_triggers_at_its_defaults_and_the_report_shows_the_warehouse(page, airflow, db_conn):
    submit = _open_trigger_form(page, airflow, "mqtt_pipeline")
    assert submit.is_enabled(), "the Trigger button must work at the form's defaults"
    assert page.input_value("#element_train_uri") == "" and page.input_value("#element_test_uri") == ""
    page.fill("#element_models", "")  # no learning: keeps the suite inside CI's budget
    assert submit.is_enabled()
    run_id = _trigger(page, submit)
    run = _wait_for(airflow, "mqtt_pipeline", run_id)
    assert run["conf"]["train_uri"] is None and run["conf"]["models"] is None
    batch_date = run["logical_date"][:10]

    tables = _report_tables(page, airflow, "mqtt_pipeline", run_id)
    checks.assert_pipeline_page(tables, db_conn, run_id, batch_date, learning=False)
    assert checks.shown(tables["ingest-batch"][0][2]) == LANDING_ROWS  # the landing batch was loaded
    assert "/landing" in tables["ingest-batch"][0][5]


def test_pipeline_with_params_typed_in(page, airflow, db_conn, tmp_path, generate):
    generate("--out", str(tmp_path), "--rows", "1500", "--seed", "11")
    train = tmp_path / "train70.csv"
    train.write_text(train.read_text() + "0x00000018,0.1,10,0\nnot,a,packet\n")  # two bad rows
    submit = _open_trigger_form(page, airflow, "mqtt_pipeline")
    page.fill("#element_train_uri", str(train))
    page.fill("#element_test_uri", str(tmp_path / "test30.csv"))
    page.locator("[id='number-input:element_top_x:inc']").locator("xpath=../..").locator("input").fill("3")
    page.locator("[id='number-input:element_max_reject_ratio:inc']").locator("xpath=../..").locator(
        "input"
    ).fill("0.5")
    page.fill("#element_models", "")
    run_id = _trigger(page, submit)
    run = _wait_for(airflow, "mqtt_pipeline", run_id)
    assert run["conf"]["train_uri"] == str(train) and run["conf"]["top_x"] == 3
    assert run["conf"]["max_reject_ratio"] == 0.5

    tables = _report_tables(page, airflow, "mqtt_pipeline", run_id)
    checks.assert_pipeline_page(tables, db_conn, run_id, run["logical_date"][:10], learning=False)
    assert {int(row[2]) for row in tables["top-flags"]} <= {1, 2, 3}
    assert sum(int(row[2]) for row in tables["rejects"]) == 2


@pytest.mark.parametrize(
    "conf",
    [{"train_uri": " data/train.csv"}, {"top_x": 0}, {"models": ["svm"]}, {"max_reject_ratio": 2}],
)
def test_a_trigger_with_an_invalid_param_is_refused(airflow, conf):
    """The params' schema is enforced where every trigger goes through: the REST API the form posts to."""
    body = json.dumps({"logical_date": None, "conf": conf}).encode()
    request = urllib.request.Request(
        f"{airflow.url}/api/v2/dags/mqtt_pipeline/dagRuns",
        data=body,
        headers={"Authorization": f"Bearer {airflow.token()}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400, refused.value.read()


def test_tweet_stream_triggers_at_its_defaults_and_reports_mentions(page, airflow, db_conn):
    submit = _open_trigger_form(page, airflow, "mqtt_tweet_stream")
    assert submit.is_enabled(), "the Trigger button must work at the form's defaults"
    run_id = _trigger(page, submit)
    _wait_for(airflow, "mqtt_tweet_stream", run_id)

    tables = _report_tables(page, airflow, "mqtt_tweet_stream", run_id)
    totals = checks.sql_rows(
        db_conn,
        "SELECT term, sum(count)::bigint FROM mqtt.tweet_term_counts WHERE run_id = %s GROUP BY term",
        (run_id,),
    )
    shown = {term: n for term, n in checks.page_rows(tables, "term-totals")}
    assert shown and {t: n for t, n in shown.items() if n} == {t: n for t, n in totals if n}
    windows = checks.sql_rows(
        db_conn, "SELECT window_start, term, count FROM mqtt.tweet_term_counts WHERE run_id = %s", (run_id,)
    )
    page_windows = checks.page_rows(tables, "term-windows")
    assert sum(n for *_, n in page_windows.elements()) == sum(n for *_, n in windows.elements())
