"""Device authorization grant: azure-identity's DeviceCodeCredential and MSAL's device flow, with
the "second device" being headless Chromium (login.mjs) on the verification_uri page."""

from __future__ import annotations

import time
from typing import Any

import msal
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import DeviceCodeCredential

from conftest import (
    ORDERS_READ,
    App,
    BackgroundLogin,
    Browser,
    Directory,
    Interop,
    User,
    assert_id_token,
    assert_oauth_error,
    assert_user_access_token,
    consent_mode,
    post_token,
)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture(scope="module")
def device_client(directory: Directory, orders_api: App) -> tuple[App, bool]:
    """A public client (isFallbackPublicClient) and whether admin consent is in place."""
    client = directory.create_app("Device CLI", public_client=True)
    return client, directory.admin_consent(client, orders_api)


def assert_device_page_done(login: dict[str, Any], client: App) -> None:
    assert login["h1"].startswith("You have signed in to"), login
    assert client.display_name in login["h1"], f"the page should name the app: {login['h1']!r}"


def test_device_code_credential(
    ctx: Interop, orders_api: App, user: User, browser: Browser, device_client: tuple[App, bool]
):
    client, granted = device_client
    logins: list[BackgroundLogin] = []
    prompts: list[tuple[str, str, Any]] = []

    def prompt(verification_uri: str, user_code: str, expires_on: Any) -> None:
        prompts.append((verification_uri, user_code, expires_on))
        logins.append(
            browser.start(verification_uri, user, device_code=user_code, consent=consent_mode(granted))
        )

    cred = DeviceCodeCredential(
        client_id=client.app_id,
        tenant_id=ctx.tenant_id,
        authority=ctx.base,
        disable_instance_discovery=True,
        prompt_callback=prompt,
        timeout=75,
    )
    try:
        token = cred.get_token(orders_api.scope(ORDERS_READ))
    except ClientAuthenticationError:
        if logins:
            logins[0].result()  # a failed walk explains the failure better
        raise
    assert len(prompts) == 1
    verification_uri, user_code, expires_on = prompts[0]
    assert verification_uri.startswith(f"{ctx.base}/"), verification_uri
    assert user_code and expires_on.timestamp() > time.time()
    assert_device_page_done(logins[0].result(), client)

    assert token.expires_on > time.time() + 60
    assert_user_access_token(ctx, token.token, api=orders_api, client=client, user=user, azpacr="0")


def test_msal_device_flow(
    ctx: Interop, orders_api: App, user: User, browser: Browser, device_client: tuple[App, bool]
):
    client, granted = device_client
    app = msal.PublicClientApplication(client.app_id, authority=ctx.authority, instance_discovery=False)
    flow = app.initiate_device_flow(scopes=[orders_api.scope(ORDERS_READ)])
    assert "user_code" in flow, f"devicecode failed: {flow}"
    for key in ("device_code", "user_code", "verification_uri", "expires_in", "interval", "message"):
        assert key in flow, f"devicecode response lacks {key}: {flow}"
    assert flow["verification_uri"].startswith(f"{ctx.base}/"), flow["verification_uri"]
    assert flow["user_code"] in flow["message"] and flow["verification_uri"] in flow["message"], flow["message"]
    assert int(flow["expires_in"]) >= 300 and 1 <= int(flow["interval"]) <= 10, flow

    login = browser.start(flow["verification_uri"], user, device_code=flow["user_code"], consent=consent_mode(granted))
    deadline = time.time() + 80
    result = app.acquire_token_by_device_flow(flow, exit_condition=lambda _: login.failed or time.time() > deadline)
    assert_device_page_done(login.result(), client)
    assert "access_token" in result, f"device flow ended without a token: {result}"
    assert_user_access_token(ctx, result["access_token"], api=orders_api, client=client, user=user, azpacr="0")
    assert_id_token(ctx, result["id_token"], client=client, user=user)
    assert result.get("refresh_token"), "no refresh token (MSAL asks for offline_access)"
    accounts = app.get_accounts()
    assert [a["home_account_id"] for a in accounts] == [f"{user.id}.{ctx.tenant_id}"], accounts


def test_polling_before_sign_in_is_pending(ctx: Interop, orders_api: App, device_client: tuple[App, bool]):
    """Plain HTTP: the devicecode response, then a poll before anyone signed in (R9: HTTP 400)."""
    client, _ = device_client
    r = ctx.http.post(
        f"{ctx.base}/{ctx.tenant_id}/oauth2/v2.0/devicecode",
        data={"client_id": client.app_id, "scope": f"{orders_api.scope(ORDERS_READ)} offline_access"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body.get("expires_in"), int) and isinstance(body.get("interval"), int), body
    assert body["device_code"] != body["user_code"]
    poll = post_token(
        ctx.http,
        ctx.base,
        ctx.tenant_id,
        {"grant_type": DEVICE_GRANT, "client_id": client.app_id, "device_code": body["device_code"]},
    )
    assert_oauth_error(poll, "authorization_pending")
    bogus = post_token(
        ctx.http,
        ctx.base,
        ctx.tenant_id,
        {"grant_type": DEVICE_GRANT, "client_id": client.app_id, "device_code": body["device_code"] + "x"},
    )
    assert bogus.status_code == 400, bogus.text
    assert bogus.json().get("error") != "authorization_pending", "an unknown device_code must not look pending"
