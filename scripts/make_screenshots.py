"""Refresh the README's screenshots (docs/img/) from the browser test.

    .venv/bin/python scripts/make_screenshots.py

Runs tests/notebook/test_browser.py (JupyterLab in headless Chromium against a sandbox, see
there) and copies the screenshots it saved in test-output/browser/ (login form, result table,
completion popup) to docs/img/.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ["login-form.png", "result-table.png", "completion.png", "completion-entity-sets.png"]


def main() -> int:
    """Run the browser test; on success copy its screenshots into docs/img."""
    source = ROOT / "test-output" / "browser"
    for name in SHOTS:
        (source / name).unlink(missing_ok=True)
    test = [sys.executable, "-m", "pytest", "-q", "-rs", "tests/notebook/test_browser.py"]
    if subprocess.run(test, cwd=ROOT).returncode != 0:
        print("the browser test failed; docs/img left as it was", file=sys.stderr)
        return 1
    missing = [name for name in SHOTS if not (source / name).is_file()]
    if missing:
        print(f"no screenshots were taken ({', '.join(missing)}): was the test skipped?")
        return 1
    target = ROOT / "docs" / "img"
    target.mkdir(parents=True, exist_ok=True)
    for name in SHOTS:
        shutil.copyfile(source / name, target / name)
        print(f"docs/img/{name} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
