"""What a leak test searches for: the sandbox's client secret, its SCIM token and every token it
issued."""

from __future__ import annotations

from elfsquad_magic.sandbox import Sandbox


def secrets_of(sb: Sandbox) -> list[str]:
    """Every string that must never be shown: the client secret, the SCIM token and every
    access token issued."""
    return [sb.client_secret, sb.scim_token, *sb.issued_tokens]
