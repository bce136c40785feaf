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

import hashlib
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

JOBS_DIR = Path(__file__).resolve().parents[2] / "jobs"
LIBRARY = "mqttids"
LIBRARY_ZIP = f"{LIBRARY}.zip"
# The warehouse migrations run from Airflow (the DAGs' first task), never on a cluster, and need
# Alembic, which Dataproc images lack: they stay out of the package.
MIGRATIONS = Path(LIBRARY, "warehouse", "migrations")
# The cluster's initialization action that installs tshark on every node (captures need it).
TSHARK_INIT = JOBS_DIR.parent / "scripts" / "dataproc-install-tshark.sh"
TSHARK_INIT_NAME = "install-tshark.sh"
# Fixed entry times make the zip byte-identical for identical sources.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Package:
    """A built package: its version and the files to upload, by object name."""

    version: str
    files: dict[str, Path]


def entry_points(jobs_dir: Path = JOBS_DIR) -> list[Path]:
    """The job programs: every ``jobs/*.py``, so a new job ships without a change here."""
    return sorted(jobs_dir.glob("*.py"))


def library_files(jobs_dir: Path = JOBS_DIR) -> list[Path]:
    """The shared library's Python files (caches, other files and the migrations are not shipped)."""
    return sorted(
        p
        for p in (jobs_dir / LIBRARY).rglob("*.py")
        if "__pycache__" not in p.parts and not p.relative_to(jobs_dir).is_relative_to(MIGRATIONS)
    )


def code_version(jobs_dir: Path = JOBS_DIR) -> str:
    """12 hex digits of SHA-256 over the names and bytes of every shipped source file."""
    digest = hashlib.sha256()
    for path in entry_points(jobs_dir) + library_files(jobs_dir):
        digest.update(path.relative_to(jobs_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    digest.update(TSHARK_INIT_NAME.encode() + b"\0" + TSHARK_INIT.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


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
