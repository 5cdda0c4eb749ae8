"""azure-identity credentials (sync ones wrap MSAL; the aio one posts straight to the token endpoint)."""

from __future__ import annotations

import asyncio
import time

from azure.identity import CertificateCredential, ClientSecretCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential

from conftest import Interop


def test_client_secret_credential(ctx: Interop):
    cred = ClientSecretCredential(
        ctx.tenant_id,
        ctx.client_app_id,
        ctx.secret,
        authority=ctx.base,
        disable_instance_discovery=True,
    )
    token = cred.get_token(ctx.scope)
    assert token.expires_on > time.time() + 60
    ctx.assert_app_token(ctx.verify(token.token), azpacr="1")


def test_certificate_credential(ctx: Interop):
    cred = CertificateCredential(
        ctx.tenant_id,
        ctx.client_app_id,
        certificate_path=ctx.cert_with_key_path,
        authority=ctx.base,
        disable_instance_discovery=True,
    )
    token = cred.get_token(ctx.scope)
    ctx.assert_app_token(ctx.verify(token.token), azpacr="2")


def test_async_client_secret_credential(ctx: Interop):
    """azure.identity.aio does no discovery: POST {authority}/{tenant}/oauth2/v2.0/token (aiohttp, SSL_CERT_FILE)."""

    async def run() -> str:
        async with AsyncClientSecretCredential(
            ctx.tenant_id,
            ctx.client_app_id,
            ctx.secret,
            authority=ctx.base,
            disable_instance_discovery=True,
        ) as cred:
            return (await cred.get_token(ctx.scope)).token

    ctx.assert_app_token(ctx.verify(asyncio.run(run())), azpacr="1")
