"""The "Report" tab of a DAG run in the Airflow UI: an AirflowPlugin with a small FastAPI app.

The app serves the page :mod:`mqttids.report.pages` builds, for the run the tab was opened on:
``GET /mqttids/report/{dag_id}/{run_id}``. Access goes through Airflow's own access control
(``requires_access_dag``: the user must be allowed to read that DAG), because plugin endpoints
are public otherwise. The warehouse is the ``mqttids_db`` connection, as for the tasks.

The run's batch is its logical date (what the tasks' ``{{ ds }}`` was), read from the metadata
database; :func:`run_links` adds links to the run's models in MLflow.
"""

from __future__ import annotations

from datetime import date

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse

PREFIX = "/mqttids"
ROUTE = "/report/{dag_id}/{run_id}"
PIPELINE_DAG = "mqtt_pipeline"
STREAM_DAG = "mqtt_tweet_stream"


def run_batch_date(dag_id: str, run_id: str) -> date | None:
    """The logical date of a DAG run (its ``ds``); None for a run without one."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if run is None:
        raise HTTPException(404, f"no run {run_id!r} of DAG {dag_id!r}")
    return run.logical_date.date() if run.logical_date else None


def run_links(dag_id: str, run_id: str) -> dict[str, str]:
    """Links from the page to the run's models in MLflow (model name -> run page); none if it is down."""
    from mqttids.learning import tracking

    return dict(tracking.mlflow_run_urls(dag_id, run_id))


def report_page(dag_id: str, run_id: str) -> str:
    """The report of one run, built by the library from the warehouse."""
    from mqttids.report import pages
    from mqttids.runtime import db
    from mqttids_airflow import connections

    if dag_id not in (PIPELINE_DAG, STREAM_DAG):
        raise HTTPException(404, f"no report for DAG {dag_id!r}")
    batch_date = run_batch_date(dag_id, run_id) if dag_id == PIPELINE_DAG else None
    conn = db.connect(connections.warehouse_url(), application="mqttids-report")
    try:
        if dag_id == STREAM_DAG:
            return pages.stream_report(conn, run_id)
        return pages.pipeline_report(conn, run_id, batch_date, links=run_links(dag_id, run_id))
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    finally:
        conn.close()


def create_app() -> FastAPI:
    from airflow.api_fastapi.core_api.security import requires_access_dag

    app = FastAPI(title="mqttids run reports")

    @app.get(ROUTE, response_class=HTMLResponse, dependencies=[Depends(requires_access_dag(method="GET"))])
    def report(dag_id: str, run_id: str) -> HTMLResponse:
        """The run's report page (HTML, self-contained)."""
        return HTMLResponse(report_page(dag_id, run_id))

    return app


class MqttidsReportPlugin(AirflowPlugin):
    name = "mqttids_report"
    fastapi_apps = [{"app": create_app(), "url_prefix": PREFIX, "name": "mqttids run reports"}]
    external_views = [
        {
            "name": "Report",
            "href": PREFIX + ROUTE.replace("{dag_id}", "{DAG_ID}").replace("{run_id}", "{RUN_ID}"),
            "destination": "dag_run",
            "url_route": "mqttids_report",
        }
    ]
