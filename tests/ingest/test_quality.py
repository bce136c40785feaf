"""The quality gate on real loads: what passes, and every reason a batch fails."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mqttids.ingest import loading, sources
from mqttids.ingest.quality import QualityGateFailed, check_batch

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generated(tmp_path_factory, generate) -> Path:
    out = tmp_path_factory.mktemp("gate")
    generate("--out", str(out), "--rows", "2000", "--seed", "11")
    lines = (out / "train70.csv").read_text().splitlines()
    bad = [line.replace(",", ";") for line in lines[1:41]]  # 40 unparseable rows
    (out / "train_bad.csv").write_text("\n".join(lines + bad) + "\n")
    return out


def _load(spark, url, train: Path, test: Path, day: date) -> None:
    inputs = [sources.resolve(spark, "train", str(train)), sources.resolve(spark, "test", str(test))]
    loading.load_batch(spark, inputs, url, day)


def test_generated_batch_passes(spark, db_url, db_conn, generated):
    day = date(2025, 1, 1)
    _load(spark, db_url, generated / "train70.csv", generated / "test30.csv", day)
    report = check_batch(db_conn, day, 0.01)
    assert report.rows_rejected == 0
    assert sum(report.counts.values()) == report.rows_loaded > 0


def test_reject_ratio_over_threshold_fails(spark, db_url, db_conn, generated):
    day = date(2025, 1, 2)
    _load(spark, db_url, generated / "train_bad.csv", generated / "test30.csv", day)
    with pytest.raises(QualityGateFailed, match="reject ratio .* exceeds"):
        check_batch(db_conn, day, 0.01)
    assert check_batch(db_conn, day, 0.5).rows_rejected == 40


def test_missing_classes_fail_and_are_named(spark, db_url, db_conn, real_rows):
    day = date(2025, 1, 3)
    _load(spark, db_url, *real_rows, day)  # the genuine rows have no slowite or flood
    with pytest.raises(QualityGateFailed) as failure:
        check_batch(db_conn, day, 0.01)
    assert "train/slowite" in str(failure.value) and "test/flood" in str(failure.value)


def test_batch_never_loaded_fails(db_conn):
    with pytest.raises(QualityGateFailed, match="never loaded"):
        check_batch(db_conn, date(1901, 1, 1), 0.01)  # a date no test loads


def test_threshold_must_be_a_ratio(db_conn):
    with pytest.raises(ValueError, match="max_reject_ratio"):
        check_batch(db_conn, date(2025, 1, 1), 1.5)
