"""Turning a job of ``jobs/`` into an Airflow task: the execution seam.

DAG files call :func:`spark_job` with a job name and its arguments and never
say where Spark runs. Today every step is a ``spark-submit`` through the
Spark provider's SparkSubmitOperator against the ``spark_default``
connection (``local[*]`` by default). The ``executor`` DAG param names the
placement; a Dataproc placement (DataprocSubmitJobOperator with the same job
file and arguments) plugs in here, so no DAG or job is written twice.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from mqttids_airflow import connections

PROJECT_ROOT = Path(__file__).resolve().parents[2]
JOBS_DIR = PROJECT_ROOT / "jobs"
EXECUTORS = ("local",)


class MqttSparkSubmitOperator(SparkSubmitOperator):
    """SparkSubmitOperator that hands the job its database URL at run time.

    The URL (with its password) comes from the ``mqttids_db`` connection when
    the task runs and travels in the job's environment: it never appears in
    the DAG file, the spark-submit command line or the rendered templates.
    """

    def execute(self, context: Any) -> None:
        # The executor param is validated against EXECUTORS by the DAG's Param.
        self.env_vars = {
            **(self.env_vars or {}),
            "MQTTIDS_DB_URL": connections.warehouse_url(),
            # Python workers must use the interpreter that has the project installed.
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
        }
        super().execute(context)


def _jdbc_options() -> dict[str, str]:
    """jars/packages for the JDBC driver, found the same way the jobs find it."""
    from mqttids.spark import jdbc_jar

    jar = jdbc_jar()
    if jar:
        return {"jars": jar, "driver_class_path": jar}
    from mqttids import config

    return {"packages": config.JDBC_PACKAGE.get()}


def spark_job(
    task_id: str, job: str, args: list[str], *, jdbc: bool = False, **kwargs: Any
) -> SparkSubmitOperator:
    """The task that runs ``jobs/<job>.py`` with ``args`` (templated).

    ``jdbc`` puts the PostgreSQL JDBC driver on the classpath, for jobs that
    read through Spark's JDBC source (ingest writes with COPY and needs none).
    """
    application = JOBS_DIR / f"{job}.py"
    if jdbc:
        kwargs = {**_jdbc_options(), **kwargs}
    return MqttSparkSubmitOperator(
        task_id=task_id,
        application=str(application),
        application_args=args,
        name=f"mqttids-{job}",
        conn_id=connections.SPARK_CONN_ID,
        conf={"spark.sql.session.timeZone": "UTC", "spark.ui.showConsoleProgress": "false"},
        **kwargs,
    )
