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
