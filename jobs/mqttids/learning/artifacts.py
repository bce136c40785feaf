"""Where a learning run keeps its files, on a local disk or in ``gs://``.

Every run gets its own folder, ``<MQTTIDS_ARTIFACTS_URI>/runs/<run id>/``:

    features/pipeline/      the fitted Spark feature pipeline
    features/train.parquet  features of the train split (and test.parquet)
    features/meta.json      kept and dropped columns, class weights, test fingerprint
    models/<model>/         a Spark ML model, or <model>.keras for a Keras one
    models/<model>.json     what the trainer chose: params, CV score, times
    predictions/<model>.parquet  label, prediction and ``unseen`` per test row
    plots/confusion_<model>.png

Spark reads and writes these through Hadoop's file systems; plain Python (the
Keras trainer, the evaluator) goes through :mod:`pyarrow.fs`, which speaks both
local paths and ``gs://``, so no step needs to know where the folder is.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyarrow import fs

from mqttids.runtime import config


def safe_run_id(run_id: str) -> str:
    """A run id usable as a folder name (Airflow's ids hold ':' and '+')."""
    if not run_id.strip():
        raise ValueError("run id must be a non-empty string")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id.strip())


@dataclass(frozen=True)
class RunFolder:
    """The paths of one learning run's files."""

    root: str

    @classmethod
    def of(cls, run_id: str, artifacts_uri: str | None = None) -> RunFolder:
        base = (artifacts_uri or config.ARTIFACTS_URI.get()).rstrip("/")
        return cls(f"{base}/runs/{safe_run_id(run_id)}")

    def path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    @property
    def pipeline(self) -> str:
        return self.path("features", "pipeline")

    def features(self, split: str) -> str:
        return self.path("features", f"{split}.parquet")

    @property
    def features_meta(self) -> str:
        return self.path("features", "meta.json")

    def model(self, name: str, keras: bool = False) -> str:
        return self.path("models", f"{name}.keras" if keras else name)

    def model_meta(self, name: str) -> str:
        return self.path("models", f"{name}.json")

    def predictions(self, name: str) -> str:
        return self.path("predictions", f"{name}.parquet")

    def plot(self, name: str) -> str:
        return self.path("plots", f"{name}.png")


def _fs(uri: str) -> tuple[fs.FileSystem, str]:
    if "://" not in uri:
        uri = str(Path(uri).resolve())
        return fs.LocalFileSystem(), uri
    return fs.FileSystem.from_uri(uri)


def local_path(uri: str) -> str:
    """The path pyarrow and Spark agree on for ``uri`` (absolute, for local folders)."""
    return uri if "://" in uri else str(Path(uri).resolve())


def exists(uri: str) -> bool:
    filesystem, path = _fs(uri)
    return filesystem.get_file_info(path).type != fs.FileType.NotFound


def write_json(uri: str, data: dict[str, Any]) -> None:
    filesystem, path = _fs(uri)
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with filesystem.open_output_stream(path) as out:
        out.write(json.dumps(data, indent=2, sort_keys=True, default=str).encode())


def read_json(uri: str) -> dict[str, Any]:
    filesystem, path = _fs(uri)
    if filesystem.get_file_info(path).type == fs.FileType.NotFound:
        raise FileNotFoundError(f"{uri} does not exist: did the step that writes it run?")
    with filesystem.open_input_stream(path) as stream:
        return json.loads(stream.read())


def write_bytes(uri: str, data: bytes) -> None:
    filesystem, path = _fs(uri)
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with filesystem.open_output_stream(path) as out:
        out.write(data)


def upload(local_file: Path, uri: str) -> None:
    """Copy a file made on this machine (e.g. a saved .keras model) to ``uri``."""
    write_bytes(uri, local_file.read_bytes())


def download(uri: str) -> Path:
    """A local copy of ``uri`` (the file itself when it is already local)."""
    if "://" not in uri:
        return Path(uri)
    filesystem, path = _fs(uri)
    target = Path(tempfile.mkdtemp(prefix="mqttids-")) / Path(path).name
    with filesystem.open_input_stream(path) as stream, target.open("wb") as out:
        shutil.copyfileobj(stream, out)
    return target
