"""MSAL Python (ConfidentialClientApplication) against Ostiary: secret and certificate credentials."""

from __future__ import annotations

import jwt
import msal
import pytest
import requests

from conftest import Interop


class RecordingSession(requests.Session):
    """A requests session that remembers the form bodies MSAL posts (to inspect client assertions)."""

    def __init__(self) -> None:
        super().__init__()
        self.posted: list[tuple[str, dict]] = []

    def post(self, url, data=None, **kwargs):  # type: ignore[override]
        self.posted.append((url, dict(data or {})))
        return super().post(url, data=data, **kwargs)


def test_client_secret_and_cache(ctx: Interop):
    app = msal.ConfidentialClientApplication(
        ctx.client_app_id,
        client_credential=ctx.secret,
        authority=ctx.authority,
        instance_discovery=False,
    )
    result = app.acquire_token_for_client([ctx.scope])
    assert "access_token" in result, result
    assert result.get("token_type", "").lower() == "bearer"
    assert result.get("token_source") == "identity_provider"

    claims = ctx.verify(result["access_token"])
    ctx.assert_app_token(claims, azpacr="1")
    assert jwt.get_unverified_header(result["access_token"])["alg"] == "RS256"

    again = app.acquire_token_for_client([ctx.scope])
    assert again.get("token_source") == "cache", again
    assert again["access_token"] == result["access_token"]


@pytest.mark.parametrize(
    "variant,alg,thumb_header",
    [("public_certificate", "PS256", "x5t#S256"), ("thumbprint", "RS256", "x5t")],
)
def test_certificate(ctx: Interop, variant: str, alg: str, thumb_header: str):
    if variant == "public_certificate":
        credential = {"private_key": ctx.key_pem, "public_certificate": ctx.cert_pem}
    else:
        credential = {"private_key": ctx.key_pem, "thumbprint": ctx.thumbprint_sha1_hex}
    session = RecordingSession()
    app = msal.ConfidentialClientApplication(
        ctx.client_app_id,
        client_credential=credential,
        authority=ctx.authority,
        instance_discovery=False,
        http_client=session,
    )
    result = app.acquire_token_for_client([ctx.scope])
    assert "access_token" in result, result
    claims = ctx.verify(result["access_token"])
    ctx.assert_app_token(claims, azpacr="2")

    # Make sure the client really used the assertion flavour this test is about.
    assertions = [d["client_assertion"] for _, d in session.posted if "client_assertion" in d]
    assert len(assertions) == 1
    header = jwt.get_unverified_header(assertions[0])
    assert header["alg"] == alg and thumb_header in header, header
    assert "client_secret" not in session.posted[-1][1]
