#!/usr/bin/env bash
# Install elfsquad-magic with JupyterLab into ./.venv and open the getting-started notebook.
# The notebook runs against the embedded sandbox (%elfsquad_login --demo): no credentials needed.
# Usage: bash scripts/lab.sh [jupyter lab options...]   e.g. --no-browser, --port 8899
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "error: $PYTHON not found. Install Python 3.10 or newer (or set PYTHON=/path/to/python)." >&2
    exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "error: elfsquad-magic needs Python 3.10 or newer; $PYTHON is $("$PYTHON" -V 2>&1)." >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    echo "Creating the virtual environment in .venv ..."
    if ! "$PYTHON" -m venv .venv; then
        rm -rf .venv
        echo "error: could not create a virtual environment." >&2
        echo "On Debian/Ubuntu install it first: sudo apt-get install python3-venv" >&2
        exit 1
    fi
fi

# Reinstall only when pyproject.toml changed since the last install, so a second start is quick.
stamp=.venv/.elfsquad-lab-installed
wanted=$(cksum < pyproject.toml)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ] || ! .venv/bin/python -c 'import elfsquad_magic, jupyterlab' 2>/dev/null; then
    echo "Installing elfsquad-magic and JupyterLab into .venv (first run: a minute or two) ..."
    .venv/bin/python -m pip install --quiet --upgrade pip
    # PYTHONWARNINGS reaches the build backend: no "Editable installation" warning block.
    PYTHONWARNINGS=ignore .venv/bin/python -m pip install --quiet -e ".[lab]"
    # The notebooks' "python3" kernel must be this environment's Python, even when the user has
    # a "python3" kernel of another Python in ~/.local/share/jupyter (Jupyter prefers the
    # environment's own kernels when it runs from a virtual environment).
    .venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
    echo "$wanted" > "$stamp"
fi

extra=()
# Jupyter refuses to run as root (containers, fresh cloud machines) unless told.
[ "$(id -u)" = 0 ] && extra+=(--allow-root)
echo "Starting JupyterLab on notebooks/01-getting-started.ipynb (Ctrl+C twice to stop) ..."
echo "With --no-browser, open the URL it prints below: it opens the getting-started notebook."
# The default URL is the notebook, so the URL Jupyter prints (and opens) shows it, not the
# Launcher.
exec .venv/bin/jupyter lab ${extra[@]+"${extra[@]}"} \
    --LabApp.default_url=/lab/tree/notebooks/01-getting-started.ipynb "$@"
