"""Several tenants on one host: each client's token reaches its own tenant's data only, through
every API (Data, Quotation, Configurator, SCIM), over plain ``requests``."""

from __future__ import annotations

import uuid

import pytest
import requests

from elfsquad_magic.sandbox import Sandbox, TenantSpec
from elfsquad_magic.sandbox.seed import generate_tenant

GLOBEX = TenantSpec("globex", "globex-client", seed=7)


@pytest.fixture(scope="module")
def two_tenants():
    """The default tenant (seed 42) and globex (seed 7) on one host; the tests may write."""
    with Sandbox(scale=1, seed=42, tenants=[GLOBEX]) as sb:
        yield sb


def token(sb: Sandbox, client_id: str, client_secret: str) -> requests.Response:
    return requests.post(
        f"{sb.login_url}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": "Elfskot.Api",
        },
        timeout=10,
    )


def session(sb: Sandbox, tenant: str) -> requests.Session:
    spec = sb.tenant(tenant)
    reply = token(sb, spec.client_id, spec.client_secret)
    reply.raise_for_status()
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
    return s


def ids(sb: Sandbox, s: requests.Session, entity_set: str) -> set[str]:
    reply = s.get(f"{sb.url}/data/1/{entity_set}", params={"$select": "id", "$top": 5000})
    reply.raise_for_status()
    return {row["id"] for row in reply.json()["value"]}


def test_each_token_reads_its_own_tenants_data(two_tenants) -> None:
    sb = two_tenants
    default, globex = session(sb, "default"), session(sb, "globex")
    expected_default = {row["id"] for row in generate_tenant(1, 42)["Features"]}
    expected_globex = {row["id"] for row in generate_tenant(1, 7)["Features"]}
    assert expected_default != expected_globex
    assert ids(sb, default, "Features") == expected_default
    assert ids(sb, globex, "Features") == expected_globex


def test_a_client_id_with_another_tenants_secret_gets_no_token(two_tenants) -> None:
    sb = two_tenants
    reply = token(sb, GLOBEX.client_id, sb.client_secret)
    assert reply.status_code == 401 and reply.json()["error"] == "invalid_client"
    assert token(sb, "nobody", GLOBEX.client_secret).status_code == 401


def test_a_write_through_one_tenant_leaves_the_other_alone(two_tenants) -> None:
    sb = two_tenants
    globex = session(sb, "globex")
    [feature] = sb.tenant("globex").rows("Features")[:1]
    reply = globex.patch(
        f"{sb.url}/data/1/Features({feature['id']})", json={"name": "Globex only"}, timeout=10
    )
    assert reply.status_code in (200, 204)
    assert {r["name"] for r in sb.tenant("globex").rows("Features")} >= {"Globex only"}
    assert "Globex only" not in {r["name"] for r in sb.rows("Features")}
    # The default tenant's token does not even find the record.
    missing = session(sb, "default").get(f"{sb.url}/data/1/Features({feature['id']})")
    assert missing.status_code == 404


def test_the_quotation_and_configurator_apis_follow_the_token(two_tenants) -> None:
    sb = two_tenants
    globex, default = session(sb, "globex"), session(sb, "default")
    json_only = {"Accept": "application/json"}
    created = globex.post(
        f"{sb.url}/quotation/1/quotations", json={"subject": "Globex fleet"}, headers=json_only
    )
    assert created.status_code in (200, 201)
    assert "Globex fleet" in {q["subject"] for q in sb.tenant("globex").rows("Quotations")}
    assert "Globex fleet" not in {q["subject"] for q in sb.rows("Quotations")}
    victim = sb.tenant("globex").rows("Quotations")[0]
    refused = default.delete(f"{sb.url}/quotation/1/quotations/{victim['id']}")
    assert refused.status_code == 404
    assert victim["id"] in {q["id"] for q in sb.tenant("globex").rows("Quotations")}
    for tenant, s, seed in (("globex", globex, 7), ("default", default, 42)):
        models = s.get(
            f"{sb.url}/configurator/3/configurator/configurationmodels", headers=json_only
        )
        listed = {f["featureModelId"] for f in models.json()["features"]}
        shown = {m["id"] for m in generate_tenant(1, seed)["FeatureModels"]}
        hidden = {m["id"] for m in generate_tenant(1, seed)["FeatureModels"] if m["hideInShowroom"]}
        assert listed == shown - hidden, tenant
    upload = globex.post(
        f"{sb.url}/quotation/1/quotations/{victim['id']}/addfile",
        files={"file": ("offer.txt", b"hello", "text/plain")},
    )
    assert upload.status_code == 200
    assert [f["fileName"] for f in sb.tenant("globex").files] == ["offer.txt"]
    assert sb.uploaded_files == []
    elsewhere = default.post(
        f"{sb.url}/quotation/1/quotations/{victim['id']}/addfile",
        files={"file": ("offer.txt", b"hello", "text/plain")},
    )
    assert elsewhere.status_code == 404


def test_each_scim_token_lists_its_own_tenants_users(two_tenants) -> None:
    sb = two_tenants
    for tenant, seed in (("default", 42), ("globex", 7)):
        reply = requests.get(
            f"{sb.url}/scim/2/Users",
            params={"count": 1000},
            headers={"Authorization": f"Bearer {sb.tenant(tenant).scim_token}"},
            timeout=10,
        )
        reply.raise_for_status()
        expected = {row["id"] for row in generate_tenant(1, seed)["Users"]}
        assert {user["id"] for user in reply.json()["Resources"]} == expected
    unknown = requests.get(
        f"{sb.url}/scim/2/Users", headers={"Authorization": f"Bearer {uuid.uuid4()}"}, timeout=10
    )
    assert unknown.status_code == 401


def test_tenants_need_names_and_client_ids_of_their_own() -> None:
    with pytest.raises(ValueError, match="names must differ"):
        Sandbox(tenants=[TenantSpec("default", "other-client")])
    with pytest.raises(ValueError, match="already a tenant"):
        Sandbox(tenants=[TenantSpec("acme", "demo-client")])
    assert "secret" not in repr(GLOBEX).lower() and GLOBEX.client_secret not in repr(GLOBEX)


def test_the_command_line_adds_tenants_by_name_and_seed() -> None:
    from elfsquad_magic.sandbox.__main__ import build_parser, sandbox_from

    args = build_parser().parse_args(["--port", "0", "--tenant", "prod", "--tenant", "acme:7"])
    sb = sandbox_from(args)
    assert [(t.name, t.client_id, t.seed) for t in sb.tenants] == [
        ("default", "demo-client", 42),
        ("prod", "prod-client", 42),
        ("acme", "acme-client", 7),
    ]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--tenant", "acme:seven"])
    with pytest.raises(ValueError, match="names must differ"):
        sandbox_from(build_parser().parse_args(["--tenant", "prod", "--tenant", "prod"]))
