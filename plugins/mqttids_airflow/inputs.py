"""Which files a pipeline run ingests.

A run triggered with ``train_uri``/``test_uri`` params loads those. A
scheduled run or a backfill loads the landing batch of its data interval:
``<MQTTIDS_LANDING_URI>/<YYYY-MM-DD>/train*.csv`` and ``test*.csv``, the
layout ``jobs/generate_sample.py --landing`` writes and an upstream
exporter would drop files into.
"""

from __future__ import annotations

from mqttids.runtime import config, input_paths

PREFIX = {"train": "train", "test": "test"}


def landing_glob(ds: str, split: str) -> str:
    """The landing files of one day and split (local path or gs:// URI)."""
    root = config.LANDING_URI.get().rstrip("/")
    return f"{root}/{ds}/{PREFIX[split]}*.csv"


def source_uri(params: dict, ds: str, split: str) -> str:
    """The param's URI when given, else the day's landing files; a refused location fails the task here."""
    return input_paths.check(params.get(f"{split}_uri") or landing_glob(ds, split), f"{split}_uri")
