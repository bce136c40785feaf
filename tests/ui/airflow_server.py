"""Airflow's API server, scheduler and DAG processor for the browser tests, as ``make airflow`` runs them.

The environment is :func:`mqttids_airflow.local.airflow_env` (this project's DAGs and
plugins, the warehouse connection), in a throwaway ``AIRFLOW_HOME`` with a SQLite metadata
database, a free port, and the simple auth manager with one known user.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from mqttids_airflow import local

USER = "admin"
COMPONENTS = ("api-server", "scheduler", "dag-processor")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Airflow:
    home: Path
    port: int
    env: dict[str, str]
    password: str
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, component: str) -> Path:
        return self.home / f"{component}.log"

    def start(self) -> None:
        local.migrate(self.env)
        for name in COMPONENTS:
            args = [name, "--host", "127.0.0.1", "--port", str(self.port)] if name == "api-server" else [name]
            out = self.log(name).open("w")
            self.procs[name] = subprocess.Popen(
                [local.AIRFLOW, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = self.log(name).read_text()[-3000:]
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}:\n{tail}")

    def token(self) -> str:
        body = json.dumps({"username": USER, "password": self.password}).encode()
        req = urllib.request.Request(
            f"{self.url}/auth/token", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)["access_token"]

    def api(self, path: str, token: str | None = None) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with urllib.request.urlopen(
            urllib.request.Request(self.url + path, headers=headers), timeout=30
        ) as r:
            return json.load(r)

    def wait_ready(self, dag_ids: tuple[str, ...], timeout: float = 240) -> str:
        """Wait until the API answers and every DAG is parsed; returns an API token."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                token = self.token()
                dags = {d["dag_id"] for d in self.api("/api/v2/dags?limit=100", token)["dags"]}
                if set(dag_ids) <= dags:
                    return token
            except (urllib.error.URLError, ConnectionError, KeyError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"Airflow not ready after {timeout} s; logs in {self.home}")
            time.sleep(2)


def configure(home: Path, db_url: str, extra: dict[str, str]) -> Airflow:
    port = free_port()
    password = secrets.token_urlsafe(12)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USER: password}))
    env = {
        **local._environ(db_url),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # Scheduled runs would compete with the tests' runs: manual triggers only.
        "MQTTIDS_SCHEDULE": "none",
        "MQTTIDS_STREAM_SCHEDULE": "none",
        "MQTTIDS_TASK_RETRIES": "0",
        **extra,
    }
    return Airflow(home, port, env, password)
