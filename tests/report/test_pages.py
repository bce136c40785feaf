"""The report library on its own: runs that left nothing, and runs whose stages did not all run."""

from __future__ import annotations

from datetime import date

import pytest

from mqttids.report import pages
from mqttids.warehouse import migrations, tables


def test_a_run_that_left_nothing_is_a_lookup_error(db_url, db_conn):
    migrations.upgrade(db_url)
    with pytest.raises(LookupError, match="no_such_run"):
        pages.pipeline_report(db_conn, "no_such_run")
    with pytest.raises(LookupError, match="no_such_run"):
        pages.stream_report(db_conn, "no_such_run")


def test_a_batch_without_analytics_or_models_says_so(db_url, db_conn):
    migrations.upgrade(db_url)
    with db_conn.cursor() as cur:
        cur.execute(
            f"INSERT INTO {tables.BATCHES} "
            "(batch_date, sources, rows_read, rows_loaded, rows_rejected, seconds) "
            "VALUES ('2031-01-05', ARRAY['a.csv'], 10, 8, 2, 1.5) ON CONFLICT (batch_date) DO NOTHING"
        )
        cur.execute(
            f"INSERT INTO {tables.REJECTED} (batch_date, split, source_file, raw_line, reason) "
            "VALUES ('2031-01-05', 'train', 'a.csv', 'x,y', 'too few columns'), "
            "('2031-01-05', 'train', 'a.csv', 'x,z', 'too few columns')"
        )
    db_conn.commit()
    page = pages.pipeline_report(db_conn, "ingest_only_run", date(2031, 1, 5))
    assert "Analytics did not run for this run id." in page
    assert "No model was trained in this run" in page
    assert '<table id="t-rejects">' in page and "too few columns" in page and "x,y" in page
