"""mqtt_pipeline in Dataproc mode, as far as it can be checked without GCP.

The DAG is parsed with ``MQTTIDS_EXECUTOR=dataproc`` and its tasks are
compared with the exact job dicts and cluster config; the templates are
rendered with Airflow's own Jinja environment and Variable accessor, and
the results are loaded into the Dataproc API's own protobuf messages, which
reject unknown fields and wrong types. Jobs are then submitted, and the
cluster created and deleted, through the real operators, hook and clients to
local gRPC stand-ins for Dataproc's JobController and ClusterController (only
the endpoint is replaced), so the requests on the wire are what is checked.
Not checked here: that GCP accepts them (docs/gcp.md, "What the tests verify, and what they do not").
"""

from __future__ import annotations

import copy
import json
import re
import socket
import subprocess
from concurrent import futures
from importlib.metadata import version
from pathlib import Path
from urllib.parse import quote, quote_plus

import grpc
import pytest
from airflow.exceptions import AirflowException
from airflow.models import DagBag
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.google.cloud.hooks.dataproc import DataprocHook
from airflow.providers.google.cloud.operators.dataproc import (
    DataprocDeleteClusterOperator,
    DataprocSubmitJobOperator,
)
from airflow.sdk import TriggerRule
from airflow.sdk.execution_time import macros
from airflow.sdk.execution_time.context import VariableAccessor
from google.cloud import dataproc_v1
from google.cloud.dataproc_v1 import (
    Cluster,
    ClusterControllerClient,
    ClusterStatus,
    CreateClusterRequest,
    DeleteClusterRequest,
    GetClusterRequest,
    GetJobRequest,
    Job,
    JobControllerClient,
    JobStatus,
    SubmitJobRequest,
)
from google.cloud.dataproc_v1.services.cluster_controller.transports import ClusterControllerGrpcTransport
from google.cloud.dataproc_v1.services.job_controller.transports import JobControllerGrpcTransport
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, empty_pb2

from mqttids.runtime import config
from mqttids_airflow import code_package, dataproc

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
# The pipeline's Spark jobs: each one a Dataproc job in this placement.
SPARK_JOBS = ("ingest", "analytics", "features", "train_lr", "train_rf", "train_tf", "train_xgb", "evaluate")

VARIABLES = {
    "MQTTIDS_GCP_PROJECT": "mqttids-demo",
    "MQTTIDS_GCP_REGION": "us-east5",
    "MQTTIDS_GCS_BUCKET": "mqttids-demo-code",
    "MQTTIDS_DATAPROC_SERVICE_ACCOUNT": "dataproc-jobs@mqttids-demo.iam.gserviceaccount.com",
}
# The seed's cluster, the example in docs/gcp.md: 1 master + 2 workers, n2d-standard-2.
SEED_SHAPE = {"MQTTIDS_DATAPROC_MACHINE_TYPE": "n2d-standard-2", "MQTTIDS_DATAPROC_WORKERS": "2"}
RUN_ID = "scheduled__2026-11-28T00:00:00+00:00"
# Every node installs tshark before any job (captures are converted in ingest's tasks).
TSHARK_INIT = {
    "executable_file": "gs://{{ var.value.mqttids_gcs_bucket }}/mqttids/"
    f"{code_package.code_version()}/install-tshark.sh",
    "execution_timeout": {"seconds": 600},
}


LEVELS = ["--levels", "{{ level_list(params) }}"]


