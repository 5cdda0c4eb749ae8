"""/authorize and the code / refresh-token grants over plain HTTP (requests); the browser is used
only to get a first code. Each test registers its own app with a loopback redirect URI.

* response modes: query (GET), fragment (never reaches the server), form_post (POST)
* a redirect URI that is not registered: an error page (HTTP 400) and never a redirect
* prompt=none without a session: an error sent back to the redirect URI
* code replay (AADSTS54005) revokes what the first redemption issued
* refresh-token rotation with reuse detection: replaying a rotated token kills the family
* PKCE: no verifier or a wrong one → invalid_grant; likewise another redirect_uri or client
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl, urlsplit

import pytest

from conftest import (
    OIDC_SCOPES,
    ORDERS_READ,
    App,
    Browser,
    CodeResponse,
    Directory,
    Interop,
    Loopback,
    User,
    assert_id_token,
    assert_oauth_error,
    assert_user_access_token,
    authorize_url,
    b64url_json,
    browser_code,
    consent_mode,
    pkce_pair,
    redeem_code,
    redeem_refresh,
)


def full_scope(api: App) -> str:
    return f"{api.scope(ORDERS_READ)} {OIDC_SCOPES}"


def web_client(directory: Directory, api: App, loopback: Loopback, label: str = "Security Web") -> tuple[App, str]:
    client = directory.create_app(label, web=[loopback.uri("/cb")], secret=True)
    return client, consent_mode(directory.admin_consent(client, api))


def first_code(
    ctx: Interop,
    directory: Directory,
    api: App,
    user: User,
    browser: Browser,
    loopback: Loopback,
    response_mode: str = "query",
) -> tuple[App, CodeResponse]:
    client, consent = web_client(directory, api, loopback)
    code = browser_code(
        ctx, browser, loopback, client, user, full_scope(api), consent=consent, response_mode=response_mode
    )
    return client, code


def tokens_of(r) -> dict:
    assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:1500]}"
    body = r.json()
    assert body.get("token_type", "").lower() == "bearer", body
    assert body.get("access_token") and body.get("refresh_token") and body.get("id_token"), sorted(body)
    assert isinstance(body.get("expires_in"), int) and body["expires_in"] > 60, body.get("expires_in")
    return body


# --------------------------------------------------------------------------- response modes


@pytest.mark.parametrize("response_mode", ["query", "fragment", "form_post"])
def test_response_modes(
    ctx: Interop,
    directory: Directory,
    orders_api: App,
    user: User,
    browser: Browser,
    loopback: Loopback,
    response_mode: str,
):
    client, code = first_code(ctx, directory, orders_api, user, browser, loopback, response_mode)
    assert "error" not in code.params, code.params
    if response_mode == "fragment":
        assert urlsplit(code.login["url"]).query == "", "fragment mode must not put the code in the query"
        assert loopback.wait("/cb").query == {}, "the fragment reached the server"
    info = b64url_json(code.params["client_info"])
    assert (info.get("uid"), info.get("utid")) == (user.id, ctx.tenant_id), info

    body = tokens_of(redeem_code(ctx, client, code))
    assert_user_access_token(ctx, body["access_token"], api=orders_api, client=client, user=user, azpacr="1")
    assert_id_token(ctx, body["id_token"], client=client, user=user, nonce=code.nonce)
    info = b64url_json(body["client_info"])  # client_info=1 was sent to the token endpoint
    assert (info.get("uid"), info.get("utid")) == (user.id, ctx.tenant_id), info
    assert set(body.get("scope", "").split()) >= {orders_api.scope(ORDERS_READ)}, body.get("scope")


# --------------------------------------------------------------------------- /authorize errors


@pytest.mark.parametrize("variant", ["other path", "other host", "https scheme"])
def test_unregistered_redirect_uri_is_an_error_page(
    ctx: Interop, directory: Directory, orders_api: App, loopback: Loopback, variant: str
):
    client = directory.create_app("Redirect Check", web=[loopback.uri("/cb")], secret=True)
    bad = {
        "other path": loopback.uri("/cb-other"),
        "other host": "https://attacker.invalid/cb",
        "https scheme": f"https://localhost:{loopback.port}/cb",
    }[variant]
    _, challenge = pkce_pair()
    url = authorize_url(
        ctx,
        client_id=client.app_id,
        response_type="code",
        redirect_uri=bad,
        scope=full_scope(orders_api),
        state="s1",
        nonce="n1",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    r = ctx.http.get(url, allow_redirects=False, timeout=30)
    assert r.status_code == 400, f"HTTP {r.status_code}, Location={r.headers.get('Location')!r}"
    assert "Location" not in r.headers, r.headers.get("Location")
    assert r.headers.get("content-type", "").startswith("text/html"), r.headers.get("content-type")
    assert "AADSTS50011" in r.text, r.text[:1000]
    assert loopback.captured == []


def test_unknown_client_is_an_error_page(ctx: Interop, orders_api: App, loopback: Loopback):
    url = authorize_url(
        ctx,
        client_id=str(uuid.uuid4()),
        response_type="code",
        redirect_uri=loopback.uri("/cb"),
        scope=full_scope(orders_api),
        state="s1",
    )
    r = ctx.http.get(url, allow_redirects=False, timeout=30)
    assert r.status_code == 400, f"HTTP {r.status_code}, Location={r.headers.get('Location')!r}"
    assert "Location" not in r.headers
    assert "AADSTS" in r.text


def test_prompt_none_without_a_session(ctx: Interop, directory: Directory, orders_api: App, loopback: Loopback):
    """No browser session: prompt=none cannot sign anyone in, the error goes to the redirect URI."""
    client = directory.create_app("Prompt None", web=[loopback.uri("/cb")], secret=True)
    directory.admin_consent(client, orders_api)
    _, challenge = pkce_pair()
    url = authorize_url(
        ctx,
        client_id=client.app_id,
        response_type="code",
        redirect_uri=loopback.uri("/cb"),
        response_mode="query",
        scope=full_scope(orders_api),
        state="st-none",
        nonce="n1",
        prompt="none",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    r = ctx.http.get(url, allow_redirects=False, timeout=30)
    assert r.status_code in (302, 303), f"HTTP {r.status_code}: {r.text[:500]}"
    location = r.headers["Location"]
    assert location.startswith(loopback.uri("/cb")), location
    params = dict(parse_qsl(urlsplit(location).query))
    assert params.get("error") in ("login_required", "interaction_required"), params
    assert params.get("state") == "st-none" and "code" not in params, params


# --------------------------------------------------------------------------- code and refresh-token abuse


def test_code_replay_is_rejected_and_revokes_the_first_tokens(
    ctx: Interop, directory: Directory, orders_api: App, user: User, browser: Browser, loopback: Loopback
):
    client, code = first_code(ctx, directory, orders_api, user, browser, loopback)
    first = tokens_of(redeem_code(ctx, client, code))
    assert_oauth_error(redeem_code(ctx, client, code), "invalid_grant", 54005)
    # RFC 6749 §4.1.2 / OAuth security BCP: tokens issued from a replayed code are revoked.
    assert_oauth_error(redeem_refresh(ctx, client, first["refresh_token"], code.scope), "invalid_grant")


def test_refresh_token_reuse_revokes_the_family(
    ctx: Interop, directory: Directory, orders_api: App, user: User, browser: Browser, loopback: Loopback
):
    client, code = first_code(ctx, directory, orders_api, user, browser, loopback)
    rt1 = tokens_of(redeem_code(ctx, client, code))["refresh_token"]
    second = tokens_of(redeem_refresh(ctx, client, rt1, code.scope))
    rt2 = second["refresh_token"]
    assert rt2 != rt1, "refresh tokens must rotate"
    assert_user_access_token(ctx, second["access_token"], api=orders_api, client=client, user=user)
    # rt1 was rotated away: presenting it again is a replay ...
    assert_oauth_error(redeem_refresh(ctx, client, rt1, code.scope), "invalid_grant")
    # ... which also ends the newest token of that family.
    assert_oauth_error(redeem_refresh(ctx, client, rt2, code.scope), "invalid_grant")


@pytest.mark.parametrize("tamper", ["no code_verifier", "wrong code_verifier", "other redirect_uri", "other client"])
def test_code_redemption_checks(
    ctx: Interop,
    directory: Directory,
    orders_api: App,
    user: User,
    browser: Browser,
    loopback: Loopback,
    tamper: str,
):
    client, code = first_code(ctx, directory, orders_api, user, browser, loopback)
    if tamper == "no code_verifier":
        r = redeem_code(ctx, client, code, code_verifier=None)
    elif tamper == "wrong code_verifier":
        r = redeem_code(ctx, client, code, code_verifier=pkce_pair()[0])
    elif tamper == "other redirect_uri":
        r = redeem_code(ctx, client, code, redirect_uri=loopback.uri("/elsewhere"))
    else:
        other = directory.create_app("Other Client", web=[loopback.uri("/cb")], secret=True)
        r = redeem_code(ctx, other, code)
    assert_oauth_error(r, "invalid_grant")


def test_public_client_pkce_and_loopback_port(
    ctx: Interop, directory: Directory, orders_api: App, user: User, browser: Browser, loopback: Loopback
):
    """A public client registered with http://localhost (no port): any loopback port is accepted
    (RFC 8252 §7.3); without the verifier the code is worthless; with it, a token for azpacr 0."""
    client = directory.create_app("Native", public=["http://localhost"], public_client=True)
    consent = consent_mode(directory.admin_consent(client, orders_api))
    redirect = f"http://localhost:{loopback.port}"
    code = browser_code(
        ctx, browser, loopback, client, user, full_scope(orders_api), consent=consent, redirect_uri=redirect
    )
    assert_oauth_error(redeem_code(ctx, client, code, code_verifier=None), "invalid_grant")

    code = browser_code(
        ctx, browser, loopback, client, user, full_scope(orders_api), consent=consent, redirect_uri=redirect
    )
    body = tokens_of(redeem_code(ctx, client, code))
    assert_user_access_token(ctx, body["access_token"], api=orders_api, client=client, user=user, azpacr="0")
