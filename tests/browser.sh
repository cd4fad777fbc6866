#!/usr/bin/env bash
# Makes sure headless Chromium and its WebDriver (chromedriver) are installed
# for the browser tests (tests/tests/integration/ui.rs, workspace.rs),
# installing Debian's `chromium` and `chromium-driver` when a machine lacks
# them, and axe-core from the npm registry. Quick and silent when all are
# there; run by `make test`.
set -euo pipefail
cd "$(dirname "$0")"

# axe-core (pinned by tests/axe/package-lock.json) for the workspace test's
# accessibility check; used by the test only, never served by Ferry.
if [ ! -f axe/node_modules/axe-core/axe.min.js ]; then
  command -v npm >/dev/null || { echo "browser.sh: npm is needed for axe-core" >&2; exit 1; }
  (cd axe && npm ci --no-audit --no-fund --loglevel=error)
fi

CHROMIUM="${FERRY_TEST_CHROMIUM:-chromium}"
CHROMEDRIVER="${FERRY_TEST_CHROMEDRIVER:-chromedriver}"
if command -v "$CHROMIUM" >/dev/null && command -v "$CHROMEDRIVER" >/dev/null; then
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v apt-get >/dev/null; then
  echo "browser.sh: please install Chromium and chromedriver (no apt-get here)," \
    "or point FERRY_TEST_CHROMIUM / FERRY_TEST_CHROMEDRIVER at them" >&2
  exit 1
fi
echo "browser.sh: installing chromium and chromium-driver"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
command -v "$CHROMIUM" >/dev/null && command -v "$CHROMEDRIVER" >/dev/null
"$CHROMIUM" --version
