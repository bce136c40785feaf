"""The Dataproc placement: the same jobs as PySpark jobs on a Dataproc cluster.

With ``MQTTIDS_EXECUTOR=dataproc`` every :func:`spark_steps.spark_job` becomes
a :class:`DataprocJob` running the same ``jobs/<job>.py`` with the same
arguments, from the code package of :mod:`code_package` in
``gs://<bucket>/<MQTTIDS_GCS_PREFIX>/<version>/``. :func:`add_cluster` then
wraps the DAG's Spark tasks in ``ship_code >> create_cluster >> … >>
delete_cluster``.

Where things are comes from Airflow at run time, so one DAG file serves any
project: the Variables ``mqttids_gcp_project``, ``mqttids_gcp_region``,
``mqttids_gcs_bucket``, ``mqttids_dataproc_service_account`` and optionally
``mqttids_db_secret``, and ``mqttids_mlflow_tracking_uri`` for the learning
and detection jobs (an MLflow server the cluster can reach); credentials from the ``google_cloud_default``
connection; an existing cluster from the ``dataproc_cluster`` param (empty:
an ephemeral cluster for the run). The cluster's shape (image, machine type,
workers, idle TTL, Cloud SQL proxy) is a deployment setting read at parse time
(``jobs/mqttids/runtime/config.py``), since it must be numbers, not templates.
"""

from __future__ import annotations

import tempfile
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any

from airflow.providers.google.cloud.hooks.gcs import GCSHook
from airflow.providers.google.cloud.operators.dataproc import (
    ClusterGenerator,
    DataprocCreateClusterOperator,
    DataprocDeleteClusterOperator,
    DataprocSubmitJobOperator,
)
from airflow.sdk import BaseOperator, Param, TriggerRule

from mqttids.runtime import config
from mqttids_airflow import code_package, connections, inputs

GCP_CONN_ID = "google_cloud_default"
PROJECT = "{{ var.value.mqttids_gcp_project }}"
REGION = "{{ var.value.mqttids_gcp_region }}"
BUCKET = "{{ var.value.mqttids_gcs_bucket }}"
SERVICE_ACCOUNT = "{{ var.value.mqttids_dataproc_service_account }}"
DB_SECRET = "{{ var.value.get('mqttids_db_secret', '') }}"
# The learning jobs log to MLflow and detection fetches the champions from it: a tracking server
# reachable from the cluster's network (the embedded one on the Airflow machine listens on
# loopback only). See docs/mlflow.md.
TRACKING_URI = "{{ var.value.get('mqttids_mlflow_tracking_uri', '') }}"
TRACKED_JOBS = ("train_spark", "train_tf", "train_xgb", "evaluate", "detect")
# The param's cluster, else one per DAG run: a stable name, so a retried task finds its cluster.
CLUSTER = (
    "{{ params.dataproc_cluster or 'mqttids-' ~ "
    "macros.uuid.uuid5(macros.uuid.NAMESPACE_URL, dag.dag_id ~ '/' ~ run_id).hex[:12] }}"
)
CLUSTER_PARAM = "dataproc_cluster"
JDBC_JAR_NAME = "postgresql.jar"
# What the jobs import beyond PySpark, at the versions tested here.
CLUSTER_PIP_PACKAGES = (
    "psycopg2-binary",
    "pyarrow",
    "google-cloud-secret-manager",
    "tensorflow",  # jobs/train_tf.py
    "xgboost-cpu",  # jobs/train_xgb.py
    "matplotlib",  # jobs/evaluate.py draws the confusion matrices
    "mlflow",  # the learning jobs log runs and register models
)
# The driver runs in YARN (cluster mode) so that spark.yarn.appMasterEnv reaches its environment.
SECRET_ENV = "spark.yarn.appMasterEnv.MQTTIDS_DB_SECRET"
URL_FILE_ENV = "spark.yarn.appMasterEnv.MQTTIDS_DB_URL_FILE"
URL_FILE_NAME = "mqttids-db-url"
TRACKING_ENV = "spark.yarn.appMasterEnv.MLFLOW_TRACKING_URI"
CODE_VERSION_ENV = "spark.yarn.appMasterEnv.MQTTIDS_CODE_VERSION"  # the zip has no files to hash
PROXY_PORT = 5432
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def package_uri(name: str, code_version: str) -> str:
    """gs:// URI of one file of the code package (templated bucket)."""
    return f"gs://{BUCKET}/{config.GCS_PREFIX.get().strip('/')}/{code_version}/{name}"


