#!/usr/bin/env bash
# Build the Binder recipe the way repo2docker does, without Docker, and run the notebooks in it:
# a new virtual environment with only what Binder's base image brings (Jupyter), then
# binder/requirements.txt, then binder/postBuild from the repository root, then every notebook
# executed top to bottom. Downloads packages, so it is run by hand, not by scripts/test.sh.
# Usage: bash scripts/check_binder.sh [--worktree]   (default: the committed HEAD, as Binder sees it)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/binder-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/repo"

if [ "${1:-}" = "--worktree" ]; then
    # Tracked and new (not ignored) files as they are now, to check before committing.
    git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf - | tar -xf - -C "$work/repo"
else
    git archive HEAD | tar -xf - -C "$work/repo"
fi

wanted=$(sed -n 's/^python-//p' "$work/repo/binder/runtime.txt")
have=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$wanted" = "$have" ] || echo "note: binder/runtime.txt asks for Python $wanted; checking with $have"

echo "== a new environment with what Binder's base image has"
"$PYTHON" -m venv "$work/env"
export PATH="$work/env/bin:$PATH" PIP_DISABLE_PIP_VERSION_CHECK=1
unset VIRTUAL_ENV ELFSQUAD_CLIENT_ID ELFSQUAD_CLIENT_SECRET ELFSQUAD_LOGIN_URL ELFSQUAD_API_URL ELFSQUAD_SCOPE
python -m pip install --quiet jupyterlab nbclient ipykernel

cd "$work/repo"
echo "== pip install -r binder/requirements.txt"
python -m pip install --quiet -r binder/requirements.txt
echo "== binder/postBuild"
./binder/postBuild

echo "== executing the notebooks"
start=$SECONDS
for nb in notebooks/*.ipynb; do
    echo "-- $nb"
    jupyter execute --timeout=300 "$nb"
done
echo "Binder recipe OK: all notebooks ran in $((SECONDS - start)) s"
