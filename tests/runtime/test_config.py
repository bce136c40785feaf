"""Configuration comes from one place, and the README documents all of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mqttids.runtime import config

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("setting", config.ALL_SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_in_the_readme(setting):
    assert f"`{setting.name}`" in README.read_text()


def test_settings_fall_back_to_defaults(monkeypatch):
    monkeypatch.delenv("MQTTIDS_MAX_REJECT_RATIO", raising=False)
    assert config.MAX_REJECT_RATIO.get() == "0.01"
    monkeypatch.setenv("MQTTIDS_MAX_REJECT_RATIO", "0.2")
    assert config.MAX_REJECT_RATIO.get() == "0.2"
    monkeypatch.setenv("MQTTIDS_MAX_REJECT_RATIO", "")  # empty means unset
    assert config.MAX_REJECT_RATIO.get() == "0.01"
