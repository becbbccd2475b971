"""`--dry-run`, `--preview`, `%elfsquad_journal` and `%elfsquad_undo` in an IPython shell,
against a private sandbox over HTTP, with the journal in a folder of the test's own."""

from __future__ import annotations

import pandas as pd
import pytest
from clients import export_login
from IPython.utils.capture import capture_output

from elfsquad_magic.errors import JournalError, UsageError


@pytest.fixture
def shell(ip, fresh_sandbox, monkeypatch, tmp_path):
    export_login(monkeypatch, fresh_sandbox)
    ip.run_line_magic("config", f"ElfsquadMagic.journal_dir = {str(tmp_path)!r}")
    with capture_output():
        ip.run_line_magic("elfsquad_login", "")
    return ip


def run(ip, line: str, body: str = ""):
    with capture_output() as captured:
        result = (
            ip.run_cell_magic("elfsquad", line, body)
            if body
            else ip.run_line_magic("elfsquad", line)
        )
    return result, captured.stdout


def writes(sb) -> int:
    return sb.stats["api_writes"]


def test_dry_run_prints_and_sends_nothing(shell, fresh_sandbox) -> None:
    key = fresh_sandbox.rows("Features")[0]["id"]
    before = writes(fresh_sandbox)
    result, said = run(shell, f"--dry-run PATCH /data/1/features({key})", '{"salesPrice": 2.5}')
    assert result is None
    assert "Dry run - nothing was sent: PATCH" in said and '"salesPrice": 2.5' in said
    result, said = run(shell, "--dry-run GET /data/1/features?$filter=name eq 'a b'")
    assert "$filter=name eq 'a b'" in said  # decoded
    assert writes(fresh_sandbox) == before


def test_preview_returns_the_change(shell, fresh_sandbox) -> None:
    row = fresh_sandbox.rows("Features")[0]
    before = writes(fresh_sandbox)
    change, _ = run(
        shell, f"--preview -o change PATCH /data/1/features({row['id']})", '{"salesPrice": 2.5}'
    )
    assert list(change.columns) == ["change", "key", "property", "before", "after"]
    assert change.iloc[0].to_dict() == {
        "change": "update",
        "key": row["id"],
        "property": "salesPrice",
        "before": row["salesPrice"],
        "after": 2.5,
    }
    assert shell.user_ns["change"] is change
    assert writes(fresh_sandbox) == before
    with pytest.raises(UsageError, match="cannot be combined"):
        run(shell, f"--preview --dry-run DELETE /data/1/features({row['id']})")


def test_bulk_write_from_a_dataframe_then_journal_and_undo(shell, fresh_sandbox) -> None:
    original = {r["id"]: r["quantity"] for r in fresh_sandbox.rows("QuotationLines")}
    lines, _ = run(shell, "GET /data/1/quotationlines?$top=800&$select=id,quantity")
    shell.user_ns["changed"] = lines.assign(quantity=lines["quantity"] + 10)
    shell.run_line_magic("config", "ElfsquadMagic.bulk_size = 300")
    result, said = run(shell, "--json changed POST /data/1/quotationlines/BulkUpdate")
    assert result is None and "204" in said
    now = {r["id"]: r["quantity"] for r in fresh_sandbox.rows("QuotationLines")}
    assert all(now[k] == original[k] + 10 for k in lines["id"])
    with capture_output():
        journal = shell.run_line_magic("elfsquad_journal", "")
    assert isinstance(journal, pd.DataFrame)
    assert journal[["method", "records", "outcome", "undone"]].to_dict("records") == [
        {"method": "POST", "records": 800, "outcome": "applied", "undone": False}
    ]
    with capture_output() as captured:
        assert shell.run_line_magic("elfsquad_undo", "--dry-run") is None
    assert "Undo of write" in captured.stdout and "BulkUpdate" in captured.stdout
    with capture_output():
        preview = shell.run_line_magic("elfsquad_undo", "--preview")
    assert len(preview) == 800
    with capture_output() as captured:
        shell.run_line_magic("elfsquad_undo", "")
    assert "800 record(s) restored" in captured.stdout
    now = {r["id"]: r["quantity"] for r in fresh_sandbox.rows("QuotationLines")}
    assert now == original
    with pytest.raises(JournalError, match="no write to undo"):
        shell.run_line_magic("elfsquad_undo", "")


def test_undo_options_are_checked(shell) -> None:
    with pytest.raises(UsageError, match="cannot be combined"):
        shell.run_line_magic("elfsquad_undo", "--dry-run --preview")
    with pytest.raises(UsageError, match="unknown option --nope"):
        shell.run_line_magic("elfsquad_undo", "--nope")
    with pytest.raises(JournalError, match="no write abc"):
        shell.run_line_magic("elfsquad_undo", "abc")
