"""docker-compose.yaml and the Dockerfile, checked without a Docker engine.

The file is validated against the Compose JSON Schema, then against what the
project needs: the services of Airflow 3's official layout with health
checks and start-up order, pinned images, secrets only from .env, every
mounted or copied file present, and the DAGs parsing with the environment
the containers get. What this cannot show: that the images build and the
stack starts (docs/docker.md, "What the tests verify, and what they do not").
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from airflow.models.connection import Connection
from fixtures import COMPOSE_SCHEMA, require

from mqttids.runtime import config
from mqttids.runtime.spark import DEBIAN_JDBC_JAR
from mqttids_airflow import connections

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-init",
}
CONTAINER_ROOT = "/opt/airflow"
# ${NAME}, ${NAME:-default}, ${NAME:?error}; $$ escapes a literal $.
VARIABLE = re.compile(r"(?<!\$)\$\{(\w+)(?::?([-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation, with the values a user copies from .env.example."""

    def substitute(match: re.Match) -> str:
        name, kind, default = match.groups()
        return env.get(name) or (default if kind == "-" else f"<{name}>")

    return VARIABLE.sub(substitute, value).replace("$$", "$")


@pytest.fixture(scope="module")
def airflow_env(compose, env_example) -> dict[str, str]:
    """The environment every Airflow container gets, interpolated."""
    env = compose["services"]["airflow-scheduler"]["environment"]
    return {key: _interpolate(str(value), env_example) for key, value in env.items()}


def test_compose_file_matches_the_compose_schema(compose):
    jsonschema.validate(compose, json.loads(require(COMPOSE_SCHEMA).read_text()))


def test_images_are_pinned_and_secrets_come_from_the_environment(compose):
    for name, service in compose["services"].items():
        assert ":" in service["image"] and not service["image"].endswith(":latest"), name
        for key, value in service.get("environment", {}).items():
            if "PASSWORD" in key or "SECRET" in key or "FERNET" in key:
                assert str(value).startswith("${"), f"{name}.{key} is hard-coded"
    assert "MQTTIDS_DB_PASSWORD" in (ROOT / ".env.example").read_text()


def test_every_variable_without_a_default_is_in_env_example(env_example):
    text = (ROOT / "docker-compose.yaml").read_text()
    required = {name for name, kind, _ in VARIABLE.findall(text) if kind != "-"}
    assert required == {
        "POSTGRES_SUPERUSER_PASSWORD",
        "MQTTIDS_DB_PASSWORD",
        "AIRFLOW_DB_PASSWORD",
        "AIRFLOW_FERNET_KEY",
        "AIRFLOW_JWT_SECRET",
    }
    assert required <= set(env_example)


