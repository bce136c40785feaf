"""Every setting of the platform, read from the environment in one place.

Each setting has a safe local default, so a fresh checkout runs with none of
them set. The README's configuration table documents the same names; keep
the two in step (a test checks that every name here appears there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, default and meaning."""

    name: str
    default: str
    doc: str

    def get(self) -> str:
        return os.environ.get(self.name, "") or self.default

    def schedule(self) -> str | None:
        """The setting as a DAG ``schedule``: 'none' (any case) means manual runs only."""
        value = self.get()
        return None if value.lower() == "none" else value


DB_URL = Setting(
    "MQTTIDS_DB_URL",
    "",
    "PostgreSQL URL (postgresql://user:pass@host:port/db). Empty: the embedded server.",
)
STATE_DIR = Setting(
    "MQTTIDS_STATE_DIR",
    str(PROJECT_ROOT / ".local"),
    "Where the embedded PostgreSQL data directory and Airflow home live.",
)
DATA_DIR = Setting(
    "MQTTIDS_DATA_DIR",
    str(PROJECT_ROOT / "data"),
    "Where generated samples and landing batches are written.",
)
LANDING_URI = Setting(
    "MQTTIDS_LANDING_URI",
    str(PROJECT_ROOT / "data" / "landing"),
    "Root of daily landing batches (<root>/<YYYY-MM-DD>/train*.csv); local path or gs://.",
)
JDBC_JAR = Setting(
    "POSTGRES_JDBC_JAR",
    "",
    "Path to the PostgreSQL JDBC jar. Empty: /usr/share/java/postgresql.jar, else Maven.",
)
JDBC_PACKAGE = Setting(
    "MQTTIDS_JDBC_PACKAGE",
    "org.postgresql:postgresql:42.7.4",
    "Maven coordinates used through spark.jars.packages when no jar is found locally.",
)
SPARK_MASTER = Setting(
    "MQTTIDS_SPARK_MASTER",
    "local[*]",
    "Spark master for jobs run outside Airflow (Airflow uses the spark_default connection).",
)
MAX_REJECT_RATIO = Setting(
    "MQTTIDS_MAX_REJECT_RATIO",
    "0.01",
    "Quality gate: the largest share of rejected rows a batch may have.",
)
MQTT_PORTS = Setting(
    "MQTTIDS_MQTT_PORTS",
    "1883",
    "TCP ports tshark decodes as MQTT when ingesting captures, comma-separated (a corpus.json "
    "beside the captures adds its port).",
)
SCHEDULE = Setting(
    "MQTTIDS_SCHEDULE",
    "@daily",
    "Schedule of mqtt_pipeline (cron, preset such as @daily, or 'none' for manual only).",
)
TASK_RETRIES = Setting(
    "MQTTIDS_TASK_RETRIES",
    "2",
    "Retries of each pipeline task (make run and the tests use 0 to fail fast).",
)
ARTIFACTS_URI = Setting(
    "MQTTIDS_ARTIFACTS_URI",
    str(PROJECT_ROOT / ".local" / "artifacts"),
    "Root of learning runs' files (features, models, predictions, plots); local path or gs://.",
)
TUNE_ROWS = Setting(
    "MQTTIDS_TUNE_ROWS",
    "50000",
    "Cross-validation tunes on a stratified sample of about this many train rows; 0: all rows.",
)

