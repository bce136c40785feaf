"""Every setting of the platform, read from the environment in one place.

Each setting has a safe local default, so a fresh checkout runs with none of
them set. The reference table of docs/configuration.md is generated from the
settings below (``python -m mqttids.runtime.config --update docs/configuration.md``);
a test fails when the committed page and this module disagree.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

# jobs/mqttids/runtime/config.py: the checkout is three folders up.
PROJECT_ROOT = Path(__file__).resolve().parents[3]


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
    "PostgreSQL URL (`postgresql://user:pass@host:port/db`) to use instead of the embedded server, "
    "e.g. a shared server or Cloud SQL. Empty: the embedded server.",
)
STATE_DIR = Setting(
    "MQTTIDS_STATE_DIR",
    str(PROJECT_ROOT / ".local"),
    "Where the embedded PostgreSQL data directory (`pgdata/`), the embedded Kafka broker's pid, port "
    "and log (`kafka/`) and the local Airflow home (`airflow/`) live.",
)
DATA_DIR = Setting(
    "MQTTIDS_DATA_DIR",
    str(PROJECT_ROOT / "data"),
    "Where generated samples (`sample/`) and the tweet stream's charts (`stream/<run id>.png`) are written.",
)
LANDING_URI = Setting(
    "MQTTIDS_LANDING_URI",
    str(PROJECT_ROOT / "data" / "landing"),
    "Root of the daily landing batches read by scheduled runs (`<root>/<YYYY-MM-DD>/train*.csv` and "
    "`test*.csv`): a local path or `gs://`.",
)
JDBC_JAR = Setting(
    "POSTGRES_JDBC_JAR",
    "",
    "Path to the PostgreSQL JDBC jar. Empty: `/usr/share/java/postgresql.jar` (Debian's "
    "`libpostgresql-jdbc-java`), else Maven.",
)
JDBC_PACKAGE = Setting(
    "MQTTIDS_JDBC_PACKAGE",
    "org.postgresql:postgresql:42.7.4",
    "Maven coordinates used through `spark.jars.packages` when no jar is found locally.",
)
SPARK_UI = Setting(
    "MQTTIDS_SPARK_UI",
    "false",
    "Whether jobs start Spark's web UI ('true'): it listens on every interface, port 4040 on.",
)
AIRFLOW_HOST = Setting(
    "MQTTIDS_AIRFLOW_HOST",
    "127.0.0.1",
    "Address the web UI of make airflow listens on; 0.0.0.0 serves other machines too.",
)
SPARK_MASTER = Setting(
    "MQTTIDS_SPARK_MASTER",
    "local[*]",
    "Spark master for jobs run outside Airflow (Airflow uses the `spark_default` connection).",
)
SPARK_DRIVER_MEMORY = Setting(
    "MQTTIDS_SPARK_DRIVER_MEMORY",
    "6g",
    "Heap of the Spark driver that Airflow's local spark-submit starts. In local mode the driver "
    "runs the executors too, and spark-submit's 1g made the random forest spill its 14M binned "
    "train rows to disk; the JVM takes the heap as it needs it. Not used on Dataproc.",
)
MAX_REJECT_RATIO = Setting(
    "MQTTIDS_MAX_REJECT_RATIO",
    "0.01",
    "Quality gate: the largest share of rejected rows a batch may have, 0..1 (the `max_reject_ratio` "
    "param overrides it per run).",
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
    "Schedule of `mqtt_pipeline`: cron, a preset such as `@daily`, or `none` for manual runs only.",
)
TASK_RETRIES = Setting(
    "MQTTIDS_TASK_RETRIES",
    "2",
    "Retries of each pipeline task (`make run` and the tests use 0 to fail fast).",
)
ARTIFACTS_URI = Setting(
    "MQTTIDS_ARTIFACTS_URI",
    str(PROJECT_ROOT / ".local" / "artifacts"),
    "Root of the learning run folders (features, models, predictions, plots): a local path, or `gs://` "
    "(needed in Dataproc mode).",
)
INPUT_ROOTS = Setting(
    "MQTTIDS_INPUT_ROOTS",
    "gs://",
    "Where inputs (train/test CSVs, replay files) may be read besides MQTTIDS_DATA_DIR and "
    "MQTTIDS_LANDING_URI: comma-separated local folders and URI prefixes (gs://bucket/path, "
    "hdfs://namenode/path). Any other path or scheme (http://, ...) is refused.",
)
MLFLOW_TRACKING_URI = Setting(
    "MLFLOW_TRACKING_URI",
    "",
    "MLflow tracking server the learning jobs log to (http://host:port). Empty: the embedded "
    "server (python -m mqttids.runtime.embedded_mlflow start, or make mlflow).",
)
MLFLOW_DB = Setting(
    "MQTTIDS_MLFLOW_DB",
    "mlflow",
    "Embedded MLflow server: its backend-store database on the warehouse's PostgreSQL server "
    "(never Airflow's metadata database).",
)
MLFLOW_ARTIFACTS = Setting(
    "MQTTIDS_MLFLOW_ARTIFACTS",
    str(PROJECT_ROOT / ".local" / "mlflow" / "artifacts"),
    "Embedded MLflow server: where it stores models and figures; local path or gs://.",
)
CODE_VERSION = Setting(
    "MQTTIDS_CODE_VERSION",
    "",
    "Code version the learning jobs tag their MLflow runs with. Empty: hashed from jobs/ (Dataproc "
    "jobs get the shipped package's version).",
)
MLFLOW_MODEL = Setting(
    "MQTTIDS_MLFLOW_MODEL",
    "mqtt_ids_packet",
    "Registered MLflow model of the packet-level classifiers; alias @champion is the served one. The "
    "other feature levels' are named after it, the level instead of `packet` (`mqtt_ids_packet_context`, "
    "`mqtt_ids_connection`).",
)
CONNECTION_WINDOW = Setting(
    "MQTTIDS_CONNECTION_WINDOW",
    "300",
    "Seconds of one connection window: the connection-level features cut a longer connection into "
    "windows of this length from its first packet, one row each (learning and live scoring alike).",
)
MODELS = Setting(
    "MQTTIDS_MODELS",
    "lr,rf,dnn_narrow,dnn_wide,xgb",
    "Comma-separated models a `mqtt_pipeline` run trains when its trigger does not pick them: the "
    "`models` param's default, so also what every scheduled retraining trains (e.g. `rf,xgb` "
    "nightly). Read when the DAG file is parsed.",
)
TUNE_ROWS = Setting(
    "MQTTIDS_TUNE_ROWS",
    "50000",
    "Cross-validation tunes on a stratified sample of about this many train rows (every class keeps "
    "at least 300), then the final model is fitted on all rows; 0 tunes on all rows.",
)
TRAIN_ROWS = Setting(
    "MQTTIDS_TRAIN_ROWS",
    "distinct",
    "`distinct`: logistic regression, the random forest and XGBoost train on the distinct train rows, "
    "each weighted by how many rows it stands for (the same loss on a fraction of the rows); `all`: "
    "on every row. The Keras networks always read every row (docs/learning.md).",
)
LR_BINS = Setting(
    "MQTTIDS_LR_BINS",
    "32",
    "Quantile bins per numeric feature at the packet level, read by logistic regression and the "
    "Keras networks (0: none): each numeric column is also cut at this many train quantiles and "
    "one-hot encoded beside its standardised log, so a linear model can give a length or a gap its "
    "own weight per range, and a network need not learn the ranges from a few thousand packets. On "
    "genuine captures 32 brought LR and both networks within 0.05 of the forest per packet; the "
    "other levels get no bins, which overfit them (docs/learning.md#genuine-traffic-three-levels). "
    "XGBoost and the forest never read them. 0 in the test suite, for speed.",
)
NN_MIN_STEPS = Setting(
    "MQTTIDS_NN_MIN_STEPS",
    "4000",
    "Fewest gradient steps a Keras network's cross-validation fit may take: 30 epochs, or more where "
    "the split is so small that 30 epochs are fewer steps (about 300 epochs on 5,000 train rows), at "
    "most 400 epochs, with patience a tenth of it. 4000 is 30 epochs of the default tuning sample, so "
    "large splits are not affected; 0 keeps every split at 30 epochs (the test suite, for speed).",
)

# Placement: where the Spark jobs of the DAGs run. Read when the DAG file is parsed, because
# Dataproc mode adds tasks (ship the code, create and delete the cluster).
EXECUTOR = Setting(
    "MQTTIDS_EXECUTOR",
    "local",
    "Where Spark jobs run: `local` (spark-submit through `spark_default`) or `dataproc`. Read when the "
    "DAG file is parsed; any other value fails the DAG import.",
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
    "Dataproc mode: machine type of the master and the workers (the provider's default; the example "
    "in docs/gcp.md uses `n2d-standard-2`).",
)
DATAPROC_IDLE_TTL = Setting(
    "MQTTIDS_DATAPROC_IDLE_TTL",
    "1800",
    "Dataproc mode: seconds after which Dataproc deletes an idle ephemeral cluster, a backstop behind "
    "the `delete_cluster` task.",
)
CLOUDSQL_INSTANCE = Setting(
    "MQTTIDS_CLOUDSQL_INSTANCE",
    "",
    "Dataproc mode: Cloud SQL connection name (`project:region:instance`) to reach through the "
    "Cloud SQL Auth Proxy on every node. Empty: reach the database by its private IP.",
)
GCS_PREFIX = Setting(
    "MQTTIDS_GCS_PREFIX",
    "mqttids",
    "Dataproc mode: folder in the bucket for code packages (`<prefix>/<version>/`) and init actions "
    "(`<prefix>/init/`).",
)
DB_URL_FILE = Setting(
    "MQTTIDS_DB_URL_FILE",
    "",
    "File holding the PostgreSQL URL, read when MQTTIDS_DB_URL is empty; Airflow hands Spark jobs "
    "their URL this way (a mode 0600 file), so it is on no command line.",
)
K8S_DB_SECRET = Setting(
    "MQTTIDS_K8S_DB_SECRET",
    "",
    "Kubernetes Spark master: the Secret holding the database URL, as name:key, read by the driver "
    "as MQTTIDS_DB_URL. Empty: the URL is shipped as a 0600 file with --files.",
)
DB_SECRET = Setting(
    "MQTTIDS_DB_SECRET",
    "",
    "Secret Manager version (`projects/P/secrets/S/versions/latest`) holding the database URL, read "
    "by the jobs when `MQTTIDS_DB_URL` is empty; Dataproc jobs get it from the `mqttids_db_secret` "
    "Variable.",
)

KAFKA_BOOTSTRAP_SERVERS = Setting(
    "KAFKA_BOOTSTRAP_SERVERS",
    "",
    "Kafka brokers of the tweet stream (`host:port,...`). Empty: the embedded broker (tansu).",
)
STREAM_TOPIC = Setting("MQTTIDS_STREAM_TOPIC", "mqtt_tweets", "Kafka topic the tweet stream goes through.")
STREAM_PARTITIONS = Setting(
    "MQTTIDS_STREAM_PARTITIONS", "3", "Partitions of the stream topic when the platform creates it."
)
STREAM_TERMS = Setting(
    "MQTTIDS_STREAM_TERMS",
    "slowite,bruteforce,flood,malformed,dos,legitimate",
    "Default terms of `mqtt_tweet_stream` (comma-separated; the `terms` param overrides it per run).",
)
STREAM_ENGLISH_ONLY = Setting(
    "MQTTIDS_STREAM_ENGLISH_ONLY",
    "dos",
    "Terms that are other words in other languages: matched with `lang:en` and counted in English "
    "tweets only.",
)
STREAM_SCHEDULE = Setting(
    "MQTTIDS_STREAM_SCHEDULE", "@hourly", "Schedule of `mqtt_tweet_stream`: cron, a preset, or `none`."
)
STREAM_GRACE = Setting(
    "MQTTIDS_STREAM_GRACE",
    "60",
    "Seconds the consumer may run past `duration` to drain the producer's last tweets.",
)
REPLAY_RATE = Setting(
    "MQTTIDS_REPLAY_RATE", "50", "Replay server pace in file lines per second (0: as fast as possible)."
)
X_BEARER_TOKEN = Setting(
    "X_BEARER_TOKEN", "", "X API bearer token for `source=x_api` when the `x_api` connection has none."
)
X_API_URL = Setting(
    "MQTTIDS_X_API_URL",
    "",
    "Base URL that replaces `https://api.twitter.com` for `source=x_api` (e.g. a proxy or a replay "
    "server). Empty: the real X API.",
)
DETECT_LANDING_URI = Setting(
    "MQTTIDS_DETECT_LANDING_URI",
    str(PROJECT_ROOT / "data" / "landing" / "captures"),
    "Landing folder of captures (PCAP/PCAPNG) and raw per-class CSVs to score: a run of "
    "`mqtt_detect` without a `captures` param scores the files in it not scored yet.",
)
DETECT_TOPIC = Setting(
    "MQTTIDS_DETECT_TOPIC", "mqtt_packets", "Kafka topic live packets are published to and scored from."
)
ALERTS_TOPIC = Setting(
    "MQTTIDS_ALERTS_TOPIC", "mqtt_alerts", "Kafka topic the live consumer publishes its alerts to."
)
DETECT_PARTITIONS = Setting(
    "MQTTIDS_DETECT_PARTITIONS", "3", "Partitions of the live packet topic when the platform creates it."
)
DETECT_IDLE_SECONDS = Setting(
    "MQTTIDS_DETECT_IDLE_SECONDS",
    "900",
    "The live consumer keeps a connection's state in memory until no packet of it came for this "
    "many seconds of capture time; an evicted connection's state stays in `mqtt.detection_state` "
    "and is read back if the connection speaks again, so eviction bounds memory and changes no "
    "feature.",
)

ALL_SETTINGS: tuple[Setting, ...] = (
    DB_URL,
    STATE_DIR,
    DATA_DIR,
    LANDING_URI,
    JDBC_JAR,
    JDBC_PACKAGE,
    SPARK_MASTER,
    SPARK_DRIVER_MEMORY,
    SPARK_UI,
    AIRFLOW_HOST,
    MAX_REJECT_RATIO,
    SCHEDULE,
    TASK_RETRIES,
    ARTIFACTS_URI,
    INPUT_ROOTS,
    MQTT_PORTS,
    MLFLOW_TRACKING_URI,
    MLFLOW_DB,
    MLFLOW_ARTIFACTS,
    MLFLOW_MODEL,
    CODE_VERSION,
    MODELS,
    TUNE_ROWS,
    TRAIN_ROWS,
    LR_BINS,
    NN_MIN_STEPS,
    CONNECTION_WINDOW,
    EXECUTOR,
    DATAPROC_IMAGE,
    DATAPROC_WORKERS,
    DATAPROC_MACHINE_TYPE,
    DATAPROC_IDLE_TTL,
    CLOUDSQL_INSTANCE,
    GCS_PREFIX,
    DB_URL_FILE,
    K8S_DB_SECRET,
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
    DETECT_LANDING_URI,
    DETECT_TOPIC,
    ALERTS_TOPIC,
    DETECT_PARTITIONS,
    DETECT_IDLE_SECONDS,
)

BEGIN_MARK = (
    "<!-- BEGIN settings: generated from jobs/mqttids/runtime/config.py by "
    "`python -m mqttids.runtime.config --update docs/configuration.md`; do not edit by hand -->"
)
END_MARK = "<!-- END settings -->"


def _shown_default(setting: Setting) -> str:
    """A default as the reference shows it: paths relative to the checkout, so the page is portable."""
    if not setting.default:
        return "empty"
    path = Path(setting.default)
    if path.is_absolute() and path.is_relative_to(PROJECT_ROOT):
        return f"`{path.relative_to(PROJECT_ROOT).as_posix()}/`"
    return f"`{setting.default}`"


def markdown() -> str:
    """The reference table of every setting, in ``ALL_SETTINGS`` order, between its two markers."""
    rows = [BEGIN_MARK, "| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{s.name}` | {_shown_default(s)} | {s.doc} |" for s in ALL_SETTINGS]
    return "\n".join([*rows, END_MARK])


def update_page(page: Path) -> bool:
    """Replace the generated block of ``page`` with today's table; True when the page changed."""
    text = page.read_text(encoding="utf-8")
    start, end = text.find(BEGIN_MARK), text.find(END_MARK)
    if start < 0 or end < start:
        raise SystemExit(f"{page}: no '{BEGIN_MARK}' ... '{END_MARK}' block to replace")
    new = text[:start] + markdown() + text[end + len(END_MARK) :]
    if new != text:
        page.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m mqttids.runtime.config",
        description="The configuration reference, generated from the settings in this module.",
    )
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--markdown", action="store_true", help="print the settings table (markdown)")
    action.add_argument("--update", metavar="PAGE", type=Path, help="rewrite the table's block in PAGE")
    args = p.parse_args(argv)
    if args.markdown:
        print(markdown())
    else:
        print(f"{args.update}: {'updated' if update_page(args.update) else 'already up to date'}")


if __name__ == "__main__":
    main()
