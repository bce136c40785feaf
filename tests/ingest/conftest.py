"""Fixtures shared by the ingest tests."""

from __future__ import annotations

import ingest  # jobs/ingest.py
import pytest


@pytest.fixture()
def run_cli(run_main):
    """Run jobs/ingest.py's main() in this process, on the shared Spark session."""
    return lambda *argv: run_main(ingest, *argv)
