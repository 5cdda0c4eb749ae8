"""MSAL Python's authorization-code flows against Ostiary's /authorize, driven in headless Chromium.

* A confidential web client: MSAL builds the request (PKCE S256, nonce, state, client_info=1,
  response_mode=form_post), the browser signs in and the form_post lands on this test's loopback
  server, MSAL redeems the code (it checks state and the nonce hash), then refreshes silently.
* A public client (publicClient.redirectUris ["http://localhost"]): MSAL's own
  acquire_token_interactive with its loopback server on a random port (RFC 8252), the "system
  browser" being login.mjs.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msal
import pytest

from conftest import (
    ORDERS_READ,
    App,
    Browser,
    Directory,
    Interop,
    Loopback,
    SystemBrowser,
    User,
    assert_id_token,
    assert_user_access_token,
    b64url_json,
    consent_mode,
)


def assert_msal_user_result(
    ctx: Interop, result: dict[str, Any], *, api: App, client: App, user: User, azpacr: str
) -> dict[str, Any]:
    assert "access_token" in result, f"MSAL returned no token: {result}"
    assert result.get("token_type", "").lower() == "bearer", result.get("token_type")
    assert result.get("refresh_token"), "no refresh token (MSAL always asks for offline_access)"
    at = assert_user_access_token(ctx, result["access_token"], api=api, client=client, user=user, azpacr=azpacr)
    idt = assert_id_token(ctx, result["id_token"], client=client, user=user)
    assert result["id_token_claims"]["oid"] == user.id
    return {"access": at, "id": idt}


def assert_single_account(app: msal.ClientApplication, ctx: Interop, user: User) -> dict[str, Any]:
    accounts = app.get_accounts()
    assert len(accounts) == 1, accounts
    account = accounts[0]
    # home_account_id is "{uid}.{utid}" from the token response's client_info (R6); without
    # client_info MSAL would fall back to the ID token's sub.
    assert account["home_account_id"] == f"{user.id}.{ctx.tenant_id}", account
    assert account["username"] == user.upn, account
    assert account["local_account_id"] == user.id, account
    assert account["realm"] == ctx.tenant_id, account
    return account


def assert_silent_refresh(
    ctx: Interop,
    app: msal.ClientApplication,
    account: dict[str, Any],
    first: dict[str, Any],
    *,
    api: App,
    client: App,
    user: User,
    azpacr: str,
) -> None:
    scope = api.scope(ORDERS_READ)
    cached = app.acquire_token_silent([scope], account=account)
    assert cached and cached.get("token_source") == "cache", cached
    again = app.acquire_token_silent([scope], account=account, force_refresh=True)
    assert again and "access_token" in again, f"refresh through MSAL failed: {again}"
    assert again.get("token_source") == "identity_provider", again.get("token_source")
    assert again["access_token"] != first["access_token"], "the refresh returned the same access token"
    assert_user_access_token(ctx, again["access_token"], api=api, client=client, user=user, azpacr=azpacr)


def test_confidential_web_client_form_post(
    ctx: Interop, directory: Directory, orders_api: App, user: User, browser: Browser, loopback: Loopback
):
    redirect = loopback.uri("/cb")
    client = directory.create_app("MSAL Web", web=[redirect], secret=True)
    granted = directory.admin_consent(client, orders_api)
    app = msal.ConfidentialClientApplication(
        client.app_id, client_credential=client.secret, authority=ctx.authority, instance_discovery=False
    )
    scope = orders_api.scope(ORDERS_READ)
    flow = app.initiate_auth_code_flow([scope], redirect_uri=redirect, response_mode="form_post")

    sent = dict(parse_qsl(urlsplit(flow["auth_uri"]).query))
    assert flow["auth_uri"].startswith(f"{ctx.base}/{ctx.tenant_id}/oauth2/v2.0/authorize?")
    assert sent["response_mode"] == "form_post" and sent["response_type"] == "code"
    assert sent["code_challenge_method"] == "S256" and sent["code_challenge"]
    assert sent["client_info"] == "1" and sent["nonce"] and sent["state"] == flow["state"]
    assert set(sent["scope"].split()) == {scope, "openid", "profile", "offline_access"}

    browser.run(flow["auth_uri"], user, until=redirect, consent=consent_mode(granted))
    got = loopback.wait("/cb")
    assert got.method == "POST", "response_mode=form_post must arrive as a POST"
    assert got.query == {}, f"form_post leaked parameters into the query: {got.query}"
    assert set(got.form) >= {"code", "state", "client_info"}, got.form
    assert "error" not in got.form, got.form
    info = b64url_json(got.form["client_info"])
    assert (info.get("uid"), info.get("utid")) == (user.id, ctx.tenant_id), info

    result = app.acquire_token_by_auth_code_flow(flow, got.form)
    claims = assert_msal_user_result(ctx, result, api=orders_api, client=client, user=user, azpacr="1")
    # MSAL sent sha256(nonce) and compared it already; check it independently.
    assert claims["id"]["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()

    account = assert_single_account(app, ctx, user)
    assert_silent_refresh(ctx, app, account, result, api=orders_api, client=client, user=user, azpacr="1")


def test_public_client_interactive_random_port(
    ctx: Interop,
    directory: Directory,
    orders_api: App,
    user: User,
    browser: Browser,
    monkeypatch: pytest.MonkeyPatch,
):
    client = directory.create_app("MSAL Desktop", public=["http://localhost"], public_client=True)
    granted = directory.admin_consent(client, orders_api)
    app = msal.PublicClientApplication(client.app_id, authority=ctx.authority, instance_discovery=False)
    scope = orders_api.scope(ORDERS_READ)

    system = SystemBrowser(monkeypatch, browser, user, consent=consent_mode(granted))
    result = app.acquire_token_interactive([scope], timeout=80)
    system.result()  # raises with the page text if the walk failed
    sent = system.sent

    m = re.fullmatch(r"http://localhost:(\d+)", sent.get("redirect_uri", ""))
    assert m and int(m.group(1)) > 0, f"expected a random loopback port: {sent.get('redirect_uri')}"
    assert sent["response_mode"] == "form_post"
    assert sent["code_challenge_method"] == "S256" and sent["code_challenge"]

    assert_msal_user_result(ctx, result, api=orders_api, client=client, user=user, azpacr="0")
    account = assert_single_account(app, ctx, user)
    assert_silent_refresh(ctx, app, account, result, api=orders_api, client=client, user=user, azpacr="0")
