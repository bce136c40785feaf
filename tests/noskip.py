"""A pytest plugin that turns every skip into a failure: a skipped test checks nothing.

The suite must run the same tests on a plain clone as in CI, with zero skips, whatever the
environment: a test whose fixture, program or package is missing fails and says what is missing.
Leaving tests out on purpose is deselection (``-k``, ``-m``), which the summary reports as such.
``tests/conftest.py`` loads this plugin for every run; ``pytest -p noskip`` loads it elsewhere.
"""

from __future__ import annotations

import pytest


def _skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A skipped test (a ``skip`` call or mark, a failed ``importorskip``) fails instead."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"tests may not skip, so this skip is a failure: {_skip_reason(report)}"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """A module that skips itself at import (``allow_module_level``) fails too."""
    report = yield
    if report.skipped:
        report.outcome = "failed"
        report.longrepr = f"tests may not skip, so this module's skip is a failure: {_skip_reason(report)}"
    return report
