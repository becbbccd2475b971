"""What a leak test searches for: the client secrets and SCIM tokens of the sandbox's tenants
and every token it issued."""

from __future__ import annotations

from elfsquad_magic.sandbox import Sandbox


def secrets_of(sb: Sandbox) -> list[str]:
    """Every string that must never be shown: each tenant's client secret and SCIM token and
    every access token issued."""
    kept = [text for spec in sb.tenants for text in (spec.client_secret, spec.scim_token)]
    return [*kept, *sb.issued_tokens]
