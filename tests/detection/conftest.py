"""Fixtures of the detection tests: champions trained on the corpus, the corpus as unlabelled inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import detect  # jobs/detect.py
import pytest

from detection.training import train_champions


@pytest.fixture(scope="session")
def champion_versions(spark, db_url, corpus_packets, mlflow_server) -> dict[str, str]:
    """The champions of every level, registered on the session's MLflow server."""
    from mqttids.runtime import tracking_server

    return train_champions(spark, db_url, corpus_packets, tracking_server.connect(mlflow_server["uri"]))


@pytest.fixture(scope="session")
def unlabelled(corpus, tmp_path_factory) -> Path:
    """Two test captures of the corpus under names that say nothing of their class."""
    folder = tmp_path_factory.mktemp("unlabelled")
    by_name = {Path(f.path).stem: f.path for f in corpus.files}
    for n, stem in enumerate(("dos-test", "legitimate-test")):
        shutil.copy(by_name[stem], folder / f"site-{n}.pcap")
    shutil.copy(Path(corpus.directory) / "corpus.json", folder)  # the broker port
    return folder


@pytest.fixture()
def run_job(run_main):
    """jobs/detect.py's main() in this process, on the shared Spark session."""
    return lambda *argv: run_main(detect, *argv)
