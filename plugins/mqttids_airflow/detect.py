"""Airflow side of mqtt_detect: its params and what they mean for ``jobs/detect.py``.

A run triggered with ``captures`` scores those inputs (and replaces their earlier rows); a run
without, which is what the schedule makes when the ``mqtt_captures`` asset is updated, scores
the landing folder's inputs that were never scored (``MQTTIDS_DETECT_LANDING_URI``).
"""

from __future__ import annotations

from airflow.sdk import Asset, Param

from mqttids.connection.features import LEVELS
from mqttids.runtime import config, input_paths
from mqttids_airflow.inputs import optional_text, text


def _asset_uri(location: str) -> str:
    return location if "://" in location else f"file://{location}"


# An uploader (or another DAG) marks new captures landed: POST /api/v2/assets/events with this URI.
CAPTURES = Asset(name="mqtt_captures", uri=_asset_uri(config.DETECT_LANDING_URI.get()))
DETECTIONS = Asset(name="mqtt_detections", uri="postgres://warehouse:5432/mqttids/mqtt/detections")


def params() -> dict[str, Param]:
    return {
        "captures": optional_text(
            "Captures (PCAP/PCAPNG) or raw per-class CSVs to score: a file, a folder or a glob, e.g. "
            "data/landing/captures/*.pcap; their earlier rows are replaced. Empty: the landing folder's "
            "inputs never scored (MQTTIDS_DETECT_LANDING_URI)."
        ),
        "levels": Param(
            list(LEVELS),
            type="array",
            items={"type": "string", "enum": list(LEVELS)},
            uniqueItems=True,
            minItems=1,
            description="Feature levels to score, each by its champion (mqtt_ids_<level>@champion), "
            'e.g. ["packet", "connection"]; a level without a champion is skipped.',
        ),
        "mqtt_ports": Param(
            None,
            type=["null", "string"],
            pattern=r"^[0-9]+(,[0-9]+)*$",
            description="TCP ports tshark decodes as MQTT, comma-separated, e.g. 1883,8883. Empty: "
            "MQTTIDS_MQTT_PORTS (1883); a corpus.json beside captures adds its port.",
        ),
    }


def captures_uri(params: dict) -> str:
    """The param's inputs when given, else the landing folder; a refused location fails here."""
    return input_paths.check(text(params, "captures") or config.DETECT_LANDING_URI.get(), "captures")


def only(params: dict) -> str:
    """``all`` for inputs the trigger named, ``new`` for the landing folder."""
    return "all" if text(params, "captures") else "new"


def levels(params: dict) -> str:
    return ",".join(params.get("levels") or LEVELS)
