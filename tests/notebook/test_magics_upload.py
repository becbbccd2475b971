"""`%elfsquad --file PATH`: a file upload from the magic line."""

from __future__ import annotations

from pathlib import Path


def test_the_magic_uploads_with_file(ip, fresh_sandbox, monkeypatch, tmp_path: Path) -> None:
    from clients import export_login

    export_login(monkeypatch, fresh_sandbox)
    ip.run_line_magic("elfsquad_login", "")
    sheet = tmp_path / "prices.csv"
    sheet.write_text("name;price\nLamp;12.5\n", encoding="utf-8")
    ip.user_ns["quotation_id"] = fresh_sandbox.rows("Quotations")[1]["id"]
    answer = ip.run_line_magic(
        "elfsquad", f"--file {sheet} POST /quotation/1/quotations/{{{{quotation_id}}}}/addfile"
    )
    assert answer["fileName"][0] == "prices.csv"
    [stored] = fresh_sandbox.uploaded_files
    assert stored["contentType"] == "text/csv" and stored["content"] == sheet.read_bytes()
