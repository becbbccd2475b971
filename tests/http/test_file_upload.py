"""The Quotation API's addfile: a local file sent as multipart/form-data, stored by the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from clients import make_client

from elfsquad_magic.errors import UsageError

PDF = b"%PDF-1.4\n% a small offer\n\x00\xff binary part\n%%EOF\n"


def test_a_file_is_uploaded_with_its_name_type_and_bytes(fresh_sandbox, tmp_path: Path) -> None:
    offer = tmp_path / "offer 12.pdf"
    offer.write_bytes(PDF)
    quotation = fresh_sandbox.rows("Quotations")[0]["id"]
    client = make_client(fresh_sandbox)
    answer = client.post(f"/quotation/1/quotations/{quotation}/addfile", file=offer)
    assert answer["fileName"][0] == "offer 12.pdf" and answer["size"][0] == len(PDF)
    [stored] = fresh_sandbox.uploaded_files
    assert stored["quotationId"] == quotation
    assert (stored["fileName"], stored["contentType"]) == ("offer 12.pdf", "application/pdf")
    assert stored["content"] == PDF


@pytest.mark.parametrize(
    ("method", "json"),
    [("GET", None), ("DELETE", None), ("POST", {"a": 1})],
)
def test_a_file_goes_alone_with_post_or_put(sandbox, tmp_path: Path, method, json) -> None:
    offer = tmp_path / "a.pdf"
    offer.write_bytes(PDF)
    client = make_client(sandbox)
    with pytest.raises(UsageError, match="A file is sent on its own"):
        client.request(method, "/quotation/1/quotations/x/addfile", json=json, file=offer)


def test_a_missing_file_is_named(sandbox, tmp_path: Path) -> None:
    client = make_client(sandbox)
    with pytest.raises(UsageError, match="cannot be read") as caught:
        client.post("/quotation/1/quotations/x/addfile", file=tmp_path / "nope.pdf")
    assert "nope.pdf" in str(caught.value)
