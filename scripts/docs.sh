#!/usr/bin/env bash
# Build the docs site into docs/_build/html, warnings as errors.
# Usage: bash scripts/docs.sh [sphinx-build args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import sphinx, myst_nb, furo, elfsquad_magic" 2>/dev/null; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    PYTHONWARNINGS=ignore .venv/bin/python -m pip install --quiet -e ".[docs]"
fi
exec .venv/bin/python -m sphinx -E -W --keep-going -q -b html docs docs/_build/html "$@"