def test_the_official_layout_with_local_executor(compose, airflow_env):
    services = compose["services"]
    assert set(services) == AIRFLOW_SERVICES | {"secrets-check", "postgres", "kafka"}
    assert airflow_env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert (
        airflow_env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    )
    assert airflow_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-init": "version",
    }
    assert services["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    for name in AIRFLOW_SERVICES:
        assert services[name]["image"] == "mqttids-airflow:3.3.2-python3.11", name


def test_health_checks_and_start_up_order(compose):
    services = compose["services"]
    for name, service in services.items():
        if name not in ("airflow-init", "secrets-check"):  # one-shot services: they exit
            assert service["healthcheck"]["test"], f"{name} has no health check"
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"] == {"condition": "service_healthy"}, name
        if name != "airflow-init":
            assert depends["airflow-init"] == {"condition": "service_completed_successfully"}, name
            assert depends["kafka"] == {"condition": "service_healthy"}, name
    api_health = services["airflow-apiserver"]["healthcheck"]["test"]
    assert "http://localhost:8080/api/v2/monitor/health" in api_health


def test_kafka_is_the_official_image_in_kraft_mode(compose, airflow_env):
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    advertised = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert f"PLAINTEXT://{airflow_env['KAFKA_BOOTSTRAP_SERVERS']}" in advertised


def test_every_mounted_path_and_referenced_file_exists(compose):
    services = compose["services"].values()
    binds = [v.split(":")[0] for s in services for v in s.get("volumes", []) if v.startswith("./")]
    assert binds, "no bind mounts found"
    for source in binds:
        assert (ROOT / source).exists(), f"mounted path {source} is missing"
    named = {v.split(":")[0] for s in services for v in s.get("volumes", []) if not v.startswith(("./", "/"))}
    assert named <= set(compose["volumes"]), "a named volume is not declared"
    build = compose["services"]["airflow-scheduler"]["build"]
    dockerfile = ROOT / build["context"] / build["dockerfile"]
    copied = re.findall(r"^COPY\s+(?:--\S+\s+)*(.+)\s+\S+$", dockerfile.read_text(), re.MULTILINE)
    for source in " ".join(copied).split():
        assert (ROOT / build["context"] / source).is_file(), f"Dockerfile copies missing {source}"
    for script in (ROOT / "docker" / "postgres-init").iterdir():
        assert os.access(script, os.X_OK), f"{script.name} must be executable for the postgres image"


def test_dockerfile_builds_on_the_airflow_version_of_requirements(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert re.search(
        rf"^FROM apache/airflow:{re.escape(pinned.group(1))}-python3\.11$", dockerfile, re.MULTILINE
    )
    for package in ("openjdk-17-jre-headless", "libpostgresql-jdbc-java"):
        assert package in dockerfile
    assert "-r /opt/mqttids/requirements.txt -c /opt/mqttids/constraints.txt" in dockerfile
    assert f"POSTGRES_JDBC_JAR={DEBIAN_JDBC_JAR}" in dockerfile


def test_the_containers_have_what_the_dags_read(compose, airflow_env):
    mounts = dict(
        reversed(v.split(":")[:2])
        for v in compose["services"]["airflow-scheduler"]["volumes"]
        if v.split(":")[0].startswith("./")
    )
    # plugins/ and jobs/ sit side by side under one root, as spark_steps.JOBS_DIR expects.
    assert mounts[f"{CONTAINER_ROOT}/plugins"] == "./plugins" and mounts[f"{CONTAINER_ROOT}/jobs"] == "./jobs"
    assert mounts[f"{CONTAINER_ROOT}/dags"] == "./dags"
    for conn_id in (connections.WAREHOUSE_CONN_ID, connections.SPARK_CONN_ID):
        assert f"AIRFLOW_CONN_{conn_id.upper()}" in airflow_env, conn_id
    warehouse = Connection(conn_id="mqttids_db", uri=airflow_env["AIRFLOW_CONN_MQTTIDS_DB"])
    postgres = compose["services"]["postgres"]["environment"]
    # The warehouse owner of docker/postgres-init/10-roles.sh, not the superuser.
    assert (warehouse.host, warehouse.schema, warehouse.login) == ("postgres", "mqttids", "mqttids")
    assert warehouse.login != postgres["POSTGRES_USER"]
    metadata = airflow_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert metadata.startswith("postgresql+psycopg2://airflow:")
    assert json.loads(airflow_env["AIRFLOW_CONN_SPARK_DEFAULT"])["host"] == "local[*]"
    known = {s.name for s in config.ALL_SETTINGS}
    assert {k for k in airflow_env if k.startswith("MQTTIDS_")} <= known
    volumes = [v.split(":")[1] for v in compose["services"]["airflow-scheduler"]["volumes"]]
    for setting in (config.DATA_DIR, config.LANDING_URI):
        assert any(airflow_env[setting.name].startswith(v) for v in volumes), setting.name


def test_the_dags_parse_with_the_container_settings(airflow_env, tmp_path):
    settings = {k: v for k, v in airflow_env.items() if k.startswith(("MQTTIDS_", "KAFKA_", "AIRFLOW_CONN_"))}
    probe = (
        "import sys; from airflow.models import DagBag; bag = DagBag(dag_folder=sys.argv[1]); "
        "assert not bag.import_errors, bag.import_errors; print(sorted(bag.dags))"
    )
    env = {**os.environ, **settings, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(ROOT / "dags")], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mqtt_pipeline" in result.stdout
