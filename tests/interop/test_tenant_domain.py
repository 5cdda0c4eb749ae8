"""The tenant can be named by its domain; tokens still carry the tenant GUID."""

from __future__ import annotations

import asyncio

import msal
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential

from conftest import Interop, post_token


def test_discovery_by_domain_names_the_guid(ctx: Interop):
    d = ctx.discovery(ctx.tenant_domain)
    assert d["issuer"] == ctx.issuer
    # MSAL takes the cache realm from the token endpoint's first path segment (Entra returns the GUID).
    assert d["token_endpoint"] == f"{ctx.base}/{ctx.tenant_id}/oauth2/v2.0/token"


def test_msal_domain_authority(ctx: Interop):
    app = msal.ConfidentialClientApplication(
        ctx.client_app_id,
        client_credential=ctx.secret,
        authority=f"{ctx.base}/{ctx.tenant_domain}",
        instance_discovery=False,
    )
    result = app.acquire_token_for_client([ctx.scope])
    assert "access_token" in result, result
    ctx.assert_app_token(ctx.verify(result["access_token"]), azpacr="1")


def test_token_endpoint_by_domain(ctx: Interop):
    r = post_token(
        ctx.http,
        ctx.base,
        ctx.tenant_domain,
        {
            "grant_type": "client_credentials",
            "client_id": ctx.client_app_id,
            "client_secret": ctx.secret,
            "scope": ctx.scope,
        },
    )
    assert r.status_code == 200, r.text
    ctx.assert_app_token(ctx.verify(r.json()["access_token"]), azpacr="1")


def test_basic_auth_by_domain(ctx: Interop):
    r = post_token(
        ctx.http,
        ctx.base,
        ctx.tenant_domain,
        {"grant_type": "client_credentials", "scope": ctx.scope},
        auth=(ctx.client_app_id, ctx.secret),
    )
    assert r.status_code == 200, r.text
    ctx.assert_app_token(ctx.verify(r.json()["access_token"]), azpacr="1")


def test_async_credential_domain(ctx: Interop):
    async def run() -> str:
        async with AsyncClientSecretCredential(
            ctx.tenant_domain,
            ctx.client_app_id,
            ctx.secret,
            authority=ctx.base,
            disable_instance_discovery=True,
        ) as cred:
            return (await cred.get_token(ctx.scope)).token

    ctx.assert_app_token(ctx.verify(asyncio.run(run())), azpacr="1")
