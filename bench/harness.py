"""What every benchmark under bench/ shares, so each script holds only what it measures.

* :func:`jobs_on_path` makes ``mqttids`` importable without the editable install.
* :func:`code_version` says which commit was measured, and whether ``jobs/`` differs from it:
  other people's work changes the figures.
* :func:`scratch_database` gives a benchmark its own database at the head revision, so real data
  is never touched; :func:`sql` runs statements in it.
* :func:`ensure_pair` generates (once) and caches the train70/test30 pair of a given size;
  :func:`ingest_command` loads one with the real ingest job.
* :class:`PeakRss` and :func:`run_step` time a child process and the peak resident memory of its
  whole process tree (Python, the Spark JVM, TensorFlow, psql); :func:`run_streaming` also hands
  each output line over as it comes, to cut a long child into sections with their own peaks.
* :func:`load_average` says how busy the (shared) machine was.
* :class:`CpuMeter` and :func:`timed` time a call in this process and split the machine's CPU
  seconds meanwhile between a Spark JVM, its Python workers, PostgreSQL, this process and the rest.
* :func:`side_by_side` formats the comparison table; :func:`machine_line` prints the last line,
  ``key=value`` pairs that scripts and CI parse.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "data" / "bench"

log = logging.getLogger("bench")


def jobs_on_path() -> None:
    """Put ``jobs/`` first on ``sys.path``: the measured code is this checkout's."""
    if str(ROOT / "jobs") not in sys.path:
        sys.path.insert(0, str(ROOT / "jobs"))


def setup_logging(level: int = logging.INFO) -> None:
    """Progress to stderr; stdout is kept for the figures."""
    logging.basicConfig(level=level, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)