def _load(monkeypatch, dag_id: str = "mqtt_pipeline", **env: str):
    monkeypatch.setenv("MQTTIDS_EXECUTOR", "dataproc")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    bag = DagBag(dag_folder=str(DAGS_DIR / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


@pytest.fixture()
def dag(monkeypatch):
    for key, value in VARIABLES.items():
        monkeypatch.setenv(f"AIRFLOW_VAR_{key}", value)
    return _load(monkeypatch, **SEED_SHAPE)


def _context(dag, task, run_id: str = RUN_ID, **params) -> dict:
    """What Airflow hands a task's templates in a run of ``run_id`` on 2026-11-28."""
    return {
        "dag": dag,
        "params": {**{k: dag.params[k] for k in dag.params}, **params},
        "run_id": run_id,
        "ds": "2026-11-28",
        "macros": macros,
        "var": {"value": VariableAccessor(deserialize_json=False)},
        "task": task,
    }


def _render(dag, task_id: str, run_id: str = RUN_ID, **params):
    """A copy of the task with its templates rendered, as the task runner does."""
    task = copy.deepcopy(dag.get_task(task_id))
    task.render_template_fields(_context(dag, task, run_id, **params))
    return task


def _expected_job(job: str, args: list[str], *, jdbc: bool) -> dict:
    v = code_package.code_version()
    base = f"gs://{{{{ var.value.mqttids_gcs_bucket }}}}/mqttids/{v}"
    pyspark_job = {
        "main_python_file_uri": f"{base}/{job}.py",
        "python_file_uris": [f"{base}/mqttids.zip"],
        "args": args,
        "properties": {
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.showConsoleProgress": "false",
            "spark.submit.deployMode": "cluster",
            "spark.yarn.appMasterEnv.MQTTIDS_DB_SECRET": "{{ var.value.get('mqttids_db_secret', '') }}",
        },
    }
    if job in ("train_spark", "train_tf", "train_xgb", "evaluate"):
        tracking = "{{ var.value.get('mqttids_mlflow_tracking_uri', '') }}"
        pyspark_job["properties"]["spark.yarn.appMasterEnv.MLFLOW_TRACKING_URI"] = tracking
        pyspark_job["properties"]["spark.yarn.appMasterEnv.MQTTIDS_CODE_VERSION"] = v
    if jdbc:
        pyspark_job["jar_file_uris"] = [f"{base}/postgresql.jar"]
    return {
        "reference": {"project_id": "{{ var.value.mqttids_gcp_project }}"},
        "placement": {"cluster_name": dataproc.CLUSTER},
        "labels": {"mqttids-job": job.replace("_", "-"), "mqttids-code": v},
        "pyspark_job": pyspark_job,
    }


def test_every_spark_step_is_the_same_job_as_a_dataproc_job(dag):
    assert dag.get_task("ingest").job == _expected_job(
        "ingest",
        [
            "--train",
            "{{ source_uri(params, ds, 'train') }}",
            "--test",
            "{{ source_uri(params, ds, 'test') }}",
            "--batch-date",
            "{{ ds }}",
            "--labels={{ params.labels or '' }}",
            "--mqtt-ports={{ params.mqtt_ports or '' }}",
            "--split-by={{ params.split_by or '' }}",
        ],
        jdbc=False,
    )
    assert dag.get_task("analytics").job == _expected_job(
        "analytics",
        ["--run-id", "{{ run_id }}", "--top-x", "{{ params.top_x }}", "--batch-date", "{{ ds }}"],
        jdbc=True,
    )
    run = ["--run-id", "{{ run_id }}", "--artifacts", config.ARTIFACTS_URI.get()]
    assert dag.get_task("features").job == _expected_job(
        "features",
        [*run, "--from-date", "{{ first_batch(ds, params) }}", "--to-date", "{{ ds }}", *LEVELS],
        jdbc=True,
    )
    tracked = [*run, "--dag-id", "{{ dag.dag_id }}", *LEVELS]
    assert dag.get_task("train_rf").job == _expected_job(
        "train_spark", [*tracked, "--model", "rf", "--grid", "{{ params.grid }}"], jdbc=False
    )
    assert dag.get_task("train_tf").job == _expected_job(
        "train_tf",
        [*tracked, "--models", "{{ keras_models(params) }}", "--grid", "{{ params.grid }}"],
        jdbc=False,
    )
    assert dag.get_task("train_xgb").job == _expected_job(
        "train_xgb", [*tracked, "--grid", "{{ params.grid }}"], jdbc=False
    )
    assert dag.get_task("evaluate").job == _expected_job(
        "evaluate", [*tracked, "--models", "{{ model_list(params) }}"], jdbc=True
    )
    for task_id in SPARK_JOBS:
        task = dag.get_task(task_id)
        assert (task.project_id, task.region, task.gcp_conn_id) == (
            "{{ var.value.mqttids_gcp_project }}",
            "{{ var.value.mqttids_gcp_region }}",
            "google_cloud_default",
        )


def test_no_task_runs_local_spark(dag):
    kinds = {t.task_id: type(t) for t in dag.tasks}
    assert not [t for t, k in kinds.items() if issubclass(k, SparkSubmitOperator)]
    assert kinds["ingest"] is kinds["analytics"] is dataproc.DataprocJob
    assert issubclass(dataproc.DataprocJob, DataprocSubmitJobOperator)
    assert "ingest.py" not in str([getattr(t, "application", "") for t in dag.tasks])


def test_task_order_and_trigger_rules(dag):
    downstream = {t.task_id: t.downstream_task_ids for t in dag.tasks}
    spark_jobs = set(SPARK_JOBS)
    assert downstream == {
        "upgrade_warehouse": {"ingest"},  # from Airflow, while the cluster is being created
        "ship_code": {"create_cluster"},
        "create_cluster": spark_jobs,
        "ingest": {"quality_gate", "delete_cluster"},
        "quality_gate": {"analytics", "learning_requested"},
        "analytics": {"delete_cluster"},
        "learning_requested": {"features"},
        "features": {"choose_models", "delete_cluster"},
        "choose_models": {"train_lr", "train_rf", "train_tf", "train_xgb"},
        "train_lr": {"evaluate", "delete_cluster"},
        "train_rf": {"evaluate", "delete_cluster"},
        "train_tf": {"evaluate", "delete_cluster"},
        "train_xgb": {"evaluate", "delete_cluster"},
        "evaluate": {"delete_cluster"},
        "delete_cluster": set(),
    }
    rules = {t.task_id: t.trigger_rule for t in dag.tasks}
    assert rules.pop("delete_cluster") == TriggerRule.ALL_DONE
    assert rules.pop("evaluate") == TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
    assert set(rules.values()) == {TriggerRule.ALL_SUCCESS}
    # A teardown: its success does not make a failed run green.
    assert dag.get_task("delete_cluster").is_teardown


def test_cluster_config_is_generated_from_the_settings(dag):
    pip = ",".join(
        f"{p}=={version(p)}"
        for p in (
            "psycopg2-binary",
            "pyarrow",
            "google-cloud-secret-manager",
            "tensorflow",
            "xgboost-cpu",
            "matplotlib",
            "mlflow",
        )
    )
    disk = {"boot_disk_type": "pd-standard", "boot_disk_size_gb": 1024}
    assert dag.get_task("create_cluster").cluster_config == {
        "gce_cluster_config": {
            "service_account": "{{ var.value.mqttids_dataproc_service_account }}",
            "service_account_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
        },
        "master_config": {"num_instances": 1, "machine_type_uri": "n2d-standard-2", "disk_config": disk},
        "worker_config": {"num_instances": 2, "machine_type_uri": "n2d-standard-2", "disk_config": disk},
        "secondary_worker_config": {},
        "software_config": {"image_version": "3.0-debian12", "properties": {"dataproc:pip.packages": pip}},
        "lifecycle_config": {"idle_delete_ttl": {"seconds": 1800}},
        "initialization_actions": [TSHARK_INIT],
        "encryption_config": {},
        "autoscaling_config": {},
        "endpoint_config": {},
    }


def test_cloud_sql_proxy_route_adds_the_init_action(monkeypatch):
    config = (
        _load(monkeypatch, MQTTIDS_CLOUDSQL_INSTANCE="p:us-east5:warehouse")
        .get_task("create_cluster")
        .cluster_config
    )
    assert config["initialization_actions"] == [
        TSHARK_INIT,
        {
            "executable_file": "gs://{{ var.value.mqttids_gcs_bucket }}/mqttids/init/cloud-sql-proxy.sh",
            "execution_timeout": {"seconds": 600},
        },
    ]
    assert config["gce_cluster_config"]["metadata"] == {
        "additional-cloud-sql-instances": "p:us-east5:warehouse=tcp:5432",
        "enable-cloud-sql-hive-metastore": "false",
    }


def test_rendered_job_and_cluster_are_valid_dataproc_messages(dag):
    ingest = _render(dag, "ingest")
    job = dataproc_v1.Job(ingest.job)  # raises on unknown fields or wrong types
    v = code_package.code_version()
    assert job.reference.project_id == "mqttids-demo"
    assert re.fullmatch(r"mqttids-[0-9a-f]{12}", job.placement.cluster_name)
    assert job.pyspark_job.main_python_file_uri == f"gs://mqttids-demo-code/mqttids/{v}/ingest.py"
    args = list(job.pyspark_job.args)
    assert args[args.index("--batch-date") + 1] == "2026-11-28"
    assert job.pyspark_job.args[1].endswith("/2026-11-28/train*.csv")  # the landing batch of the run
    assert (ingest.project_id, ingest.region) == ("mqttids-demo", "us-east5")

    create = _render(dag, "create_cluster")
    cluster = dataproc_v1.ClusterConfig(create.cluster_config)
    assert cluster.gce_cluster_config.service_account == VARIABLES["MQTTIDS_DATAPROC_SERVICE_ACCOUNT"]
    assert create.cluster_name == job.placement.cluster_name
    assert _render(dag, "delete_cluster").cluster_name == job.placement.cluster_name


def test_each_run_gets_its_own_cluster_unless_one_is_named(dag):
    first = _render(dag, "ingest").job["placement"]["cluster_name"]
    assert _render(dag, "analytics").job["placement"]["cluster_name"] == first  # one cluster per run
    other_run = _render(dag, "ingest", run_id="manual__2026-11-28T10:00:00+00:00")
    assert other_run.job["placement"]["cluster_name"] not in (first, "")
    assert _render(dag, "ingest", dataproc_cluster="shared-etl").job["placement"] == {
        "cluster_name": "shared-etl"
    }


def test_an_existing_cluster_is_never_created_or_deleted(dag, monkeypatch):
    def must_not_run(self, context):
        raise AssertionError("the provider operator was called for an existing cluster")

    monkeypatch.setattr(DataprocDeleteClusterOperator, "execute", must_not_run)
    monkeypatch.setattr(dataproc.DataprocCreateClusterOperator, "execute", must_not_run)
    context = {"params": {"dataproc_cluster": "shared-etl"}}
    assert dag.get_task("delete_cluster").execute(context) is None
    assert dag.get_task("create_cluster").execute(context) is None
    with pytest.raises(AssertionError):
        dag.get_task("delete_cluster").execute({"params": {"dataproc_cluster": ""}})


class FakeJobController:
    """Dataproc's JobController over local gRPC: records each SubmitJob, reports the job DONE."""

    SERVICE = "google.cloud.dataproc.v1.JobController"

    def __init__(self):
        self.requests: list[SubmitJobRequest] = []
        self.final_state = JobStatus.State.DONE
        self.on_submit = lambda request: None  # what Dataproc does with the job as it starts it
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        handlers = {
            "SubmitJob": grpc.unary_unary_rpc_method_handler(
                self._submit, SubmitJobRequest.deserialize, Job.serialize
            ),
            "GetJob": grpc.unary_unary_rpc_method_handler(
                self._get, GetJobRequest.deserialize, Job.serialize
            ),
        }
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(self.SERVICE, handlers),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def _job(self) -> Job:
        job = Job(self.requests[-1].job)
        job.reference.job_id = "job-1"
        job.status.state = self.final_state
        return job

    def _submit(self, request, context):
        self.requests.append(request)
        self.on_submit(request)
        return self._job()

    def _get(self, request, context):
        return self._job()

    def client(self) -> JobControllerClient:
        channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        return JobControllerClient(transport=JobControllerGrpcTransport(channel=channel))


@pytest.fixture()
def job_api(monkeypatch):
    """The fake API, with the hook's client pointed at it (only the endpoint is replaced)."""
    api = FakeJobController()
    api.server.start()
    monkeypatch.setattr(DataprocHook, "get_job_client", lambda self, region=None: api.client())
    monkeypatch.setattr("airflow.providers.google.cloud.hooks.dataproc.time.sleep", lambda seconds: None)
    monkeypatch.setenv(
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
        json.dumps({"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True}}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_MQTTIDS_DB", "postgresql://etl:s3cret-pw@10.1.2.3:5432/mqttids")
    yield api
    api.server.stop(None)


class _TaskInstance:
    """Where the operator stores its job link (an XCom) when it runs outside a DAG run."""

    def xcom_push(self, key, value):
        self.pushed = (key, value)


def _submit(dag, job_api, monkeypatch, secret: str) -> tuple[dict, SubmitJobRequest]:
    """(the rendered job, as Airflow records it; the SubmitJobRequest the API received)."""
    if secret:
        monkeypatch.setenv("AIRFLOW_VAR_MQTTIDS_DB_SECRET", secret)
    task = _render(dag, "ingest")
    rendered = copy.deepcopy(task.job)
    assert task.execute({"ti": _TaskInstance()}) == "job-1"
    (request,) = job_api.requests
    return rendered, request


def test_the_job_reaches_the_dataproc_api_as_rendered(dag, job_api, monkeypatch):
    secret = "projects/mqttids-demo/secrets/mqttids-db-url/versions/latest"
    rendered, request = _submit(dag, job_api, monkeypatch, secret)
    assert (request.project_id, request.region) == ("mqttids-demo", "us-east5")
    assert request.job.placement.cluster_name == rendered["placement"]["cluster_name"]
    assert request.job.pyspark_job.main_python_file_uri == rendered["pyspark_job"]["main_python_file_uri"]
    assert list(request.job.pyspark_job.args) == rendered["pyspark_job"]["args"]
    # Secret Manager route: the job gets the secret's name, never the password.
    assert request.job.pyspark_job.properties[dataproc.SECRET_ENV] == secret
    assert dataproc.URL_FILE_ENV not in request.job.pyspark_job.properties
    assert not request.job.pyspark_job.file_uris
    assert "s3cret-pw" not in str(request)


@pytest.fixture()
def gcs(job_api):
    """A local GCS emulator holding the code bucket (the client finds it by STORAGE_EMULATOR_HOST)."""
    from gcp_storage_emulator import server as emulator  # pinned in requirements.txt: never skipped

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bucket = VARIABLES["MQTTIDS_GCS_BUCKET"]
    server = emulator.create_server("127.0.0.1", port, in_memory=True, default_bucket=bucket)
    server.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        hook = GCSHook()
        seen: dict[str, bytes] = {}

        def copy_files(request):  # Dataproc copies file_uris into the driver's working dir
            for uri in request.job.pyspark_job.file_uris:
                name = uri.removeprefix(f"gs://{bucket}/")
                seen[name] = hook.download(bucket, name)

        job_api.on_submit = copy_files
        yield hook, seen
    server.stop()


def test_without_a_secret_the_job_reads_the_url_from_a_private_object(dag, job_api, gcs, monkeypatch):
    hook, seen = gcs
    rendered, request = _submit(dag, job_api, monkeypatch, "")
    job = request.job.pyspark_job
    assert dataproc.SECRET_ENV not in job.properties
    assert job.properties[dataproc.URL_FILE_ENV] == dataproc.URL_FILE_NAME
    (uri,) = job.file_uris
    assert re.fullmatch(
        rf"gs://mqttids-demo-code/mqttids/credentials/[0-9a-f]{{32}}/{dataproc.URL_FILE_NAME}", uri
    )
    (url,) = seen.values()  # what the driver found in its working dir
    assert re.fullmatch(rb"postgresql(\+\w+)?://etl:s3cret-pw@10\.1\.2\.3:5432/mqttids", url)
    assert "s3cret-pw" not in str(request) and "10.1.2.3" not in str(request)  # nor on the job page
    assert hook.list(VARIABLES["MQTTIDS_GCS_BUCKET"], prefix="mqttids/credentials/") == []  # deleted after
    # Airflow's "Rendered Template" view shows the rendered job, which never has it.
    assert "s3cret-pw" not in str(rendered)


def test_learning_jobs_get_the_tracking_server_of_the_variable(dag, job_api, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_MQTTIDS_DB_SECRET", "projects/p/secrets/s/versions/1")
    monkeypatch.setenv("AIRFLOW_VAR_MQTTIDS_MLFLOW_TRACKING_URI", "http://10.1.2.9:5000")
    task = _render(dag, "train_rf")
    args = task.job["pyspark_job"]["args"]
    assert args[args.index("--dag-id") + 1] == "mqtt_pipeline"
    assert task.execute({"ti": _TaskInstance()}) == "job-1"
    (request,) = job_api.requests
    assert request.job.pyspark_job.properties[dataproc.TRACKING_ENV] == "http://10.1.2.9:5000"
    # Jobs that log nothing to MLflow get no tracking setting.
    assert dataproc.TRACKING_ENV not in _render(dag, "ingest").job["pyspark_job"]["properties"]


def test_a_learning_job_without_a_reachable_tracking_server_fails_before_submitting(
    dag, job_api, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_VAR_MQTTIDS_DB_SECRET", "projects/p/secrets/s/versions/1")
    with pytest.raises(ValueError, match="mqttids_mlflow_tracking_uri is not an http"):
        _render(dag, "evaluate").execute({"ti": _TaskInstance()})
    assert job_api.requests == []


def test_detection_scores_gs_captures_on_the_cluster_with_the_champions_tracking_server(job_api, monkeypatch):
    """mqtt_detect in dataproc mode: its job, with gs:// captures, reaches the API with the
    tracking server it fetches the champions from; the cluster wraps it as it wraps the pipeline."""
    for key, value in VARIABLES.items():
        monkeypatch.setenv(f"AIRFLOW_VAR_{key}", value)
    monkeypatch.setenv("AIRFLOW_VAR_MQTTIDS_DB_SECRET", "projects/p/secrets/s/versions/1")
    monkeypatch.setenv("AIRFLOW_VAR_MQTTIDS_MLFLOW_TRACKING_URI", "http://10.1.2.9:5000")
    dag = _load(monkeypatch, "mqtt_detect", **SEED_SHAPE)
    assert {t.task_id: t.downstream_task_ids for t in dag.tasks} == {
        "upgrade_warehouse": {"detect"},
        "ship_code": {"create_cluster"},
        "create_cluster": {"detect"},
        "detect": {"delete_cluster"},
        "delete_cluster": set(),
    }
    captures = "gs://mqttids-demo-landing/captures/*.pcap"
    task = _render(dag, "detect", captures=captures, mqtt_ports="1883,8883")
    job = dataproc_v1.Job(task.job)  # raises on unknown fields or wrong types
    assert job.pyspark_job.main_python_file_uri.endswith(f"/{code_package.code_version()}/detect.py")
    assert list(job.pyspark_job.args) == [
        "--captures",
        captures,
        "--run-id",
        RUN_ID,
        "--levels",
        "packet,packet_context,connection",
        "--only",
        "all",
        "--mqtt-ports=1883,8883",
    ]
    assert task.execute({"ti": _TaskInstance()}) == "job-1"
    (request,) = job_api.requests
    assert request.job.pyspark_job.properties[dataproc.TRACKING_ENV] == "http://10.1.2.9:5000"
    assert list(request.job.pyspark_job.args) == list(job.pyspark_job.args)


def test_a_failed_dataproc_job_fails_the_task(dag, job_api, monkeypatch):
    job_api.final_state = JobStatus.State.ERROR
    monkeypatch.setenv("AIRFLOW_VAR_MQTTIDS_DB_SECRET", "projects/p/secrets/s/versions/1")
    with pytest.raises(AirflowException, match="Job failed"):
        _render(dag, "analytics").execute({"ti": _TaskInstance()})


def test_a_failed_job_without_a_secret_shows_no_form_of_the_password_in_the_log(
    dag, job_api, gcs, monkeypatch
):
    from airflow.sdk._shared.secrets_masker import redact

    password = "d4taproc/pw:@y"  # one that must be percent-encoded in the URL
    encoded = quote(password, safe="")
    monkeypatch.setenv("AIRFLOW_CONN_MQTTIDS_DB", f"postgresql://etl:{encoded}@10.1.2.3:5432/mqttids")
    job_api.final_state = JobStatus.State.ERROR
    with pytest.raises(AirflowException, match="Job failed") as failed:
        _render(dag, "analytics").execute({"ti": _TaskInstance()})
    message = str(failed.value)
    assert dataproc.URL_FILE_ENV in message  # the provider logs the job with its properties
    for text in (message, redact(message)):  # as raised, and as Airflow's log handlers write it
        for form in (password, encoded, quote_plus(password), "d4taproc", "10.1.2.3"):
            assert form not in text
    assert gcs[0].list(VARIABLES["MQTTIDS_GCS_BUCKET"], prefix="mqttids/credentials/") == []
    # Should the URL be quoted anyway, every spelling of the password is masked.
    url = f"postgresql://etl:{encoded}@10.1.2.3:5432/mqttids"
    for form in (password, encoded, quote_plus(password)):
        assert form not in redact(f"{url} {password} {quote_plus(password)}")


class FakeClusterController:
    """Dataproc's ClusterController over local gRPC: clusters are created and deleted at once."""

    SERVICE = "google.cloud.dataproc.v1.ClusterController"

    def __init__(self):
        self.created: list[CreateClusterRequest] = []
        self.deleted: list[DeleteClusterRequest] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        handlers = {
            "CreateCluster": grpc.unary_unary_rpc_method_handler(
                self._create, CreateClusterRequest.deserialize, operations_pb2.Operation.SerializeToString
            ),
            "GetCluster": grpc.unary_unary_rpc_method_handler(
                self._get, GetClusterRequest.deserialize, Cluster.serialize
            ),
            "DeleteCluster": grpc.unary_unary_rpc_method_handler(
                self._delete, DeleteClusterRequest.deserialize, operations_pb2.Operation.SerializeToString
            ),
        }
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(self.SERVICE, handlers),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def _cluster(self) -> Cluster:
        cluster = Cluster(self.created[-1].cluster)
        cluster.status.state = ClusterStatus.State.RUNNING
        return cluster

    def _create(self, request, context):
        self.created.append(request)
        response = any_pb2.Any()
        response.Pack(Cluster.pb(self._cluster()))
        return operations_pb2.Operation(name="operations/create", done=True, response=response)

    def _get(self, request, context):
        return self._cluster()

    def _delete(self, request, context):
        self.deleted.append(request)
        response = any_pb2.Any()
        response.Pack(empty_pb2.Empty())
        return operations_pb2.Operation(name="operations/delete", done=True, response=response)

    def client(self) -> ClusterControllerClient:
        channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        return ClusterControllerClient(transport=ClusterControllerGrpcTransport(channel=channel))


@pytest.fixture()
def cluster_api(monkeypatch, job_api):
    api = FakeClusterController()
    api.server.start()
    monkeypatch.setattr(DataprocHook, "get_cluster_client", lambda self, region=None: api.client())
    yield api
    api.server.stop(None)


def test_the_cluster_is_created_and_deleted_through_the_dataproc_api(dag, cluster_api):
    create = _render(dag, "create_cluster")
    create.execute({"ti": _TaskInstance(), "params": {"dataproc_cluster": ""}})
    (request,) = cluster_api.created
    assert (request.project_id, request.region) == ("mqttids-demo", "us-east5")
    assert request.cluster.cluster_name == create.cluster_name
    assert re.fullmatch(r"mqttids-[0-9a-f]{12}", request.cluster.cluster_name)
    config = request.cluster.config
    assert config.worker_config.num_instances == 2
    assert config.worker_config.machine_type_uri == "n2d-standard-2"
    assert config.gce_cluster_config.service_account == VARIABLES["MQTTIDS_DATAPROC_SERVICE_ACCOUNT"]
    assert config.lifecycle_config.idle_delete_ttl.total_seconds() == 1800
    assert "psycopg2-binary==" in config.software_config.properties["dataproc:pip.packages"]
    (init,) = config.initialization_actions  # tshark on every node, from the shipped package
    assert (
        init.executable_file
        == f"gs://mqttids-demo-code/mqttids/{code_package.code_version()}/install-tshark.sh"
    )

    _render(dag, "delete_cluster").execute({"ti": _TaskInstance(), "params": {"dataproc_cluster": ""}})
    (deleted,) = cluster_api.deleted
    assert (deleted.project_id, deleted.region, deleted.cluster_name) == (
        "mqttids-demo",
        "us-east5",
        request.cluster.cluster_name,
    )


def test_jobs_read_the_url_from_the_named_secret(monkeypatch):
    from mqttids.runtime import db, gcp_secret

    class FakeSecretManager:  # GCP cannot be reached from here; the request shape is what matters
        def access_secret_version(self, request):
            self.request = request
            payload = type("Payload", (), {"data": b"postgresql://etl:pw@127.0.0.1:5432/mqttids\n"})
            return type("Response", (), {"payload": payload})

    fake = FakeSecretManager()
    name = "projects/p/secrets/mqttids-db-url/versions/latest"
    assert gcp_secret.read(name, client=fake) == "postgresql://etl:pw@127.0.0.1:5432/mqttids"
    assert fake.request == {"name": name}
    monkeypatch.delenv("MQTTIDS_DB_URL", raising=False)
    monkeypatch.setenv("MQTTIDS_DB_SECRET", name)
    monkeypatch.setattr(gcp_secret, "read", lambda secret: f"url-from:{secret}")
    assert db.resolve_url() == f"url-from:{name}"
    monkeypatch.setenv("MQTTIDS_DB_URL", "postgresql://direct@h/db")
    assert db.resolve_url() == "postgresql://direct@h/db"


def test_the_tshark_init_action_is_shipped_and_installs_without_questions(tmp_path):
    package = code_package.build(tmp_path)
    script = package.files["install-tshark.sh"]
    assert script.read_bytes() == code_package.TSHARK_INIT.read_bytes()
    text = script.read_text()
    assert "apt-get install -y" in text and "tshark" in text
    assert "DEBIAN_FRONTEND=noninteractive" in text and "install-setuid boolean false" in text
    subprocess.run(["sh", "-n", str(script)], check=True)  # parses as POSIX sh
    # On a node that has tshark already (this machine), it says which and changes nothing.
    done = subprocess.run(["sh", str(script)], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("TShark (Wireshark)")


def test_ingest_gets_the_capture_params_on_dataproc_too(dag):
    ingest = _render(dag, "ingest")
    assert list(ingest.job["pyspark_job"]["args"])[-3:] == ["--labels=", "--mqtt-ports=", "--split-by="]


def test_local_mode_has_no_cluster_tasks_and_no_cluster_param(monkeypatch):
    monkeypatch.setenv("MQTTIDS_EXECUTOR", "local")
    local = DagBag(dag_folder=str(DAGS_DIR / "mqtt_pipeline.py")).dags["mqtt_pipeline"]
    assert {t.task_id for t in local.tasks} == {
        "upgrade_warehouse",
        "ingest",
        "quality_gate",
        "analytics",
        "learning_requested",
        "features",
        "choose_models",
        "train_lr",
        "train_rf",
        "train_tf",
        "train_xgb",
        "evaluate",
    }
    assert all(not isinstance(t, DataprocSubmitJobOperator) for t in local.tasks)
    assert "dataproc_cluster" not in local.params
    ingest = local.get_task("ingest")
    assert isinstance(ingest, SparkSubmitOperator)
    assert ingest.application == str(code_package.JOBS_DIR / "ingest.py")
    assert ingest.conf == {"spark.sql.session.timeZone": "UTC", "spark.ui.showConsoleProgress": "false"}


def test_an_unknown_executor_fails_the_dag_import(monkeypatch):
    monkeypatch.setenv("MQTTIDS_EXECUTOR", "yarn")
    errors = DagBag(dag_folder=str(DAGS_DIR / "mqtt_pipeline.py")).import_errors
    (message,) = errors.values()
    assert "MQTTIDS_EXECUTOR='yarn': expected one of local, dataproc" in message
