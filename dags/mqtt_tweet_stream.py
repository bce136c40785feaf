"""mqtt_tweet_stream: X keyword stream through Kafka into per-term counts in PostgreSQL, and a bar chart."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Asset, Param, task

from mqttids.runtime import config
from mqttids_airflow import stream_steps, warehouse

COUNTS = Asset(name="mqtt_tweet_term_counts", uri="postgres://warehouse:5432/mqttids/mqtt/tweet_term_counts")
MAX_DURATION = 3600

DOC = """
### Tweet stream

0. **upgrade_warehouse**: applies the missing warehouse migrations (`make db-upgrade`); the jobs
   refuse to run against an older schema revision.
1. **produce** (`jobs/tweet_stream.py produce`): syncs one X filtered-stream rule per term, then
   publishes matching tweets to Kafka (keyed by tweet id) for `duration` seconds, or until the
   replay file is exhausted. Reconnects with the X API's backoff on disconnects, 429 and 5xx.
2. **wait_for_producer** then **consume** (`jobs/tweet_stream.py consume`), alongside the
   producer: the sensor (reschedule mode, so it frees its slot) waits until the producer has
   registered the run, which also lets `airflow dags test`, which runs one task at a time in
   no fixed order, run the producer first. The consumer counts whole-word mentions per
   term and `window_seconds` window into `mqtt.tweet_term_counts`, keeps the tweets in
   `mqtt.tweets`, and stores its Kafka offsets in the same transaction. Stops when it has read
   the producer's end-of-run markers.
3. **chart**: prints the run's totals and writes `MQTTIDS_DATA_DIR/stream/<run id>.png`.

`source` `replay` (default) replays a recorded file through a local server that speaks the X API
protocol, so no X account is needed; `x_api` uses the real API with the `x_api` connection's
password (or `X_BEARER_TOKEN`) as bearer token. "dos" is counted in English tweets only
(`MQTTIDS_STREAM_ENGLISH_ONLY`): its rule carries `lang:en`.
"""

with DAG(
    dag_id="mqtt_tweet_stream",
    description="X keyword stream -> Kafka -> per-term counts -> bar chart",
    doc_md=DOC,
    schedule=config.STREAM_SCHEDULE.schedule(),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # one stream connection per X app
    tags=["mqttids", "stream", "kafka"],
    default_args={
        "owner": "mqttids",
        "retries": int(config.TASK_RETRIES.get()),
        "retry_delay": timedelta(minutes=1),
        "execution_timeout": timedelta(seconds=2 * MAX_DURATION + 600),
    },
    params={
        "terms": Param(config.STREAM_TERMS.get(), type="string", minLength=1, description="Comma-separated."),
        "duration": Param(
            300, type="integer", minimum=1, maximum=MAX_DURATION, description="Seconds to stream at most."
        ),
        "source": Param("replay", enum=["replay", "x_api"], description="Recorded replay or the X API."),
        "replay_file": Param(
            "", type="string", description="JSON-lines replay file. Empty: the shipped sample."
        ),
        "plurals": Param(False, type="boolean", description="Count regular plurals (term + s) too."),
        "window_seconds": Param(60, type="integer", minimum=1, description="Count window length."),
    },
) as dag:

    @task(task_id=warehouse.TASK_ID)
    def upgrade_warehouse() -> str:
        """Bring the warehouse schema to the revision the jobs need."""
        return warehouse.upgrade()

    @task
    def produce(run_id: str | None = None, params: dict | None = None) -> None:
        """Stream tweets into Kafka for the run's duration."""
        stream_steps.produce(run_id, params)

    @task.sensor(poke_interval=2, timeout=600, mode="reschedule")
    def wait_for_producer(run_id: str | None = None, ti=None) -> bool:
        """True once the producer has registered this run; fails if the producer ended without."""
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=["produce"], run_ids=[run_id])
        return stream_steps.producer_started(run_id, states.get(run_id, {}).get("produce"))

    @task
    def consume(run_id: str | None = None, params: dict | None = None) -> None:
        """Count the run's tweets into PostgreSQL as they arrive."""
        stream_steps.consume(run_id, params)

    @task(outlets=[COUNTS])
    def chart(run_id: str | None = None) -> str:
        """Print the totals and draw the bar chart (zero-hit terms included)."""
        return stream_steps.chart(run_id)

    upgraded, produced, waited, consumed = upgrade_warehouse(), produce(), wait_for_producer(), consume()
    upgraded >> [produced, waited]
    waited >> consumed
    [produced, consumed] >> chart()
