"""The conversions of the corpus (built once per session by the root conftest's ``corpus``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mqttids.capture import corpus as corpus_module
from mqttids.capture import tshark


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
