"""mqtt_pipeline: ingest MQTTset CSVs into PostgreSQL, gate on quality, compute analytics."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Asset, Param, task

from mqttids import config
from mqttids_airflow import connections, inputs
from mqttids_airflow.spark_steps import add_cluster, placement_params, spark_job

PACKETS = Asset(name="mqtt_packets", uri="postgres://warehouse:5432/mqttids/mqtt/packets")

DOC = """
### MQTTset pipeline

1. **ingest** (`jobs/ingest.py`): the run's train and test CSVs become batch `{{ ds }}` of
   `mqtt.packets`; bad rows go to `mqtt.rejected_rows` with a reason. Rerunning a date replaces it.
2. **quality_gate**: the batch was loaded, its reject ratio is under `max_reject_ratio`, and every
   class has rows in both splits.
3. **analytics** (`jobs/analytics.py`): average MQTT length, average TCP length per target,
   top-X TCP flags (ties kept), class histogram and header flags, stamped with the run id.

Trigger with `train_uri`/`test_uri` to load your own files (local path, glob or `gs://`);
leave them empty to load the landing batch of the data interval
(`MQTTIDS_LANDING_URI/<date>/train*.csv`), which is what schedules and backfills do.
"""

with DAG(
    dag_id="mqtt_pipeline",
    description="MQTTset ingest, quality gate and analytics",
    doc_md=DOC,
    schedule=None if config.SCHEDULE.get().lower() == "none" else config.SCHEDULE.get(),
    start_date=datetime(2020, 6, 1),
    catchup=False,
    max_active_runs=1,
    tags=["mqttids", "ingest", "analytics"],
    default_args={
        "owner": "mqttids",
        "retries": int(config.TASK_RETRIES.get()),
        "retry_delay": timedelta(minutes=2),
        "execution_timeout": timedelta(hours=2),
    },
    params={
        "train_uri": Param(
            "", type="string", description="Train CSV (path, glob or gs://). Empty: landing batch."
        ),
        "test_uri": Param(
            "", type="string", description="Test CSV (path, glob or gs://). Empty: landing batch."
        ),
        "top_x": Param(5, type="integer", minimum=1, description="How many TCP flags to rank (ties kept)."),
        "max_reject_ratio": Param(
            float(config.MAX_REJECT_RATIO.get()),
            type="number",
            minimum=0,
            maximum=1,
            description="Quality gate: largest share of rejected rows allowed.",
        ),
        **placement_params(),
    },
    user_defined_macros={"source_uri": inputs.source_uri},
) as dag:
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
        ],
        outlets=[PACKETS],
    )

    @task(retries=0)
    def quality_gate(ds: str | None = None, params: dict | None = None) -> dict:
        """Fail the run, listing every failed check, if the batch is unfit for analytics."""
        from datetime import date

        from mqttids.quality import check_batch

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

    ingest >> quality_gate() >> analytics

    add_cluster(dag)  # Dataproc placement: ship code, create/delete the cluster; local: nothing
