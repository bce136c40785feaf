"""Configuration comes from one place, and docs/configuration.md documents all of it."""

from __future__ import annotations

import pytest

from mqttids.runtime import config

PAGE = config.PROJECT_ROOT / "docs" / "configuration.md"


def test_project_root_is_the_checkout():
    """Relative defaults (.local, data) resolve inside the checkout, not inside jobs/."""
    assert (config.PROJECT_ROOT / "Makefile").is_file()
    assert config.STATE_DIR.default == str(config.PROJECT_ROOT / ".local")


def test_configuration_page_is_generated_from_config():
    """The committed table is exactly what config.py generates: every setting, nothing else."""
    text = PAGE.read_text(encoding="utf-8")
    assert config.markdown() in text, (
        "docs/configuration.md is out of date: run "
        "`python -m mqttids.runtime.config --update docs/configuration.md`"
    )
    assert text.count(config.BEGIN_MARK) == 1 and text.count(config.END_MARK) == 1


@pytest.mark.parametrize("setting", config.ALL_SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_documented(setting):
    rows = [line for line in PAGE.read_text().splitlines() if line.startswith(f"| `{setting.name}` |")]
    assert len(rows) == 1 and setting.doc.strip() and rows[0].endswith(f"| {setting.doc} |")


def test_update_rewrites_only_the_generated_block(tmp_path):
    page = tmp_path / "configuration.md"
    stale = f"{config.BEGIN_MARK}\n| stale |\n{config.END_MARK}"
    page.write_text(f"# Title\n\nprose before\n\n{stale}\n\nprose after\n")
    assert config.update_page(page) is True
    assert page.read_text() == f"# Title\n\nprose before\n\n{config.markdown()}\n\nprose after\n"
    assert config.update_page(page) is False  # a second run changes nothing


def test_update_refuses_a_page_without_the_block(tmp_path):
    page = tmp_path / "other.md"
    page.write_text("# no generated block here\n")
    with pytest.raises(SystemExit, match="no .* block to replace"):
        config.update_page(page)
    assert page.read_text() == "# no generated block here\n"


def test_settings_fall_back_to_defaults(monkeypatch):
    monkeypatch.delenv("MQTTIDS_MAX_REJECT_RATIO", raising=False)
    assert config.MAX_REJECT_RATIO.get() == "0.01"
    monkeypatch.setenv("MQTTIDS_MAX_REJECT_RATIO", "0.2")
    assert config.MAX_REJECT_RATIO.get() == "0.2"
    monkeypatch.setenv("MQTTIDS_MAX_REJECT_RATIO", "")  # empty means unset
    assert config.MAX_REJECT_RATIO.get() == "0.01"
