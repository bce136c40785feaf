"""Fixtures shared by the ingest tests."""

from __future__ import annotations

import logging

import ingest  # jobs/ingest.py
import pytest


@pytest.fixture()
def run_cli(spark, monkeypatch, capsys):
    """Run jobs/ingest.py's main() in this process, on the shared Spark session."""

    def run(*argv: str) -> tuple[int, str, str]:
        monkeypatch.setattr(ingest, "session", lambda *args, **kwargs: spark)
        monkeypatch.setattr(spark, "stop", lambda: None)  # main() stops its session
        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        try:
            code = ingest.main(list(argv))
        finally:
            root.setLevel(level)
            root.handlers[:] = handlers
        out, err = capsys.readouterr()
        return code, out, err

    return run
