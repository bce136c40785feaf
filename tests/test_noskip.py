"""The suite cannot go green by skipping: tests/noskip.py turns every kind of skip into a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import fixtures

TESTS = Path(__file__).resolve().parent

SKIPPING = """
import pytest

def test_calls_skip():
    pytest.skip("no data here")

@pytest.mark.skip(reason="marked")
def test_marked():
    pass

@pytest.mark.skipif(True, reason="condition")
def test_skipif():
    pass

def test_importorskip():
    pytest.importorskip("a_module_that_is_not_installed")

def test_passes():
    pass
"""


def _pytest(tmp_path: Path, *files: Path) -> subprocess.CompletedProcess:
    """A separate pytest run with only the plugin loaded (no conftest of this suite)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "noskip", "-p", "no:cacheprovider", "-q", *map(str, files)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_kind_of_skip_fails(tmp_path):
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    result = _pytest(tmp_path, tmp_path / "test_skipping.py")
    assert result.returncode == 1, result.stdout
    # A skip in the call fails the test; a skip mark (raised in setup) makes it an error.
    assert result.stdout.splitlines()[-1].startswith("2 failed, 1 passed, 2 errors"), result.stdout
    for reason in ("no data here", "marked", "condition", "a_module_that_is_not_installed"):
        assert f"this skip is a failure: {reason}" in result.stdout or reason in result.stdout, reason


def test_a_module_level_skip_fails(tmp_path):
    module = tmp_path / "test_module_skip.py"
    module.write_text('import pytest\npytest.skip("whole module", allow_module_level=True)\n')
    result = _pytest(tmp_path, module)
    assert result.returncode != 0, result.stdout
    assert "this module's skip is a failure" in result.stdout and "whole module" in result.stdout


def test_a_missing_fixture_file_fails_naming_it(tmp_path):
    module = tmp_path / "test_fixture_missing.py"
    module.write_text(
        "from pathlib import Path\nimport fixtures\n\n"
        "def test_needs_a_file():\n"
        "    fixtures.require(Path('/nonexistent/real_rows.csv'))\n"
    )
    result = _pytest(tmp_path, module)
    assert result.returncode == 1, result.stdout
    assert "1 failed" in result.stdout
    assert "test fixture missing: /nonexistent/real_rows.csv" in result.stdout


def test_the_fixture_files_are_in_the_repository():
    for path in (
        *fixtures.REAL_FILES,
        fixtures.MQTTSET_README,
        fixtures.CAPTURE_RECIPE,
        fixtures.COMPOSE_SCHEMA,
    ):
        assert fixtures.require(path).stat().st_size > 0
        assert path.is_relative_to(TESTS)
