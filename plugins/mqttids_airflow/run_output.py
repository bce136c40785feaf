"""Quiet output for ``make run``: one line per task, a progress line, the logs in a file.

``airflow dags test`` prints every Airflow, Spark and Keras log record (about a thousand
lines per run). :func:`run_quiet` runs it with all of that going to a log file and prints,
for each task one line when it ends, with its state, duration and a key figure read back from
the warehouse. On a terminal a progress line shows the running task (elapsed seconds and the
last step Spark or Keras reported), rewritten in place until the task ends. A failure
prints the failing task, the error line of its log and the log file's path.

A task's state is the last ``new_state=`` the execution API logged for it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

START = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")
END = re.compile(r"\[DAG TEST\] end task task_id=(\S+)")
RUN_ID = re.compile(r"creating dag run .* run_id=(\S+)")
# What a long step reports: Keras epochs, our jobs' progress lines, Spark stages.
STEP = re.compile(
    r"(Epoch \d+/\d+|fold \d+/\d+|[Ss]tage \d+\.\d+|grid point \d+/\d+|training \w+|fitting \w+)"
)
NEW_STATE = re.compile(r"\bnew_state=(\w+)")
# What a trainer reports when it has picked its params: the figure of a train_* task.
CV_SCORE = re.compile(r"(\w+): CV macro F1 (\d\.\d+)")
JOB_FAILED = re.compile(r"^\w+ failed: ")  # how jobs/*.py report their error before exiting 1
LOGGED_ERROR = re.compile(r"\bERROR [\w.]+: ")
# A traceback's last line: a builtin's ``ValueError: ...`` or a qualified ``pkg.mod.InputNotAllowed: ...``
EXCEPTION = re.compile(r"^([\w.]*(Error|Exception|Failed)|([a-z_]\w*\.)+[A-Z]\w*): ")
ERROR = re.compile(
    r"(\b\w*(Error|Exception|Failed)\b:|^error: |\berror: |Traceback|FAILED|exited with|\[error\s*\])"
)
NOISE = re.compile(r"(WARN |DeprecationWarning|FutureWarning|UserWarning|Task failed; ti=)")
STRUCTLOG = re.compile(r"^\S+Z \[\w+\s*\] ")
SOURCE = re.compile(r"\s\[[\w.]+\]( [\w.]+=\S+)*$")


def message(line: str) -> str:
    """A log record without its timestamp, level and logger: what a person reads."""
    text = STRUCTLOG.sub("", line.rstrip())
    return SOURCE.sub("", text).strip()


@dataclass
class Task:
    task_id: str
    started: float
    lines: list[str] = field(default_factory=list)
    step: str = ""
    state: str = "unknown"


@dataclass
class Outcome:
    """What the run did: run id, per-task states and, on failure, the failing task and error."""

    returncode: int
    run_id: str | None = None
    states: dict[str, str] = field(default_factory=dict)
    failed_task: str | None = None
    error: str | None = None


def error_line(lines: list[str]) -> str | None:
    """The most telling error message of a task's log.

    First choice is the job's own verdict (``ingest failed: train file not found: ...``), then an
    ERROR record, then the exception line of a traceback, then any error-looking line: the
    operator's "Cannot execute: spark-submit ..." says less than the job's message above it.
    """
    messages = [message(line) for line in lines]
    choices = (
        [m for m in messages if JOB_FAILED.match(m)],
        [m.split(": ", 1)[-1] for m in messages if LOGGED_ERROR.search(m)],
        [m for m in messages if EXCEPTION.match(m) and not NOISE.search(m)],
        [m for m in messages if ERROR.search(m) and not NOISE.search(m)],
    )
    found = next((c for c in choices if c), [None])[-1]
    return found[:300] if found else None


class Printer:
    """Task lines on ``out``; a rewritten progress line only when ``out`` is a terminal."""

    def __init__(self, out: IO[str]):
        self.out = out
        self.tty = out.isatty()
        self.progress_shown = False

    def line(self, text: str) -> None:
        self.clear()
        print(text, file=self.out, flush=True)

    def start(self, text: str) -> None:
        """A task's start: the first state of the progress line on a terminal, nothing in a log.

        Piped or redirected, the output keeps one line per task (its end), so a whole run stays
        short enough to read; the full log has every start.
        """
        self.progress(text)

    def progress(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\033[K" + text[:120])
            self.out.flush()
            self.progress_shown = True

    def clear(self) -> None:
        if self.progress_shown:
            self.out.write("\r\033[K")
            self.progress_shown = False


def run_quiet(
    command: list[str],
    env: dict[str, str],
    log_path: Path,
    key_figure: Callable[[str, str], str],
    out: IO[str] = sys.stdout,
) -> Outcome:
    """Run ``command`` with its output in ``log_path``, printing one line per task as it ends.

    ``key_figure(run_id, task_id)`` gives the figure shown after a successful task.
    """
    printer = Printer(out)
    outcome = Outcome(returncode=0)
    current: Task | None = None
    tail: deque[str] = deque(maxlen=400)  # for a failure outside any task (an import error, say)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            tail.append(line)
            if m := RUN_ID.search(line):
                outcome.run_id = m.group(1)
            if m := START.search(line):
                current = Task(m.group(1), time.monotonic())
                printer.start(f"  {current.task_id:<18} started")
                continue
            if current is None:
                continue
            if m := END.search(line):
                _finish(printer, outcome, current, key_figure)
                current = None
                continue
            current.lines.append(line)
            if state := NEW_STATE.search(line):
                current.state = state.group(1)
            if step := STEP.search(message(line)):
                current.step = step.group(1)
            elapsed = time.monotonic() - current.started
            printer.progress(f"  {current.task_id:<18} {elapsed:5.0f} s  {current.step}")
        outcome.returncode = proc.wait()
    printer.clear()
    if outcome.returncode and outcome.error is None:
        outcome.error = error_line(list(tail))
    return outcome


def _finish(printer: Printer, outcome: Outcome, task: Task, key_figure) -> None:
    state, seconds = task.state, time.monotonic() - task.started
    outcome.states[task.task_id] = state
    figure = ""
    if state == "success":
        try:
            figure = key_figure(outcome.run_id or "", task.task_id)
        except Exception as exc:  # a figure is a nicety: never fail the run over it
            figure = f"({type(exc).__name__} reading its figure)"
        scores = [m.groups() for line in task.lines if (m := CV_SCORE.search(message(line)))]
        figure = figure or ", ".join(f"{model} CV macro F1 {score}" for model, score in scores)
    elif state in ("failed", "up_for_retry") and outcome.failed_task is None:
        outcome.failed_task = task.task_id
        outcome.error = error_line(task.lines)
    printer.line(f"  {task.task_id:<18} {state:<8} {seconds:6.1f} s  {figure}".rstrip())
