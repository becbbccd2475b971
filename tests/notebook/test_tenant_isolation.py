"""Two connections in one kernel never mix: each one's token goes only with its own requests,
to its own host; a link or a redirect to the other host is refused; a logout leaves the other.

Recording servers stand in for two tenants' login and API hosts; the secrets and tokens are
searched for in everything the other side received and in every output.
"""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from IPython.utils.capture import capture_output
from scripted import Reply, ScriptedServer, json_reply, page

from elfsquad_magic.core.connections import Connection, ConnectionsFile
from elfsquad_magic.errors import ElfsquadError, InsecureURLError, NotLoggedInError


class Tenant:
    """A login host and an API host of one tenant, with a secret and tokens of its own."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.secret = f"{name}-secret-0123456789abcdef"
        self.login, self.api = ScriptedServer(), ScriptedServer()
        self.issued: list[str] = []
        self.login.routes["/oauth2/token"] = self._token

    def _token(self, server: ScriptedServer, handler: BaseHTTPRequestHandler) -> Reply:
        token = f"{self.name}-token-{len(self.issued)}-fedcba9876543210"
        self.issued.append(token)
        return json_reply({"access_token": token, "expires_in": 3600})

    def close(self) -> None:
        self.login.close()
        self.api.close()


@pytest.fixture
def tenants(memory_keyring) -> Iterator[tuple[Tenant, Tenant]]:
    first, second = Tenant("alpha"), Tenant("beta")
    for tenant, other in ((first, second), (second, first)):
        tenant.api.routes["/data/1/vats"] = lambda s, h, t=tenant: page([{"tenant": t.name}])
        tenant.api.routes["/data/1/leaky"] = lambda s, h, o=other: page(
            [{"n": 1}], f"{o.api.url}/data/1/vats?$skip=1"
        )
        tenant.api.routes["/data/1/moved"] = lambda s, h, o=other: (
            302,
            {"Location": f"{o.api.url}/data/1/vats"},
            b"",
        )
        ConnectionsFile().add(
            Connection(
                tenant.name,
                f"{tenant.name}-client",
                login_url=tenant.login.url,
                api_url=tenant.api.url,
            ),
            secret=tenant.secret,
        )
    yield first, second
    first.close()
    second.close()


def test_each_connection_sends_only_its_own_token_to_its_own_host(ip, tenants) -> None:
    alpha, beta = tenants
    outputs = []
    with capture_output() as out:
        ip.run_line_magic("elfsquad_login", "-c alpha")
        ip.run_line_magic("elfsquad_login", "-c beta")
        outputs.append(repr(ip.run_line_magic("elfsquad", "-c alpha GET /data/1/vats")))
        outputs.append(repr(ip.run_line_magic("elfsquad", "GET /data/1/vats")))
    outputs.append(out.stdout)
    for tenant in (alpha, beta):
        with pytest.raises(InsecureURLError) as link:
            ip.run_line_magic("elfsquad", f"-c {tenant.name} GET /data/1/leaky")
        with pytest.raises(ElfsquadError, match="redirected") as moved:
            ip.run_line_magic("elfsquad", f"-c {tenant.name} GET /data/1/moved")
        outputs += [str(link.value), str(moved.value)]
    frame = ip.run_line_magic("elfsquad_connections", "")
    outputs.append(frame.to_string())
    for tenant, other in ((alpha, beta), (beta, alpha)):
        sent = [r["headers"].get("Authorization", "") for r in tenant.api.requests]
        assert sent and all(s in {f"Bearer {t}" for t in tenant.issued} for s in sent)
        for request in tenant.api.requests + tenant.login.requests:
            seen = repr(request)
            assert other.secret not in seen and not any(t in seen for t in other.issued)
        assert not any(other.secret in text for text in outputs)
        assert not any(token in text for text in outputs for token in tenant.issued)
        assert tenant.secret not in "".join(outputs)


def test_logging_out_of_one_leaves_the_other(ip, tenants) -> None:
    alpha, beta = tenants
    with capture_output():
        ip.run_line_magic("elfsquad_login", "-c alpha")
        ip.run_line_magic("elfsquad_login", "-c beta")
        ip.run_line_magic("elfsquad_logout", "-c alpha")
    with pytest.raises(NotLoggedInError, match="'alpha'"):
        ip.run_line_magic("elfsquad", "-c alpha GET /data/1/vats")
    before = len(alpha.api.requests)
    assert ip.run_line_magic("elfsquad", "-c beta GET /data/1/vats")["tenant"].tolist() == ["beta"]
    assert len(alpha.api.requests) == before
