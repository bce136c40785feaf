"""Where a learning run keeps its files, on a local disk or in ``gs://``.

Every run gets its own folder, ``<MQTTIDS_ARTIFACTS_URI>/runs/<run id>/``:

    features/pipeline/      the fitted Spark feature pipeline
    features/train.parquet  features of the train split (and test.parquet)
    features/meta.json      kept and dropped columns, class weights, test fingerprint
    predictions/<model>.parquet  label, prediction and ``unseen`` per test row
    rescore/                the raw test rows re-featurised for a champion being re-scored

The models themselves, their parameters, scores and figures are MLflow's
(:mod:`mqttids.learning.tracking`): immutable versions, never files here.

Spark reads and writes these through Hadoop's file systems; plain Python (the
Keras trainer, the evaluator) goes through :mod:`pyarrow.fs`, which speaks both
local paths and ``gs://``, so no step needs to know where the folder is.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyarrow import fs

from mqttids.runtime import config


def safe_run_id(run_id: str) -> str:
    """A folder name for ``run_id``: readable, one path segment, and distinct for distinct ids.

    Airflow's ids hold ':' and '+', so the readable part replaces every character but
    letters, digits, '-' and '_' (dots too: no '..'); a hash of the exact id follows, so
    ``...T07:30:14+00:00`` and a hand-typed ``...T07_30_14_00_00`` get different folders.
    """
    if not run_id or not run_id.strip():
        raise ValueError("run id must be a non-empty string")
    readable = re.sub(r"[^A-Za-z0-9_-]+", "_", run_id)[:80].strip("_") or "run"
    return f"{readable}-{hashlib.sha256(run_id.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class RunFolder:
    """The paths of one learning run's files."""

    root: str

    @classmethod
    def of(cls, run_id: str, artifacts_uri: str | None = None) -> RunFolder:
        base = (artifacts_uri or config.ARTIFACTS_URI.get()).rstrip("/")
        return cls(f"{base}/runs/{safe_run_id(run_id)}")

    def path(self, *parts: str) -> str:
        """A path inside the run folder; a part that would leave it ('..', '/') is refused."""
        for part in parts:
            if not part or part in (".", "..") or "/" in part or "\\" in part:
                raise ValueError(f"{part!r} is not a file name inside the run folder {self.root}")
        return "/".join((self.root, *parts))

    @property
    def pipeline(self) -> str:
        return self.path("features", "pipeline")

    def features(self, split: str) -> str:
        return self.path("features", f"{split}.parquet")

    @property
    def features_meta(self) -> str:
        return self.path("features", "meta.json")

    def predictions(self, name: str) -> str:
        return self.path("predictions", f"{name}.parquet")

    def rescore(self, model_name: str, version: str) -> str:
        """Where a registered version's re-featurised test rows are staged (safe name, per version)."""
        return self.path("rescore", f"{safe_run_id(f'{model_name}-v{version}')}.parquet")


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


def remove(uri: str) -> None:
    """Delete one file if it is there."""
    filesystem, path = _fs(uri)
    if filesystem.get_file_info(path).type == fs.FileType.File:
        filesystem.delete_file(path)


def write_bytes(uri: str, data: bytes) -> None:
    filesystem, path = _fs(uri)
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with filesystem.open_output_stream(path) as out:
        out.write(data)


def local_copy(uri: str, into: str) -> Path:
    """A folder (e.g. a Spark ML pipeline) copied to the local folder ``into``, from anywhere."""
    if "://" not in uri:
        return Path(uri).resolve()
    filesystem, path = _fs(uri)
    target = Path(into) / Path(path).name
    fs.copy_files(
        path, str(target), source_filesystem=filesystem, destination_filesystem=fs.LocalFileSystem()
    )
    return target
