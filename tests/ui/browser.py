"""Debian's chromium driven by Playwright, the way every browser test and screenshot starts it.

The Playwright wheel ships its driver; the browser is the system's (``/usr/bin/chromium``,
from ``scripts/system-deps-browser.sh``): nothing is downloaded. As root, Chromium needs these
flags and a fresh profile directory.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def available() -> bool:
    return shutil.which(CHROMIUM) is not None


@contextmanager
def browser(**context) -> Iterator:
    """A Playwright BrowserContext on the system chromium, in a throwaway profile directory.

    Playwright refuses ``--user-data-dir`` in ``args``: a persistent context is its way of
    giving the browser its own profile.
    """
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="mqttids-chromium-")
    try:
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=ARGS, **context
            )
            try:
                yield ctx
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
