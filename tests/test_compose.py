"""docker-compose.yaml is valid Compose (no Docker engine needed to check)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_compose_file_matches_the_compose_schema(compose):
    if not SCHEMA.exists():
        pytest.skip(f"Compose schema not found at {SCHEMA}")
    jsonschema.validate(compose, json.loads(SCHEMA.read_text()))


def test_images_are_pinned_and_secrets_come_from_the_environment(compose):
    for name, service in compose["services"].items():
        assert ":" in service["image"] and not service["image"].endswith(":latest"), name
        for key, value in service.get("environment", {}).items():
            if "PASSWORD" in key:
                assert str(value).startswith("${"), f"{name}.{key} is hard-coded"
    assert "MQTTIDS_DB_PASSWORD" in (ROOT / ".env.example").read_text()