# Placement: where the Spark jobs of the DAGs run. Read when the DAG file is parsed, because
# Dataproc mode adds tasks (ship the code, create and delete the cluster).
EXECUTOR = Setting(
    "MQTTIDS_EXECUTOR",
    "local",
    "Where Spark jobs run: 'local' (spark-submit, spark_default connection) or 'dataproc'.",
)
DATAPROC_IMAGE = Setting(
    "MQTTIDS_DATAPROC_IMAGE",
    "3.0-debian12",
    "Dataproc mode: image version of the ephemeral cluster (3.0 has Spark 4, Python 3.11, Java 17).",
)
DATAPROC_WORKERS = Setting(
    "MQTTIDS_DATAPROC_WORKERS",
    "2",
    "Dataproc mode: primary workers of the ephemeral cluster (one master besides).",
)
DATAPROC_MACHINE_TYPE = Setting(
    "MQTTIDS_DATAPROC_MACHINE_TYPE",
    "n1-standard-4",
    "Dataproc mode: machine type of the master and the workers (the provider's default).",
)
DATAPROC_IDLE_TTL = Setting(
    "MQTTIDS_DATAPROC_IDLE_TTL",
    "1800",
    "Dataproc mode: seconds an idle ephemeral cluster lives before Dataproc deletes it (backstop).",
)
CLOUDSQL_INSTANCE = Setting(
    "MQTTIDS_CLOUDSQL_INSTANCE",
    "",
    "Dataproc mode: Cloud SQL connection name (project:region:instance) to reach through the "
    "Cloud SQL Auth Proxy on every node. Empty: reach the database by its private IP.",
)
GCS_PREFIX = Setting(
    "MQTTIDS_GCS_PREFIX",
    "mqttids",
    "Dataproc mode: folder in the bucket for code packages (<prefix>/<version>/) and init actions.",
)
DB_SECRET = Setting(
    "MQTTIDS_DB_SECRET",
    "",
    "Secret Manager version (projects/P/secrets/S/versions/latest) holding the database URL; "
    "read by jobs when MQTTIDS_DB_URL is empty (Dataproc).",
)

KAFKA_BOOTSTRAP_SERVERS = Setting(
    "KAFKA_BOOTSTRAP_SERVERS",
    "",
    "Kafka brokers (host:port,...) of the tweet stream. Empty: the embedded tansu broker.",
)
STREAM_TOPIC = Setting("MQTTIDS_STREAM_TOPIC", "mqtt_tweets", "Kafka topic the tweet stream goes through.")
STREAM_PARTITIONS = Setting(
    "MQTTIDS_STREAM_PARTITIONS", "3", "Partitions of the stream topic when the platform creates it."
)
STREAM_TERMS = Setting(
    "MQTTIDS_STREAM_TERMS",
    "slowite,bruteforce,flood,malformed,dos,legitimate",
    "Default terms of mqtt_tweet_stream (comma-separated; the terms param overrides it per run).",
)
STREAM_ENGLISH_ONLY = Setting(
    "MQTTIDS_STREAM_ENGLISH_ONLY",
    "dos",
    "Terms that are other words in other languages: matched with lang:en and counted in English only.",
)
STREAM_SCHEDULE = Setting(
    "MQTTIDS_STREAM_SCHEDULE", "@hourly", "Schedule of mqtt_tweet_stream (cron, preset or 'none')."
)
STREAM_GRACE = Setting(
    "MQTTIDS_STREAM_GRACE",
    "60",
    "Seconds the consumer may run past the duration to drain the producer's last tweets.",
)
REPLAY_RATE = Setting(
    "MQTTIDS_REPLAY_RATE", "50", "Replay server pace in file lines per second (0: as fast as possible)."
)
X_BEARER_TOKEN = Setting(
    "X_BEARER_TOKEN", "", "X API bearer token for source x_api when the x_api connection has none."
)
X_API_URL = Setting(
    "MQTTIDS_X_API_URL",
    "",
    "Base URL that replaces https://api.twitter.com (e.g. a replay server). Empty: the real X API.",
)

ALL_SETTINGS: tuple[Setting, ...] = (
    DB_URL,
    STATE_DIR,
    DATA_DIR,
    LANDING_URI,
    JDBC_JAR,
    JDBC_PACKAGE,
    SPARK_MASTER,
    MAX_REJECT_RATIO,
    SCHEDULE,
    TASK_RETRIES,
    ARTIFACTS_URI,
    TUNE_ROWS,
    EXECUTOR,
    DATAPROC_IMAGE,
    DATAPROC_WORKERS,
    DATAPROC_MACHINE_TYPE,
    DATAPROC_IDLE_TTL,
    CLOUDSQL_INSTANCE,
    GCS_PREFIX,
    DB_SECRET,
    KAFKA_BOOTSTRAP_SERVERS,
    STREAM_TOPIC,
    STREAM_PARTITIONS,
    STREAM_TERMS,
    STREAM_ENGLISH_ONLY,
    STREAM_SCHEDULE,
    STREAM_GRACE,
    REPLAY_RATE,
    X_BEARER_TOKEN,
    X_API_URL,
)
