"""The Binder recipe is complete and consistent with the package.

Building it for real (a new environment from only binder/, then running the notebooks) takes
minutes and downloads packages: that is `bash scripts/check_binder.sh`, run by hand.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli on 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
# What repo2docker reads from binder/; anything else there would be silently ignored.
REPO2DOCKER_FILES = {
    "apt.txt",
    "environment.yml",
    "requirements.txt",
    "runtime.txt",
    "postBuild",
    "start",
    "setup.py",
    "Project.toml",
    "install.R",
    "DESCRIPTION",
}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements() -> list[Requirement]:
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    return [Requirement(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()]


def test_binder_holds_only_files_repo2docker_reads():
    names = {p.name for p in BINDER.iterdir()}
    assert names <= REPO2DOCKER_FILES, names - REPO2DOCKER_FILES
    assert {"requirements.txt", "postBuild", "runtime.txt"} <= names


def test_runtime_python_satisfies_the_package():
    match = re.fullmatch(r"python-(\d+\.\d+)\s*", (BINDER / "runtime.txt").read_text())
    assert match, "runtime.txt must read python-X.Y"
    assert match.group(1) in SpecifierSet(_pyproject()["project"]["requires-python"])


def test_requirements_bring_everything_the_notebooks_need_beyond_the_package():
    names = {canonicalize_name(r.name) for r in _requirements()}
    lab_extra = _pyproject()["project"]["optional-dependencies"]["lab"]
    for spec in lab_extra:
        assert canonicalize_name(Requirement(spec).name) in names, spec
    # The package itself comes from postBuild (from this checkout), not from an index.
    assert "elfsquad-magic" not in names


def test_post_build_installs_this_checkout_and_stops_on_error():
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK), "postBuild must be executable"
    text = post_build.read_text()
    assert text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/bash")
    assert "set -e" in text  # repo2docker does not stop on a failing command otherwise
    assert re.search(r"pip install\b[^\n]*\s(-e\s+)?\.(\s|$)", text), "must install the repo"
    subprocess.run(["bash", "-n", str(post_build)], check=True)


def _docs_extension():
    import importlib
    import sys

    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        return importlib.import_module("elfsquad_reference")
    finally:
        sys.path.pop(0)


def test_the_badge_is_made_from_the_repository_in_project_urls(tmp_path):
    ext = _docs_extension()
    link = ext.binder_url("https://github.com/someone/elfsquad-magic")
    assert link == (
        "https://mybinder.org/v2/gh/someone/elfsquad-magic/HEAD"
        "?urlpath=lab/tree/notebooks/01-getting-started.ipynb"
    )
    target = re.search(r"urlpath=lab/tree/([^)&\s]+)", link)
    assert target and (ROOT / target.group(1)).is_file()
    assert ext.binder_url("https://gitlab.com/a/b") is None  # Binder's gh/ scheme only
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\n[project.urls]\nRepository = "https://github.com/o/r.git"\n'
    )
    assert ext.repository_url(pyproject) == "https://github.com/o/r.git"
    assert "mybinder.org/v2/gh/o/r/HEAD" in ext.binder_lines(ext.repository_url(pyproject))[0]


def test_without_a_public_home_no_placeholder_badge_is_shown():
    ext = _docs_extension()
    page = (ROOT / "docs" / "getting-started.md").read_text()
    assert "{elfsquad-binder}" in page and "OWNER" not in page
    assert "OWNER" not in (ROOT / "README.md").read_text()
    if ext.repository_url() is None:
        assert "[project.urls]" in " ".join(ext.binder_lines(None))


def test_check_script_rebuilds_what_binder_builds():
    check = ROOT / "scripts" / "check_binder.sh"
    subprocess.run(["bash", "-n", str(check)], check=True)
    assert "binder/requirements.txt" in check.read_text()
    assert "binder/postBuild" in check.read_text()