def job_dict(job: str, args: list[str], *, jdbc: bool, spark_conf: dict[str, str]) -> dict[str, Any]:
    """The Dataproc ``Job`` of ``jobs/<job>.py``: what spark-submit runs locally, from GCS."""
    code_version = code_package.code_version()
    pyspark_job: dict[str, Any] = {
        "main_python_file_uri": package_uri(f"{job}.py", code_version),
        "python_file_uris": [package_uri(code_package.LIBRARY_ZIP, code_version)],
        "args": list(args),
        "properties": {**spark_conf, "spark.submit.deployMode": "cluster", SECRET_ENV: DB_SECRET},
    }
    if job in TRACKED_JOBS:
        pyspark_job["properties"] |= {TRACKING_ENV: TRACKING_URI, CODE_VERSION_ENV: code_version}
    if jdbc:
        pyspark_job["jar_file_uris"] = [package_uri(JDBC_JAR_NAME, code_version)]
    return {
        "reference": {"project_id": PROJECT},
        "placement": {"cluster_name": CLUSTER},
        "labels": {"mqttids-job": job.replace("_", "-"), "mqttids-code": code_version},
        "pyspark_job": pyspark_job,
    }


class DataprocJob(DataprocSubmitJobOperator):
    """DataprocSubmitJobOperator that hands the job its database credentials safely.

    With the ``mqttids_db_secret`` Variable set, the job gets only the secret's
    name and reads the URL from Secret Manager itself. Without it, the URL of
    the ``mqttids_db`` connection is written, at execute time, to an object of
    its own in the code bucket (``<prefix>/credentials/<random>/``), which
    Dataproc copies into the driver's working directory (``file_uris``); the
    job's properties name only the file, so neither the Dataproc job page nor
    a failed job's description in the task log shows the URL. The object is
    deleted when the job ends (a deferrable or asynchronous submit cannot, so
    it stays: give the bucket a lifecycle rule on that folder). Every form of
    the password is registered with Airflow's secrets masker either way.
    """

    template_fields = (*DataprocSubmitJobOperator.template_fields, "bucket")

    def __init__(self, *, bucket: str = BUCKET, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bucket = bucket

    def execute(self, context: Any) -> Any:
        properties = dict(self.job["pyspark_job"]["properties"])
        if TRACKING_ENV in properties and not properties[TRACKING_ENV].startswith(("http://", "https://")):
            raise ValueError(
                "Variable mqttids_mlflow_tracking_uri is not an http(s):// URL: a learning or detection "
                "job on Dataproc must reach an MLflow tracking server on the cluster's network (the "
                "embedded one listens on this machine's loopback only). Set it, e.g. "
                "http://10.0.0.5:5000; see docs/mlflow.md"
            )
        if properties.get(SECRET_ENV):
            return super().execute(context)
        properties.pop(SECRET_ENV, None)
        hook = GCSHook(gcp_conn_id=self.gcp_conn_id)
        name = f"{config.GCS_PREFIX.get().strip('/')}/credentials/{uuid.uuid4().hex}/{URL_FILE_NAME}"
        self.log.warning(
            "Variable mqttids_db_secret is not set: the job reads the mqttids_db connection's URL from "
            "gs://%s/%s while it runs. Store it in Secret Manager and set mqttids_db_secret to keep it "
            "out of the bucket too.",
            self.bucket,
            name,
        )
        hook.upload(bucket_name=self.bucket, object_name=name, data=connections.warehouse_url())
        properties[URL_FILE_ENV] = URL_FILE_NAME
        pyspark_job = {
            **self.job["pyspark_job"],
            "properties": properties,
            "file_uris": [*self.job["pyspark_job"].get("file_uris", []), f"gs://{self.bucket}/{name}"],
        }
        # A new dict: the rendered job Airflow already recorded stays as it was.
        self.job = {**self.job, "pyspark_job": pyspark_job}
        try:
            return super().execute(context)
        finally:
            if not (self.deferrable or self.asynchronous):
                hook.delete(bucket_name=self.bucket, object_name=name)


def cluster_config() -> dict[str, Any]:
    """The ephemeral cluster, from the deployment settings, generated by the provider."""
    machine_type = config.DATAPROC_MACHINE_TYPE.get()
    prefix = config.GCS_PREFIX.get().strip("/")
    pip = ",".join(f"{name}=={version(name)}" for name in CLUSTER_PIP_PACKAGES)
    instance = config.CLOUDSQL_INSTANCE.get()
    # tshark on every node: ingest converts captures in its tasks (shipped with the code package).
    init = [package_uri(code_package.TSHARK_INIT_NAME, code_package.code_version())]
    proxy = (
        {
            "metadata": {
                "additional-cloud-sql-instances": f"{instance}=tcp:{PROXY_PORT}",
                "enable-cloud-sql-hive-metastore": "false",
            },
        }
        if instance
        else {}
    )
    if instance:
        init.append(f"gs://{BUCKET}/{prefix}/init/cloud-sql-proxy.sh")
    return ClusterGenerator(
        project_id=PROJECT,
        num_workers=int(config.DATAPROC_WORKERS.get()),
        master_machine_type=machine_type,
        worker_machine_type=machine_type,
        image_version=config.DATAPROC_IMAGE.get(),
        service_account=SERVICE_ACCOUNT,
        # Access is then governed by the service account's IAM roles alone (Secret Manager, Cloud SQL).
        service_account_scopes=[CLOUD_PLATFORM_SCOPE],
        idle_delete_ttl=int(config.DATAPROC_IDLE_TTL.get()),
        properties={"dataproc:pip.packages": pip},
        init_actions_uris=init,
        **proxy,
    ).make()


def _existing_cluster(context: Any) -> str:
    return context["params"].get(CLUSTER_PARAM) or ""


class CreateCluster(DataprocCreateClusterOperator):
    """Create the run's cluster; do nothing when the run names an existing one."""

    def execute(self, context: Any) -> Any:
        if _existing_cluster(context):
            self.log.info("using the existing cluster %s: not creating one", _existing_cluster(context))
            return None
        return super().execute(context)


class DeleteCluster(DataprocDeleteClusterOperator):
    """Delete the run's cluster, whatever happened; never a cluster the run did not create."""

    def execute(self, context: Any) -> None:
        if _existing_cluster(context):
            self.log.info("keeping the existing cluster %s", _existing_cluster(context))
            return
        super().execute(context)


class ShipCode(BaseOperator):
    """Upload the code package and the JDBC driver to ``gs://<bucket>/<prefix>/<version>/``.

    The package is rebuilt from this worker's ``jobs/`` and must have the
    version the DAG was parsed with: otherwise the jobs would run code other
    than the one their URIs name, and the task fails instead.
    """

    template_fields = ("bucket",)

    def __init__(self, *, bucket: str, code_version: str, gcp_conn_id: str = GCP_CONN_ID, **kwargs):
        super().__init__(**kwargs)
        self.bucket = bucket
        self.code_version = code_version
        self.gcp_conn_id = gcp_conn_id

    def execute(self, context: Any) -> str:
        from mqttids.runtime.spark import jdbc_jar

        jar = jdbc_jar()
        if jar is None:
            raise FileNotFoundError(
                "no PostgreSQL JDBC jar to ship: set POSTGRES_JDBC_JAR or install libpostgresql-jdbc-java"
            )
        prefix = f"{config.GCS_PREFIX.get().strip('/')}/{self.code_version}"
        hook = GCSHook(gcp_conn_id=self.gcp_conn_id)
        with tempfile.TemporaryDirectory() as tmp:
            package = code_package.build(Path(tmp))
            if package.version != self.code_version:
                raise RuntimeError(
                    f"jobs/ here is version {package.version}, the DAG was parsed with "
                    f"{self.code_version}: deploy the same code to every Airflow component"
                )
            for name, path in {**package.files, JDBC_JAR_NAME: Path(jar)}.items():
                hook.upload(bucket_name=self.bucket, object_name=f"{prefix}/{name}", filename=str(path))
        uri = f"gs://{self.bucket}/{prefix}/"
        self.log.info("code version %s shipped to %s", self.code_version, uri)
        return uri


def placement_params() -> dict[str, Param]:
    """The DAG params of this placement: which existing cluster to use, if any."""
    return {
        CLUSTER_PARAM: inputs.optional_text(
            "Run on this existing Dataproc cluster, e.g. mqttids-shared. Empty: an ephemeral "
            "cluster is created for the run and deleted after it.",
            pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$",
            maxLength=51,
        )
    }


def add_cluster(dag) -> None:
    """Wrap every Dataproc job of ``dag`` in ship_code >> create_cluster and >> delete_cluster.

    delete_cluster runs whatever the jobs' outcome (ALL_DONE), so a failed run
    never leaves a billed cluster; it is a teardown, so its own success does
    not turn a failed run green.
    """
    jobs = [t for t in dag.tasks if isinstance(t, DataprocJob)]
    if not jobs:
        return
    common = {"project_id": PROJECT, "region": REGION, "cluster_name": CLUSTER, "gcp_conn_id": GCP_CONN_ID}
    ship = ShipCode(task_id="ship_code", bucket=BUCKET, code_version=code_package.code_version(), dag=dag)
    create = CreateCluster(task_id="create_cluster", cluster_config=cluster_config(), dag=dag, **common)
    delete = DeleteCluster(task_id="delete_cluster", dag=dag, **common).as_teardown()
    delete.trigger_rule = TriggerRule.ALL_DONE
    ship >> create >> jobs
    jobs >> delete
