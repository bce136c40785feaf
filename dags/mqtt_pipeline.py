"""mqtt_pipeline: ingest MQTTset CSVs, gate on quality, compute analytics, train and register models."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Asset, TriggerRule, task

from mqttids.runtime import config
from mqttids_airflow import connections, inputs, learning, warehouse
from mqttids_airflow.spark_steps import add_cluster, placement_params, spark_job

PACKETS = Asset(name="mqtt_packets", uri="postgres://warehouse:5432/mqttids/mqtt/packets")

DOC = """
### MQTTset pipeline

0. **upgrade_warehouse**: applies the missing warehouse migrations (`make db-upgrade`); the jobs
   refuse to run against an older schema revision.
1. **ingest** (`jobs/ingest.py`): the run's train and test CSVs become batch `{{ ds }}` of
   `mqtt.packets`; bad rows go to `mqtt.rejected_rows` with a reason. Rerunning a date replaces it.
2. **quality_gate**: the batch was loaded, its reject ratio is under `max_reject_ratio`, and every
   class has rows in both splits.
3. **analytics** (`jobs/analytics.py`): average MQTT length, average TCP length per target,
   top-X TCP flags (ties kept), class histogram and header flags, stamped with the run id.
4. **features** (`jobs/features.py`): for each feature level of `levels` (packet, packet in
   its connection so far, whole connection windows; batches without connection ids skip the
   last two), drops constant and duplicate columns (found on train), fits indexers, one-hot
   encoders and a scaler on train only, writes train/test Parquet.
5. **train_lr**, **train_rf** (`jobs/train_spark.py`), **train_tf** (`jobs/train_tf.py`) and
   **train_xgb** (`jobs/train_xgb.py`): at each built level, k-fold cross-validation by
   connection on macro F1, then a final fit on all train rows; one MLflow run per model and
   level in the experiment `mqtt_pipeline` (params, CV scores, the model). `models` picks
   which run (the others are skipped; an empty list skips learning), `grid` picks `quick` or
   `full` grids.
6. **evaluate** (`jobs/evaluate.py`): accuracy, macro F1, per-class recall and the
   leakage-aware scores (test rows unseen in train) to each model's MLflow run and into
   `mqtt.model_metrics` and `mqtt.confusion_matrix`; each model becomes a new version of its
   level's registered model (`mqtt_ids_packet`, `mqtt_ids_packet_context`, `mqtt_ids_connection`),
   and each level's best one takes that model's `@champion` alias only if it beats the
   champion's macro F1 on the same test rows (decisions in `mqtt.champion_decisions`).

Learning stays in this DAG rather than in one scheduled on the `mqtt_packets` asset: a run
then trains on exactly the batch its quality gate passed, and a backfill retrains each day.

Trigger with `train_uri`/`test_uri` to load your own files (local path, glob or `gs://`);
leave them empty to load the landing batch of the data interval
(`MQTTIDS_LANDING_URI/<date>/train*.csv`), which is what schedules and backfills do.
"""

with DAG(
    dag_id="mqtt_pipeline",
    description="MQTTset ingest, quality gate, analytics and learning",
    doc_md=DOC,
    schedule=config.SCHEDULE.schedule(),
    start_date=datetime(2020, 6, 1),
    catchup=False,
    max_active_runs=1,
    tags=["mqttids", "ingest", "analytics", "learning"],
    default_args={
        "owner": "mqttids",
        "retries": int(config.TASK_RETRIES.get()),
        "retry_delay": timedelta(minutes=2),
        "execution_timeout": timedelta(hours=2),
    },
    params={
        **inputs.params(),
        **inputs.capture_params(),
        **learning.params(),
        **placement_params(),
    },
    user_defined_macros={
        "source_uri": inputs.source_uri,
        "first_batch": learning.first_batch,
        "keras_models": learning.keras_models,
        "model_list": learning.model_list,
        "level_list": learning.level_list,
    },
) as dag:

    @task(task_id=warehouse.TASK_ID)
    def upgrade_warehouse() -> str:
        """Bring the warehouse schema to the revision the jobs need."""
        return warehouse.upgrade()

    ingest = spark_job(
        "ingest",
        "ingest",
        [
            "--train",
            "{{ source_uri(params, ds, 'train') }}",
            "--test",
            "{{ source_uri(params, ds, 'test') }}",
            "--batch-date",
            "{{ ds }}",
            # Empty values (the params left empty) mean the job's defaults.
            "--labels={{ params.labels or '' }}",
            "--mqtt-ports={{ params.mqtt_ports or '' }}",
            "--split-by={{ params.split_by or '' }}",
        ],
        outlets=[PACKETS],
    )

    @task(retries=0)
    def quality_gate(ds: str | None = None, params: dict | None = None) -> dict:
        """Fail the run, listing every failed check, if the batch is unfit for analytics."""
        from datetime import date

        from mqttids.ingest.quality import check_batch

        with connections.warehouse_hook().get_conn() as conn:
            report = check_batch(conn, date.fromisoformat(ds), float(params["max_reject_ratio"]))
        print(report)
        return {"rows_loaded": report.rows_loaded, "rows_rejected": report.rows_rejected}

    analytics = spark_job(
        "analytics",
        "analytics",
        ["--run-id", "{{ run_id }}", "--top-x", "{{ params.top_x }}", "--batch-date", "{{ ds }}"],
        jdbc=True,
    )

    run = ["--run-id", "{{ run_id }}", "--artifacts", config.ARTIFACTS_URI.get()]
    levels = ["--levels", "{{ level_list(params) }}"]
    features = spark_job(
        "features",
        "features",
        [*run, "--from-date", "{{ first_batch(ds, params) }}", "--to-date", "{{ ds }}", *levels],
        jdbc=True,
    )

    @task.short_circuit(retries=0, ignore_downstream_trigger_rules=False)
    def learning_requested(params: dict | None = None) -> bool:
        """Skip the learning stage when the trigger picked no model."""
        return learning.wants_learning(params)

    @task.branch(retries=0)
    def choose_models(params: dict | None = None) -> list[str]:
        """Run the trainers of the models the trigger picked; the others are skipped."""
        return learning.trainer_tasks(learning.picked(params))

    grid = ["--grid", "{{ params.grid }}"]
    # One MLflow experiment per DAG; each trainer trains every level the features step built.
    tracked = [*run, "--dag-id", "{{ dag.dag_id }}", *levels]
    trainers = [
        spark_job("train_lr", "train_spark", [*tracked, "--model", "lr", *grid]),
        spark_job("train_rf", "train_spark", [*tracked, "--model", "rf", *grid]),
        spark_job("train_tf", "train_tf", [*tracked, "--models", "{{ keras_models(params) }}", *grid]),
        spark_job("train_xgb", "train_xgb", [*tracked, *grid]),
    ]
    evaluate = spark_job(
        "evaluate",
        "evaluate",
        [*tracked, "--models", "{{ model_list(params) }}"],
        jdbc=True,
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
    )

    gate = quality_gate()
    wanted = learning_requested()
    upgrade_warehouse() >> ingest >> gate >> [analytics, wanted]
    wanted >> features
    features >> choose_models() >> trainers >> evaluate

    add_cluster(dag)  # Dataproc placement: ship code, create/delete the cluster; local: nothing
