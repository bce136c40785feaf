"""mqtt_detect: score captures nobody labelled with the champion of each feature level."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from mqttids.runtime import config
from mqttids_airflow import detect, warehouse
from mqttids_airflow.spark_steps import add_cluster, placement_params, spark_job

DOC = """
### Detection

0. **upgrade_warehouse**: applies the missing warehouse migrations.
1. **detect** (`jobs/detect.py`): each input (a PCAP/PCAPNG capture, converted with the MQTTset
   authors' tshark recipe, or a raw per-class CSV) is parsed, given each level's features by
   its champion's own fitted pipeline (`models:/mqtt_ids_<level>@champion`), scored, and written
   per connection to `mqtt.detections` (first and last packet time, predicted class, the
   probability of each class, model and version), with connections and packets per predicted
   class in `mqtt.detection_summary`. Rescoring a capture replaces its rows.

Trigger with `captures` (a file, folder or glob) to score those inputs. Runs without it, which
the schedule makes whenever the `mqtt_captures` asset is updated (an uploader posts an asset
event), score the landing folder's inputs never scored (`MQTTIDS_DETECT_LANDING_URI`).
Live scoring of a Kafka topic is `jobs/detect_stream.py` (docs/detection.md).
"""

with DAG(
    dag_id="mqtt_detect",
    description="Score unlabelled captures with the champions; detections per connection",
    doc_md=DOC,
    schedule=[detect.CAPTURES],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # two runs rescoring one capture would race on its rows
    tags=["mqttids", "detection"],
    default_args={
        "owner": "mqttids",
        "retries": int(config.TASK_RETRIES.get()),
        "retry_delay": timedelta(minutes=2),
        "execution_timeout": timedelta(hours=2),
    },
    params={**detect.params(), **placement_params()},
    user_defined_macros={
        "captures_uri": detect.captures_uri,
        "detect_only": detect.only,
        "detect_levels": detect.levels,
    },
) as dag:

    @task(task_id=warehouse.TASK_ID)
    def upgrade_warehouse() -> str:
        """Bring the warehouse schema to the revision the jobs need."""
        return warehouse.upgrade()

    score = spark_job(
        "detect",
        "detect",
        [
            "--captures",
            "{{ captures_uri(params) }}",
            "--run-id",
            "{{ run_id }}",
            "--levels",
            "{{ detect_levels(params) }}",
            "--only",
            "{{ detect_only(params) }}",
            "--mqtt-ports={{ params.mqtt_ports or '' }}",
        ],
        outlets=[detect.DETECTIONS],
    )

    upgrade_warehouse() >> score

    add_cluster(dag)
