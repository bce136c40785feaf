"""Which files a pipeline run ingests, and the trigger params that say so.

A run triggered with ``train_uri``/``test_uri`` params loads those. A
scheduled run or a backfill loads the landing batch of its data interval:
``<MQTTIDS_LANDING_URI>/<YYYY-MM-DD>/train*.csv`` and ``test*.csv``, the
layout ``jobs/generate_sample.py --landing`` writes and an upstream
exporter would drop files into.

Optional text params are nullable (``type: ["null", "string"]``): the web
UI's trigger form treats a plain string param as required and keeps its
Trigger button disabled until something is typed, so "empty" must be
``None``. Code reading them goes through :func:`text`, which treats ``None``,
``""`` and blanks alike.
"""

from __future__ import annotations

from airflow.sdk import Param

from mqttids.runtime import config, input_paths

PREFIX = {"train": "train", "test": "test"}
# No leading or trailing blanks: a pasted path with a stray space would match nothing.
TRIMMED = r"^\S(.*\S)?$"


def optional_text(description: str, **schema) -> Param:
    """A text param the trigger form may leave empty (None); ``schema`` overrides the checks."""
    checks = {"pattern": TRIMMED, "maxLength": 2048, **schema}
    return Param(None, type=["null", "string"], description=description, **checks)


def text(params: dict, key: str) -> str:
    """An optional text param's value, ``""`` when it was left empty (None, "" or blanks)."""
    return (params.get(key) or "").strip()


def params() -> dict[str, Param]:
    """The ingest and analytics params of mqtt_pipeline."""
    return {
        f"{split}_uri": optional_text(
            f"{split.title()} CSVs or captures (PCAP/PCAPNG) to ingest: a local path, a glob or a "
            "gs:// URI, e.g. "
            f"data/sample/{'train70' if split == 'train' else 'test30'}.csv or "
            f"gs://my-bucket/mqttset/{split}*.csv. Empty: the landing batch of the data interval "
            f"(MQTTIDS_LANDING_URI/<date>/{split}*.csv)."
        )
        for split in PREFIX
    } | {
        "top_x": Param(
            5,
            type="integer",
            minimum=1,
            maximum=100,
            description="How many of the most frequent TCP flags to rank per split (ties at the last "
            "rank are all kept), e.g. 5.",
        ),
        "max_reject_ratio": Param(
            float(config.MAX_REJECT_RATIO.get()),
            type="number",
            minimum=0,
            maximum=1,
            description="Quality gate: the largest share of rejected rows the batch may have and still "
            "go on to analytics and learning, between 0 and 1, e.g. 0.01 for 1 %.",
        ),
    }


def capture_params() -> dict[str, Param]:
    """The params for captures and per-class CSVs: label map, MQTT ports, split by connection.

    Nullable, so the trigger form may leave them empty; empty means the job's default.
    """
    return {
        "labels": Param(
            None,
            type=["null", "string"],
            description="Label map for files without a target column (captures, per-class CSVs): "
            "'pattern=class,...' on file names, case-insensitive, e.g. 'office=legitimate,scan=dos'. "
            "Empty: the MQTTset names (capture_1w, legitimate, benign, malaria, dos, bruteforce, "
            "flood, malformed, slowite). A capture matching no class loads unlabelled.",
        ),
        "mqtt_ports": Param(
            None,
            type=["null", "string"],
            pattern=r"^[0-9]+(,[0-9]+)*$",
            description="TCP ports tshark decodes as MQTT in captures, comma-separated, e.g. 1883,8883. "
            "Empty: MQTTIDS_MQTT_PORTS (1883); a corpus.json beside captures adds its port.",
        ),
        "split_by": Param(
            None,
            type=["null", "string"],
            enum=[None, "connection"],
            description="'connection' with train_uri only: file each TCP connection under train or "
            "test (70/30), so no connection is in both, e.g. connection. Empty: the splits as given.",
        ),
    }


def landing_glob(ds: str, split: str) -> str:
    """The landing files of one day and split (local path or gs:// URI)."""
    root = config.LANDING_URI.get().rstrip("/")
    return f"{root}/{ds}/{PREFIX[split]}*.csv"


def source_uri(params: dict, ds: str, split: str) -> str:
    """The param's URI when given, else the day's landing files (none for test with split_by); a
    refused location fails the task here."""
    if split == "test" and text(params, "split_by"):
        uri = text(params, "test_uri")
        return input_paths.check(uri, "test_uri") if uri else ""
    return input_paths.check(text(params, f"{split}_uri") or landing_glob(ds, split), f"{split}_uri")
