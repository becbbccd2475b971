"""The Quotation and Configurator APIs from a cell: PDFs saved, never printed; the APIs
described from the descriptions the package ships."""

from __future__ import annotations

import json

import pytest
from IPython.utils.capture import capture_output

from elfsquad_magic import apispec
from elfsquad_magic.errors import UsageError

CONFIGURATOR = "/configurator/3/configurator"


@pytest.fixture
def logged_in(ip, sandbox_env):
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
    return ip


def test_a_pdf_goes_to_the_file_named_by_o(logged_in, sandbox, tmp_path) -> None:
    configuration = sandbox.rows("Configurations")[0]
    target = tmp_path / "configuration.pdf"
    with capture_output() as shown:
        result = logged_in.run_line_magic(
            "elfsquad", f"-o {target} GET {CONFIGURATOR}/{configuration['id']}/pdf"
        )
    assert result is None
    assert target.read_bytes().startswith(b"%PDF-")
    assert f"Saved {target.stat().st_size:,} bytes to {target}" in shown.stdout
    assert "%PDF" not in shown.stdout


def test_a_pdf_as_the_cells_value_shows_a_summary(logged_in, sandbox) -> None:
    configuration = sandbox.rows("Configurations")[0]
    with capture_output() as shown:
        outcome = logged_in.run_cell(f"%elfsquad GET {CONFIGURATOR}/{configuration['id']}/pdf")
    outcome.raise_error()
    assert "PDF document of" in shown.stdout and "%PDF" not in shown.stdout
    assert outcome.result.startswith(b"%PDF-")


def test_o_with_a_file_name_refuses_a_dataframe(logged_in, tmp_path) -> None:
    with pytest.raises(UsageError, match="writes a document"):
        logged_in.run_line_magic("elfsquad", f"-o {tmp_path / 'vats.pdf'} GET /data/1/vats")
    assert not (tmp_path / "vats.pdf").exists()


def _shipped_operations(api: str) -> list[tuple[str, str]]:
    """(METHOD, path template) of every operation, read from the shipped file directly."""
    with open(apispec.__path__[0] + f"/{api}_api.json", encoding="utf-8") as handle:
        paths = json.load(handle)["paths"]
    methods = ("get", "put", "post", "delete", "patch")
    return sorted((m.upper(), p) for p, item in paths.items() for m in item if m in methods)


def test_describe_lists_the_operations_of_an_api(ip) -> None:
    frame = ip.run_line_magic("elfsquad_describe", "/quotation/1")
    assert sorted(zip(frame["method"], frame["path"], strict=True)) == _shipped_operations(
        "quotation"
    )
    configurator = ip.run_line_magic("elfsquad_describe", "configurator")
    expected = [(m, p.replace("{version}", "3")) for m, p in _shipped_operations("configurator")]
    assert sorted(zip(configurator["method"], configurator["path"], strict=True)) == expected


def test_describe_of_one_path_shows_its_parameters_body_and_answer(ip) -> None:
    frame = ip.run_line_magic("elfsquad_describe", "/quotation/1/quotations/abc/invoke")
    by_part = frame.groupby("part")["name"].apply(list).to_dict()
    assert by_part["path"] == ["quotationId"]
    assert "actionId" in by_part["body"]
    new = ip.run_line_magic("elfsquad_describe", f"{CONFIGURATOR}/new/E-Bike")
    assert "startupRequirements" in new.loc[new["part"] == "body", "name"].tolist()
    assert "version" not in new["name"].tolist()
    with pytest.raises(UsageError, match="no path like"):
        ip.run_line_magic("elfsquad_describe", "/quotation/1/nowhere")
