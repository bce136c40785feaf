"""A tiny champion trained on the capture corpus, as mqtt_pipeline would train it.

The corpus captures are loaded as ingest loads them, then the features step, one small random
forest and the evaluator run on them (library calls, as the DAG runs them), so the registered
model, its alias and its run's artifacts are exactly what detection reads in production.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from mqttids.ingest import loading, sources
from mqttids.learning import evaluation, features, spark_models
from mqttids.learning import tracking as learning_tracking
from mqttids.learning.artifacts import RunFolder
from mqttids.warehouse.batches import BatchRange

DAY = date(1999, 1, 1)
RUN_ID = "detection_test_champion"
DAG = "detection_test_dag"
GRID = {"rf": {"numTrees": [8], "maxDepth": [6]}}


def train_champion(spark, db_url: str, corpus_dir: str, client, work: Path) -> str:
    """Load the corpus, train a forest, register it, make it @champion; returns the registered name."""
    found = [sources.resolve(spark, split, f"{corpus_dir}/*-{split}.pcap") for split in ("train", "test")]
    loading.load_batch(spark, found, db_url, DAY)
    batches = BatchRange.single(DAY)
    folder = RunFolder.of(RUN_ID, str(work / "artifacts"))
    features.build(spark, features.read_packets(spark, db_url, batches), RUN_ID, folder, batches)
    grid = work / "grid.json"
    grid.write_text(json.dumps(GRID))
    key = learning_tracking.RunKey(DAG, RUN_ID, "rf")
    spark_models.train(spark, "rf", folder, "quick", str(grid), tune_rows=0, folds=2, client=client, key=key)
    name = "mqtt_ids_packet"
    evaluation.evaluate(db_url, RUN_ID, folder, ["rf"], client=client, dag_id=DAG, registered=name)
    return name
