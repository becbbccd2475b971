#!/usr/bin/env bash
# Install what the tests need into ./.venv and run the whole suite (lint and docs build included).
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
PYTHONWARNINGS=ignore .venv/bin/python -m pip install --quiet -e ".[test]"
# The browser test drives the system Chromium; install it where we may (root on Debian/Ubuntu).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "chromium could not be installed; the browser test will be skipped"
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The docs site: a broken page, link or reference directive fails the run (warnings as errors).
bash scripts/docs.sh
exec .venv/bin/python -m pytest "$@"
