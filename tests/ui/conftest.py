"""One Airflow (API server, scheduler, DAG processor) and one logged-in Chromium for all browser tests.

Airflow runs this project's DAGs and plugins on the session's test warehouse, with a landing
batch for today (the trigger form's default logical date is now) and the session's Kafka
broker. On a failed test the page is saved as a PNG under the pytest tmp dir, path printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from ui import airflow_server, browser

DAG_IDS = ("mqtt_pipeline", "mqtt_tweet_stream")
LANDING_ROWS = 2000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.stash.setdefault(FAILED, False)
    if report.failed:
        item.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def landing(tmp_path_factory, generate):
    """Today's landing batch, small: what a run triggered at the form's defaults loads."""
    root = tmp_path_factory.mktemp("landing")
    today = datetime.now(UTC).date().isoformat()
    generate("--landing", str(root), "--rows", str(LANDING_ROWS), "--start-date", today, "--seed", "3")
    return root


@pytest.fixture(scope="session")
def airflow(
    tmp_path_factory, db_url, landing, kafka_bootstrap, spark_submit_env
) -> Iterator[airflow_server.Airflow]:
    if not browser.available():
        pytest.fail(f"{browser.CHROMIUM} not found: run `make system-deps` (scripts/system-deps-browser.sh)")
    home = tmp_path_factory.mktemp("airflow-ui")
    extra = {
        **spark_submit_env,
        "MQTTIDS_LANDING_URI": str(landing),
        "MQTTIDS_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "MQTTIDS_ARTIFACTS_URI": str(tmp_path_factory.mktemp("artifacts")),
        "MQTTIDS_SPARK_MASTER": "local[2]",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "MQTTIDS_REPLAY_RATE": "0",
        "MQTTIDS_STREAM_GRACE": "20",
    }
    server = airflow_server.configure(home, db_url, extra)
    server.start()
    try:
        server.wait_ready(DAG_IDS)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def context(airflow) -> Iterator:
    """A Chromium profile logged in through the simple auth manager's form."""
    with browser.browser(viewport={"width": 1400, "height": 1000}) as ctx:
        ctx.set_default_timeout(30_000)
        page = ctx.new_page()
        page.goto(airflow.url + "/")
        page.fill("input[name=username]", airflow_server.USER)
        page.fill("input[name=password]", airflow.password)
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: "/auth/login" not in url)
        page.close()
        yield ctx


@pytest.fixture()
def page(context, request, tmp_path_factory):
    page = context.new_page()
    yield page
    if request.node.stash.get(FAILED, False):
        shots = tmp_path_factory.getbasetemp() / "screenshots"
        shots.mkdir(exist_ok=True)
        path = shots / f"{request.node.name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"\nscreenshot of the failed test: {path}")
    page.close()
