"""Two tenants on one host (as at Elfsquad: a test and a production tenant, one API address),
two connections in one kernel: each reads and writes its own tenant, each has its own mirror,
pace and journal, a diff between them is right, and no secret or token shows anywhere."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.utils.capture import capture_output
from leakcheck import secrets_of

from elfsquad_magic.core.connections import Connection, ConnectionsFile
from elfsquad_magic.errors import NotLoggedInError, UsageError
from elfsquad_magic.sandbox import Sandbox, TenantSpec


@pytest.fixture
def one_host(memory_keyring, ip, tmp_path) -> Iterator[Sandbox]:
    """A host serving "test" (the default tenant) and "prod", both seeded alike, saved as two
    connections; mirrors and journals in the test's own folder."""
    prod = TenantSpec("prod", "prod-client", seed=42)
    with Sandbox(scale=1, seed=42, tenants=[prod]) as sb:
        for name, tenant in (("test", sb.tenant()), ("prod", sb.tenant("prod"))):
            connection = Connection(
                name, tenant.client_id, login_url=sb.login_url, api_url=sb.api_url
            )
            ConnectionsFile().add(connection, secret=tenant.client_secret)
        ip.run_line_magic("config", f"ElfsquadMagic.mirror_dir = {str(tmp_path)!r}")
        yield sb


def run(ip, outputs: list[str], magic: str, line: str):
    with capture_output() as out:
        result = ip.run_line_magic(magic, line)
    outputs += [out.stdout, out.stderr, repr(result)]
    return result


def test_two_connections_to_one_host_stay_apart(ip, one_host, tmp_path) -> None:
    sb = one_host
    outputs: list[str] = []
    run(ip, outputs, "elfsquad_login", "-c test")
    run(ip, outputs, "elfsquad_login", "-c prod")
    row = sb.tenant("prod").rows("Vats")[0]
    ip.user_ns["body"] = {"name": "Changed in prod"}
    run(ip, outputs, "elfsquad", f"-c prod --json body PATCH /data/1/vats({row['id']})")
    # Each connection reads its own tenant (the same ids: the tenants were seeded alike), and
    # each request carries its own connection's token: the host counts whose came.
    before = Counter(sb.stats)
    test_names = run(ip, outputs, "elfsquad", "-c test GET /data/1/vats")["name"].tolist()
    middle = Counter(sb.stats)
    prod_names = run(ip, outputs, "elfsquad", "-c prod GET /data/1/vats")["name"].tolist()
    after = Counter(sb.stats)
    assert middle["requests_of:default"] > before["requests_of:default"]
    assert middle["requests_of:prod"] == before["requests_of:prod"]
    assert after["requests_of:prod"] > middle["requests_of:prod"]
    assert after["requests_of:default"] == middle["requests_of:default"]
    assert test_names == [r["name"] for r in sb.rows("Vats")]
    assert prod_names == [r["name"] for r in sb.tenant("prod").rows("Vats")]
    assert "Changed in prod" in prod_names and "Changed in prod" not in test_names
    # The diff, checked against the rows of both tenants.
    frame = run(ip, outputs, "elfsquad_diff", "test prod Vats")
    expected = [
        [t["id"], name, t[name], p[name]]
        for t, p in zip(sb.rows("Vats"), sb.tenant("prod").rows("Vats"), strict=True)
        for name in t
        if name not in ("updatedDate", "updatedBy") and t[name] != p[name]
    ]
    assert len(expected) == 1  # the name; updatedDate differs too, and a diff leaves it out
    assert frame[["id", "property", "test", "prod"]].values.tolist() == expected
    # Each has a mirror of its own, holding its own tenant's rows.
    synced = {
        name: run(ip, outputs, "elfsquad", f"-c {name} --sync GET /data/1/vats")["name"].tolist()
        for name in ("test", "prod")
    }
    assert synced == {"test": test_names, "prod": prod_names}
    parquet = sorted(Path(tmp_path).rglob("*.parquet"))
    assert len({path.parent for path in parquet}) >= 2
    # The journal of prod's write is prod's only.
    assert run(ip, outputs, "elfsquad_journal", "-c test").empty
    assert len(run(ip, outputs, "elfsquad_journal", "-c prod")) == 1
    # A logout of one leaves the other.
    run(ip, outputs, "elfsquad_logout", "-c prod")
    with pytest.raises(NotLoggedInError):
        ip.run_line_magic("elfsquad", "-c prod GET /data/1/vats")
    assert len(run(ip, outputs, "elfsquad", "-c test GET /data/1/vats")) == len(test_names)
    # No secret or token of either tenant anywhere: outputs, mirrors, journals, pace, history.
    folders = [tmp_path, *(os.environ[f"ELFSQUAD_{k}_DIR"] for k in ("JOURNAL", "PACE"))]
    files = [p.read_bytes() for folder in folders for p in Path(folder).rglob("*") if p.is_file()]
    history = "\n".join(ip.history_manager.input_hist_raw)
    for secret in secrets_of(sb):
        assert all(secret not in text for text in outputs) and secret not in history
        assert all(secret.encode() not in content for content in files)


def test_a_model_diff_from_the_magic(ip, one_host) -> None:
    outputs: list[str] = []
    run(ip, outputs, "elfsquad_login", "-c test")
    run(ip, outputs, "elfsquad_login", "-c prod")
    models = run(ip, outputs, "elfsquad_view", "-c test model")
    name = next(n for n in models["rootName"] if " " in n)  # a name the line must quote
    tree = run(ip, outputs, "elfsquad_view", f'-c prod model "{name}"')
    leaf = tree.iloc[-1]
    ip.user_ns["body"] = {"name": "Renamed in prod"}
    run(ip, outputs, "elfsquad", f"-c prod --json body PATCH /data/1/Features({leaf.featureId})")
    frame = run(ip, outputs, "elfsquad_diff", f'test prod --model "{name}" -o model_diff')
    renamed = tree["path"].iloc[-1].rsplit(" / ", 1)[0] + " / Renamed in prod"
    assert set(zip(frame["change"], frame["path"], strict=True)) == {
        ("only in test", tree["path"].iloc[-1]),
        ("only in prod", renamed),
    }
    assert f"Model {name}: {len(tree) - 1:,} nodes in both, 1 only in test, 1 only in prod" in (
        "".join(outputs)
    )
    assert ip.user_ns["model_diff"] is frame
    with pytest.raises(UsageError, match="not both"):
        ip.run_line_magic("elfsquad_diff", f"test prod Features --model {name!r}")
    with pytest.raises(UsageError, match="not both"):
        ip.run_line_magic("elfsquad_diff", "test prod")
    with pytest.raises(UsageError, match="In test: There is no feature model 'Unicycle'"):
        ip.run_line_magic("elfsquad_diff", "test prod --model Unicycle")
