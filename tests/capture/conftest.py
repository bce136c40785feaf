"""The corpus of genuine MQTT traffic, built once per test session, and its conversions."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mqttids.capture import corpus as corpus_module
from mqttids.capture import tshark

PROGRAMS = ("tshark", "dumpcap", "editcap", "capinfos", "mosquitto", "mosquitto_passwd")


def _missing_programs() -> list[str]:
    path = os.pathsep.join([os.environ.get("PATH", ""), *corpus_module.SBIN])
    return [name for name in PROGRAMS if shutil.which(name, path=path) is None]


@dataclass(frozen=True)
class Built:
    """The corpus and how long its build took."""

    corpus: corpus_module.Corpus
    seconds: float


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """All twelve captures, built once for the session."""
    missing = _missing_programs()
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run scripts/system-deps-capture.sh as root")
    started = time.monotonic()
    made = corpus_module.build(tmp_path_factory.mktemp("corpus"))
    return Built(made, time.monotonic() - started)


@pytest.fixture(scope="session")
def corpus(built: Built) -> corpus_module.Corpus:
    return built.corpus


@pytest.fixture(scope="session")
def converted(
    corpus: corpus_module.Corpus, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tshark.Conversion]:
    """Each capture converted by ``tshark.convert``, by capture file name."""
    out = tmp_path_factory.mktemp("csv")
    return {
        Path(f.path).name: tshark.convert(f.path, out / f"{Path(f.path).stem}.csv", [corpus.mqtt_port])
        for f in corpus.files
    }
