"""What the embedded services (PostgreSQL, Kafka, MLflow) share: their start/stop/url command line,
one starter at a time, and telling whether a server process they started is still alive."""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def main(
    prog: str,
    description: str,
    ensure_running: Callable[[], str],
    stop: Callable[[], None],
    argv=None,
    describe: Callable[[str], str] = str,
) -> int:
    """``start`` (idempotent, prints ``describe(address)``), ``stop``, or ``url`` (start if needed)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "action",
        choices=["start", "stop", "url"],
        help="start (idempotent, prints the address), stop, or url (start if needed)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.action == "stop":
        stop()
    elif args.action == "start":
        print(describe(ensure_running()))
    else:
        print(ensure_running())
    return 0


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs; a server this process started and that exited is reaped first
    (a zombie still takes signals, and would otherwise linger)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def one_at_a_time(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (created if missing) for the block.

    Two processes that find a service stopped at the same moment (two DAG tasks, two test
    workers) would otherwise both start it: two ``initdb`` runs on one data dir, or two
    servers where the state file names one. The second waits and then finds it running.
    """
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