def code_version() -> str:
    """The commit the measured code is at, and whether ``jobs/`` has uncommitted changes."""
    try:
        git = ["git", "-C", str(ROOT)]
        head = subprocess.run(
            [*git, "log", "-1", "--format=%h %cd", "--date=iso"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "jobs"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "code version unknown (no git)"
    return f"code at commit {head}" + (" + uncommitted changes in jobs/" if dirty else "")


# ----------------------------------------------------------------- scratch database


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def scratch_database(server_url: str, name: str) -> str:
    """URL of the scratch database ``name`` on ``server_url``'s server, created if missing, at head."""
    jobs_on_path()
    from mqttids.runtime import db
    from mqttids.warehouse import migrations

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"the scratch database must be a plain lower-case identifier, got {name!r}")
    admin = db.connect(server_url, application="mqttids-bench")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                log.info("creating scratch database %s", name)
                cur.execute(f"CREATE DATABASE {name}")
    finally:
        admin.close()
    url = with_database(server_url, name)
    migrations.upgrade(url)  # the jobs refuse a warehouse that is not at the head revision
    return url


def sql(url: str, *statements: str, params: Sequence | None = None) -> list:
    """Run statements in autocommit; return the last one's rows (if any). ``params`` go to the last."""
    jobs_on_path()
    from mqttids.runtime import db

    conn = db.connect(url, application="mqttids-bench")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            rows: list = []
            for i, statement in enumerate(statements):
                cur.execute(statement, params if i == len(statements) - 1 else None)
                rows = cur.fetchall() if cur.description else []
            return rows
    finally:
        conn.close()


# ----------------------------------------------------------------- data


def ensure_pair(
    rows: int | None = None, seed: int = 0, shape: str | None = None, cache: Path = CACHE
) -> Path:
    """The folder of a generated train70.csv + test30.csv pair, made once and cached.

    ``rows`` (split 70/30, the reduced class mix), ``shape`` (a published file size: ``reduced``,
    ``augmented``), or both: ``rows`` rows with that shape's class mix (``--rows N --mix shape``).
    The pair is written to a temporary folder and renamed, so a half-written one is never reused.
    """
    if rows is None and shape is None:
        raise ValueError("give rows, shape or both")
    if shape is None:
        folder, size = cache / f"rows{rows}-seed{seed}", ["--rows", str(rows)]
    elif rows is None:
        folder, size = cache / f"{shape}-seed{seed}", ["--shape", shape]
    else:
        folder, size = cache / f"{shape}-rows{rows}-seed{seed}", ["--rows", str(rows), "--mix", shape]
    if (folder / "train70.csv").is_file() and (folder / "test30.csv").is_file():
        log.info("using cached pair %s", folder)
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    log.info("generating %s (seed %s) into %s", " ".join(size), seed, folder)
    tmp = Path(tempfile.mkdtemp(prefix=".gen-", dir=cache))
    command = [sys.executable, str(ROOT / "jobs" / "generate_sample.py"), "--out", str(tmp), *size]
    subprocess.run([*command, "--seed", str(seed)], check=True)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.chmod(0o755)
    tmp.rename(folder)
    return folder


def ingest_command(pair: Path, day) -> list[str]:
    """jobs/ingest.py loading a cached pair's train70.csv and test30.csv as batch ``day``."""
    csvs = ["--train", str(pair / "train70.csv"), "--test", str(pair / "test30.csv")]
    return [sys.executable, str(ROOT / "jobs" / "ingest.py"), *csvs, "--batch-date", day.isoformat()]


# ----------------------------------------------------------------- measuring


class PeakRss:
    """Poll a process and all its descendants; keep the largest sum of resident memory (MiB)."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self._process = psutil.Process(pid)
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.peak_mib = 0.0
        self.section_mib = 0.0  # the peak since the last new_section(): one step of a long child

    def new_section(self) -> float:
        """Start a new section; return the peak of the one that ends (MiB)."""
        ended, self.section_mib = self.section_mib, 0.0
        return ended

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                tree = [self._process, *self._process.children(recursive=True)]
                total = 0
                for p in tree:
                    with contextlib.suppress(psutil.Error):
                        total += p.memory_info().rss
                self.peak_mib = max(self.peak_mib, total / 2**20)
                self.section_mib = max(self.section_mib, total / 2**20)
            except psutil.Error:
                pass
            self._stop.wait(self._every)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_step(command: Sequence[str], env: dict[str, str] | None = None, log_file: Path | None = None):
    """Run one child process; return (wall seconds, peak tree RSS in MiB). Fails loudly on non-zero exit.

    Its output goes to ``log_file`` (appended) when given, else is kept and shown only on failure.
    """
    started = time.monotonic()
    out = open(log_file, "a") if log_file else subprocess.PIPE  # noqa: SIM115 - closed below
    try:
        proc = subprocess.Popen(list(command), env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        with PeakRss(proc.pid) as peak:
            output, _ = proc.communicate()
    finally:
        if log_file:
            out.close()
    seconds = time.monotonic() - started
    if proc.returncode:
        if output:
            sys.stderr.write(output[-6000:])
        where = f" (log: {log_file})" if log_file else ""
        raise SystemExit(f"step failed ({proc.returncode}){where}: {' '.join(command)}")
    return seconds, peak.peak_mib


class CpuMeter:
    """CPU seconds of this process's Spark JVM, its Python workers, local PostgreSQL and the rest.

    PostgreSQL is every local ``postgres`` process; backends that exit are counted through the
    postmaster, which reaps them (so the figure only means something for a local server).
    PySpark's daemon ignores SIGCHLD, so a worker that exits takes its CPU time with it: workers
    are counted per process, and one that exits mid-measurement lands in ``other``, which is
    everything else the machine did (other people's work, when it is large).
    """

    GROUPS = ("jvm", "python", "pg", "client", "other")

    def __init__(self) -> None:
        self.me = psutil.Process()

    @staticmethod
    def _own(p: psutil.Process, children: bool = True) -> float:
        t = p.cpu_times()
        return t.user + t.system + ((t.children_user + t.children_system) if children else 0.0)

    def snapshot(self) -> dict:
        busy = psutil.cpu_times()
        machine = sum(busy) - busy.idle - getattr(busy, "iowait", 0.0) - getattr(busy, "steal", 0.0)
        jvm = tree = 0.0
        workers: dict[int, float] = {}
        descendants: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            descendants = self.me.children(recursive=True)
        jvms = {p.pid for p in descendants if _name(p) == "java"}
        for p in descendants:
            with contextlib.suppress(psutil.Error):
                if p.pid in jvms:
                    jvm += self._own(p, children=False)
                elif any(a.pid in jvms for a in p.parents()):
                    workers[p.pid] = self._own(p, children=False)
                else:
                    tree += self._own(p)  # psql still running
        mine = {p.pid for p in descendants}
        pg = 0.0
        for p in psutil.process_iter(["name", "ppid"]):
            if p.info["name"] != "postgres" or p.pid in mine:
                continue
            with contextlib.suppress(psutil.Error):
                parent_is_pg = bool(p.info["ppid"]) and _name(psutil.Process(p.info["ppid"])) == "postgres"
                pg += self._own(p, children=not parent_is_pg)
        client = self._own(self.me) + tree  # the driver, and psql once reaped
        return {"machine": machine, "jvm": jvm, "python": workers, "pg": pg, "client": client}

    @staticmethod
    def diff(before: dict, after: dict) -> dict[str, float]:
        d = {k: after[k] - before[k] for k in before if k != "python"}
        d["python"] = sum(cpu - before["python"].get(pid, 0.0) for pid, cpu in after["python"].items())
        d["other"] = d.pop("machine") - sum(d.values())
        return d


def _name(p: psutil.Process) -> str:
    try:
        return p.name()
    except psutil.Error:
        return ""


def timed(meter: CpuMeter | None, fn):
    """(fn's value, wall seconds, CPU seconds per group or None) of one call."""
    before = meter.snapshot() if meter else None
    started = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - started
    if meter is None:
        return value, seconds, None
    time.sleep(0.5)  # let exiting backends be reaped, or their CPU time is lost
    return value, seconds, CpuMeter.diff(before, meter.snapshot())


def run_streaming(
    command: Sequence[str],
    on_line: Callable[[str, PeakRss], None],
    env: dict[str, str] | None = None,
    log_file: Path | None = None,
):
    """As :func:`run_step`, but each output line goes to ``on_line(line, peak)`` as it comes.

    So a caller can cut one long child (a whole DAG run) into sections at the lines that
    announce them, and read each section's peak memory (:meth:`PeakRss.new_section`).
    """
    started = time.monotonic()
    tail: deque[str] = deque(maxlen=200)
    out = open(log_file, "a") if log_file else None  # noqa: SIM115 - closed below
    try:
        proc = subprocess.Popen(
            list(command), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert proc.stdout is not None
        with PeakRss(proc.pid) as peak:
            for line in proc.stdout:
                tail.append(line)
                if out:
                    out.write(line)
                    out.flush()
                on_line(line, peak)
            proc.wait()
    finally:
        if out:
            out.close()
    seconds = time.monotonic() - started
    if proc.returncode:
        sys.stderr.write("".join(tail))
        where = f" (log: {log_file})" if log_file else ""
        raise SystemExit(f"step failed ({proc.returncode}){where}: {' '.join(command)}")
    return seconds, peak.peak_mib


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: the machine is shared, figures depend on it."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


# ----------------------------------------------------------------- output


def side_by_side(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned.

    Numbers are formatted with thousands separators (floats with two decimals unless they are
    large); strings are shown as they are.
    """

    def cell(value: object) -> str:
        if isinstance(value, bool) or value is None:
            return "" if value is None else str(value)
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, float):
            return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2f}"
        return str(value)

    text = [[str(h) for h in headers], *[[cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in text) for i in range(len(headers))]
    lines = []
    for r in text:
        first = r[0].ljust(widths[0])
        lines.append("  ".join([first, *(v.rjust(w) for v, w in zip(r[1:], widths[1:], strict=True))]))
    return "\n".join(lines)


def machine_line(**figures: float | int | str) -> str:
    """The last line of a benchmark's output: ``key=value`` pairs, floats rounded to 3 decimals."""

    def value(v: float | int | str) -> str:
        return f"{v:.3f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)

    line = " ".join(f"{k}={value(v)}" for k, v in figures.items())
    print(line, flush=True)
    return line
