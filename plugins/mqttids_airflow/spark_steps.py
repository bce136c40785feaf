"""Turning a job of ``jobs/`` into an Airflow task: the execution seam.

DAG files call :func:`spark_job` with a job name and its arguments and never
say where Spark runs. The placement is one deployment setting,
``MQTTIDS_EXECUTOR``, read when the DAG file is parsed:

- ``local``: a ``spark-submit`` through the Spark provider's
  SparkSubmitOperator against the ``spark_default`` connection.
- ``dataproc``: a DataprocSubmitJobOperator PySpark job running the same job
  file with the same arguments from the shipped code package
  (:mod:`mqttids_airflow.dataproc`); :func:`add_cluster` adds the tasks that
  ship the code and create and delete the cluster.

It is a parse-time setting, not a DAG param, because Dataproc mode changes
the DAG's shape. No DAG or job is written twice.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import BaseOperator, Param

from mqttids.runtime import config
from mqttids_airflow import connections

PROJECT_ROOT = Path(__file__).resolve().parents[2]
JOBS_DIR = PROJECT_ROOT / "jobs"
EXECUTORS = ("local", "dataproc")
# Spark settings every job gets, in either placement.
SPARK_CONF = {"spark.sql.session.timeZone": "UTC", "spark.ui.showConsoleProgress": "false"}
URL_FILE_NAME = "mqttids-db-url"
K8S_SECRET_CONF = "spark.kubernetes.driver.secretKeyRef.MQTTIDS_DB_URL"


def executor() -> str:
    """The configured placement, checked: a typo must not silently run jobs locally."""
    value = config.EXECUTOR.get()
    if value not in EXECUTORS:
        raise ValueError(f"MQTTIDS_EXECUTOR={value!r}: expected one of {', '.join(EXECUTORS)}")
    return value


class MqttSparkSubmitOperator(SparkSubmitOperator):
    """SparkSubmitOperator that hands the job its database URL at run time, on no command line.

    The URL (with its password) comes from the ``mqttids_db`` connection when
    the task runs and is written to a file only the worker's user can read
    (0600, in a private temporary folder removed when the job ends); the job
    gets the file's name in ``MQTTIDS_DB_URL_FILE``. The provider turns
    ``env_vars`` into ``--conf spark.yarn.appMasterEnv.*`` or
    ``spark.kubernetes.driverEnv.*`` options with a YARN or Kubernetes master,
    where ``ps`` and the Spark UI show them, so the URL itself is never one:

    - local or standalone master, or client deploy mode: the file's path;
    - YARN or Kubernetes in cluster deploy mode: the file travels with
      ``--files`` and the driver reads it from its working directory;
    - Kubernetes with ``MQTTIDS_K8S_DB_SECRET`` (``name:key``): the driver gets
      ``MQTTIDS_DB_URL`` from that Kubernetes Secret, and no file is made.
    """

    def execute(self, context: Any) -> None:
        url = connections.warehouse_url()  # registers the URL's forms with the secrets masker
        hook = self._get_hook()
        cluster_mode = (hook._is_yarn or hook._is_kubernetes) and hook._connection["deploy_mode"] == "cluster"
        env = {
            # Python workers must use the interpreter that has the project installed.
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
        }
        with tempfile.TemporaryDirectory(prefix="mqttids-db-") as private:  # mode 0700
            if hook._is_kubernetes and config.K8S_DB_SECRET.get():
                self.conf = {**(self.conf or {}), K8S_SECRET_CONF: config.K8S_DB_SECRET.get()}
            else:
                url_file = connections.write_private(Path(private) / URL_FILE_NAME, url)
                if cluster_mode:
                    self.files = ",".join(f for f in (self.files, str(url_file)) if f)
                env["MQTTIDS_DB_URL_FILE"] = URL_FILE_NAME if cluster_mode else str(url_file)
            self.env_vars = {**(self.env_vars or {}), **env}
            self._hook = None  # rebuilt by execute with these settings
            super().execute(context)


def _jdbc_options() -> dict[str, str]:
    """jars/packages for the JDBC driver, found the same way the jobs find it."""
    from mqttids.runtime.spark import jdbc_jar

    jar = jdbc_jar()
    if jar:
        return {"jars": jar, "driver_class_path": jar}
    from mqttids.runtime import config

    return {"packages": config.JDBC_PACKAGE.get()}


def spark_job(task_id: str, job: str, args: list[str], *, jdbc: bool = False, **kwargs: Any) -> BaseOperator:
    """The task that runs ``jobs/<job>.py`` with ``args`` (templated), where MQTTIDS_EXECUTOR says.

    ``jdbc`` puts the PostgreSQL JDBC driver on the classpath, for jobs that
    read through Spark's JDBC source (ingest writes with COPY and needs none).
    """
    if executor() == "dataproc":
        from mqttids_airflow import dataproc

        return dataproc.DataprocJob(
            task_id=task_id,
            job=dataproc.job_dict(job, args, jdbc=jdbc, spark_conf=SPARK_CONF),
            project_id=dataproc.PROJECT,
            region=dataproc.REGION,
            gcp_conn_id=dataproc.GCP_CONN_ID,
            **kwargs,
        )
    application = JOBS_DIR / f"{job}.py"
    if jdbc:
        kwargs = {**_jdbc_options(), **kwargs}
    return MqttSparkSubmitOperator(
        task_id=task_id,
        application=str(application),
        application_args=args,
        name=f"mqttids-{job}",
        conn_id=connections.SPARK_CONN_ID,
        conf=dict(SPARK_CONF),
        driver_memory=config.SPARK_DRIVER_MEMORY.get(),
        **kwargs,
    )


def placement_params() -> dict[str, Param]:
    """DAG params the placement adds (Dataproc: an optional existing cluster; local: none)."""
    if executor() == "dataproc":
        from mqttids_airflow import dataproc

        return dataproc.placement_params()
    return {}


def add_cluster(dag) -> None:
    """Dataproc: ship the code and create the cluster before the DAG's Spark jobs, delete it after.

    Call it once, at the end of the DAG's ``with`` block: it finds every task
    :func:`spark_job` made, so new jobs are covered without a change here.
    Local: nothing to add.
    """
    if executor() == "dataproc":
        from mqttids_airflow import dataproc

        dataproc.add_cluster(dag)
