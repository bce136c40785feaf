#!/bin/sh
# The browser of the UI tests (tests/ui) and of `make report-screenshot`: Debian's chromium, driven
# by Playwright's Python driver (pip wheel) at /usr/bin/chromium. Nothing downloads a browser.
# Installs it with apt-get when run as root on Debian/Ubuntu; elsewhere prints how and exits 1.
set -eu

[ -x /usr/bin/chromium ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium 2>/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }
  exit 0
fi

echo "The browser tests need Chromium at /usr/bin/chromium (not found)." >&2
echo "  Debian/Ubuntu: sudo apt-get install chromium" >&2
echo "  Never 'playwright install': the tests use the system browser." >&2
exit 1
