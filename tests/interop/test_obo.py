"""On-behalf-of: a middle-tier API trades the user's token for one to the downstream Orders API.

  browser ──(auth code, MSAL)──> "OBO Frontend" gets a token for the middle tier (scp access_as_user)
  middle tier ──(MSAL acquire_token_on_behalf_of, jwt-bearer + requested_token_use=on_behalf_of)──>
      token for the Orders API: aud = Orders API, same user (oid), azp = middle tier.

Consent: Graph admin consent for frontend → middle tier (access_as_user) and middle tier → Orders API
(Orders.Read); if Graph answers 403 the user consents in the browser instead (signing in to each app).
"""

from __future__ import annotations

from typing import Any

import msal
import pytest

from conftest import (
    OIDC_SCOPES,
    ORDERS_READ,
    App,
    Browser,
    Directory,
    Interop,
    Loopback,
    User,
    assert_user_access_token,
    browser_code,
    consent_mode,
    redeem_code,
)

ACCESS_AS_USER = "access_as_user"


def ensure_consent(
    ctx: Interop,
    directory: Directory,
    browser: Browser,
    client: App,
    resource: App,
    scope_value: str,
    user: User,
    loopback: Loopback,
    redirect: str,
) -> None:
    """Admin consent through Graph, or (on 403) the user's own consent in the browser."""
    if directory.admin_consent(client, resource, f"{scope_value} {OIDC_SCOPES}"):
        return
    scope = f"{resource.scope(scope_value)} {OIDC_SCOPES}"
    code = browser_code(ctx, browser, loopback, client, user, scope, consent="accept", redirect_uri=redirect)
    r = redeem_code(ctx, client, code)
    assert r.status_code == 200, f"user consent for {client.display_name} → {resource.display_name}: {r.text}"


@pytest.fixture
def obo(
    ctx: Interop,
    directory: Directory,
    orders_api: App,
    user: User,
    browser: Browser,
    loopback: Loopback,
) -> dict[str, Any]:
    frontend_redirect = loopback.uri("/frontend")
    middle_redirect = loopback.uri("/middle")
    middle = directory.create_app("Middle Tier", scopes=[ACCESS_AS_USER], secret=True, web=[middle_redirect])
    frontend = directory.create_app("OBO Frontend", web=[frontend_redirect], secret=True)
    ensure_consent(ctx, directory, browser, middle, orders_api, ORDERS_READ, user, loopback, middle_redirect)
    granted = directory.admin_consent(frontend, middle, f"{ACCESS_AS_USER} {OIDC_SCOPES}")

    app = msal.ConfidentialClientApplication(
        frontend.app_id, client_credential=frontend.secret, authority=ctx.authority, instance_discovery=False
    )
    flow = app.initiate_auth_code_flow(
        [middle.scope(ACCESS_AS_USER)], redirect_uri=frontend_redirect, response_mode="form_post"
    )
    browser.run(flow["auth_uri"], user, until=frontend_redirect, consent=consent_mode(granted))
    result = app.acquire_token_by_auth_code_flow(flow, loopback.wait("/frontend").form)
    assert "access_token" in result, f"frontend got no token for the middle tier: {result}"
    user_token = result["access_token"]
    assert_user_access_token(ctx, user_token, api=middle, client=frontend, user=user, scp=ACCESS_AS_USER)
    return {"middle": middle, "frontend": frontend, "user_token": user_token}


def confidential_app(ctx: Interop, app: App) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        app.app_id, client_credential=app.secret, authority=ctx.authority, instance_discovery=False
    )


def test_on_behalf_of(ctx: Interop, orders_api: App, user: User, obo: dict[str, Any]):
    middle: App = obo["middle"]
    app = confidential_app(ctx, middle)
    result = app.acquire_token_on_behalf_of(user_assertion=obo["user_token"], scopes=[orders_api.scope(ORDERS_READ)])
    assert "access_token" in result, f"OBO failed: {result}"
    claims = assert_user_access_token(
        ctx, result["access_token"], api=orders_api, client=middle, user=user, scp=ORDERS_READ, azpacr="1"
    )
    assert claims["aud"] == orders_api.app_id and claims["azp"] == middle.app_id and claims["oid"] == user.id
    assert result.get("token_source") == "identity_provider"


def test_assertion_for_another_audience_is_rejected(ctx: Interop, orders_api: App, obo: dict[str, Any]):
    """A user token whose aud is not the middle tier (here: the Orders API token OBO just issued)
    cannot be exchanged by the middle tier (Entra: AADSTS50013, invalid_grant)."""
    middle: App = obo["middle"]
    app = confidential_app(ctx, middle)
    good = app.acquire_token_on_behalf_of(user_assertion=obo["user_token"], scopes=[orders_api.scope(ORDERS_READ)])
    assert "access_token" in good, f"OBO failed: {good}"
    other = confidential_app(ctx, middle)  # fresh cache
    bad = other.acquire_token_on_behalf_of(user_assertion=good["access_token"], scopes=[orders_api.scope(ORDERS_READ)])
    assert "access_token" not in bad, f"an assertion for another audience was accepted: {bad}"
    assert bad.get("error") == "invalid_grant", bad
    assert str(bad.get("error_description", "")).startswith("AADSTS"), bad


def test_frontend_cannot_exchange_its_own_token(ctx: Interop, orders_api: App, obo: dict[str, Any]):
    """The token's audience is the middle tier: another client presenting it gets invalid_grant."""
    frontend: App = obo["frontend"]
    app = confidential_app(ctx, frontend)
    bad = app.acquire_token_on_behalf_of(user_assertion=obo["user_token"], scopes=[orders_api.scope(ORDERS_READ)])
    assert "access_token" not in bad, f"a client exchanged a token not addressed to it: {bad}"
    assert bad.get("error") == "invalid_grant", bad
