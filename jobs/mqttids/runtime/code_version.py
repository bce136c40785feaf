"""Which files make up the code a job runs, and the version hashed from them.

The Dataproc code package ships exactly these files, and MLflow runs are tagged with the same
version, so one rule says what "the code" is: the job entry points ``jobs/*.py``, the library's
Python files without the warehouse migrations (they run from Airflow, never on a cluster), and
the cluster's tshark initialization action.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

JOBS_DIR = Path(__file__).resolve().parents[2]
LIBRARY = "mqttids"
MIGRATIONS = Path(LIBRARY, "warehouse", "migrations")
TSHARK_INIT = JOBS_DIR.parent / "scripts" / "dataproc-install-tshark.sh"
TSHARK_INIT_NAME = "install-tshark.sh"


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
