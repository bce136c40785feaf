"""Which files a pipeline run ingests.

A run triggered with ``train_uri``/``test_uri`` params loads those. A
scheduled run or a backfill loads the landing batch of its data interval:
``<MQTTIDS_LANDING_URI>/<YYYY-MM-DD>/train*.csv`` and ``test*.csv``, the
layout ``jobs/generate_sample.py --landing`` writes and an upstream
exporter would drop files into.
"""

from __future__ import annotations

from airflow.sdk import Param

from mqttids.runtime import config

PREFIX = {"train": "train", "test": "test"}


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
            "test (70/30), so no connection is in both. Empty: the splits as given.",
        ),
    }


def landing_glob(ds: str, split: str) -> str:
    """The landing files of one day and split (local path or gs:// URI)."""
    root = config.LANDING_URI.get().rstrip("/")
    return f"{root}/{ds}/{PREFIX[split]}*.csv"


def source_uri(params: dict, ds: str, split: str) -> str:
    """The param's URI when given, else the day's landing files; no test files with split_by."""
    if split == "test" and params.get("split_by"):
        return params.get("test_uri") or ""
    return params.get(f"{split}_uri") or landing_glob(ds, split)
