"""Cross-validation folds group whole captures when every class has enough single-class captures."""

from __future__ import annotations

import numpy as np
import pytest

from mqttids.learning import arrays, folds

CLASSES = ("legitimate", "flood", "dos")


def _packets(spark, captures_per_class: int, mixed: bool = False):
    """Four connections of five packets in each capture; ingest numbers a capture in the high 32
    bits of connection_id. ``mixed`` makes the last capture's last connection another class."""
    rows = []
    for c, target in enumerate(CLASSES):
        for k in range(captures_per_class):
            capture = c * captures_per_class + k + 1
            for stream in range(4):
                last = mixed and capture == len(CLASSES) * captures_per_class and stream == 3
                label = CLASSES[0] if last else target
                rows += [("2026-12-01", (capture << 32) | stream, seq, label) for seq in range(5)]
    schema = "batch_date string, connection_id long, connection_seq int, target string"
    return folds.with_connection(spark.createDataFrame(rows, schema))


def _grouped(spark, captures_per_class: int, mixed: bool = False):
    table = folds.with_groups(_packets(spark, captures_per_class, mixed)).toPandas()
    table["capture"] = table["connection_id"] // 2**32
    return table


def test_three_captures_a_class_put_each_capture_in_one_fold(spark):
    table = _grouped(spark, 3)
    table["fold"] = table[folds.GROUP] % 3
    assert (table.groupby("capture")["fold"].nunique() == 1).all()
    # Every fold validates on one capture of each class, and trains on the other two.
    per_fold = table.groupby(["fold", "target"])["capture"].nunique()
    assert len(per_fold) == 3 * len(CLASSES) and (per_fold == 1).all()


def test_fewer_captures_or_mixed_ones_fold_by_connection(spark):
    for table in (_grouped(spark, 2), _grouped(spark, 3, mixed=True)):
        table["fold"] = table[folds.GROUP] % 3
        assert (table.groupby(folds.CONNECTION)["fold"].nunique() == 1).all()
        # By connection, one capture's four connections spread over the three folds.
        assert (table.groupby("capture")["fold"].nunique() > 1).any()


def test_more_folds_than_groups_is_a_clear_error():
    with pytest.raises(ValueError, match="only 3 of 5 cross-validation folds have rows"):
        arrays.group_folds(np.array([0, 1, 2, 0, 1, 2]), 5)
    assert len(arrays.group_folds(np.array([0, 1, 2, 0, 1, 2]), 3)) == 3
