"""The code package a Dataproc job runs: ``jobs/*.py`` plus ``mqttids.zip`` (and the init action).

Dataproc runs a job's main file from a URI and puts ``python_file_uris`` on
the Python path of the driver and every executor. So the package is the
entry points as they are (the same files spark-submit runs locally) and one
zip of the shared ``mqttids`` library. Its version is a hash of exactly
those bytes: the same code always lands in the same
``gs://<bucket>/<prefix>/<version>/`` folder, and a job never runs code other
than the one the DAG was parsed with. No git needed (images carry no .git).

No Airflow imports here: the package is built and checked in tests and by
hand (``python -m mqttids_airflow.code_package OUT_DIR``).
"""

from __future__ import annotations

import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mqttids.runtime.code_version import (
    JOBS_DIR,
    LIBRARY,
    TSHARK_INIT,
    TSHARK_INIT_NAME,
    code_version,
    entry_points,
    library_files,
)

LIBRARY_ZIP = f"{LIBRARY}.zip"
# Fixed entry times make the zip byte-identical for identical sources.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Package:
    """A built package: its version and the files to upload, by object name."""

    version: str
    files: dict[str, Path]


def _write_zip(jobs_dir: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in library_files(jobs_dir):
            info = zipfile.ZipInfo(path.relative_to(jobs_dir).as_posix(), date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def build(out_dir: Path, jobs_dir: Path = JOBS_DIR) -> Package:
    """Write the package into ``out_dir`` and say what to upload."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for path in entry_points(jobs_dir):
        target = out_dir / path.name
        target.write_bytes(path.read_bytes())
        files[path.name] = target
    _write_zip(jobs_dir, out_dir / LIBRARY_ZIP)
    files[LIBRARY_ZIP] = out_dir / LIBRARY_ZIP
    files[TSHARK_INIT_NAME] = out_dir / TSHARK_INIT_NAME
    files[TSHARK_INIT_NAME].write_bytes(TSHARK_INIT.read_bytes())
    return Package(version=code_version(jobs_dir), files=files)


if __name__ == "__main__":
    package = build(Path(sys.argv[1]))
    print(f"version {package.version}: {', '.join(sorted(package.files))}")
