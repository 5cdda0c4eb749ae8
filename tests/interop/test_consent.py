"""The consent page: a user's own consent (shown once, then remembered), declining it, and an
administrator consenting for the whole organisation (input#admin_consent). No Graph grants here:
each test starts from an app nobody consented to."""

from __future__ import annotations

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
    redeem_code,
)


def scope_of(api: App) -> str:
    return f"{api.scope(ORDERS_READ)} {OIDC_SCOPES}"


def test_user_consent_is_asked_once(
    ctx: Interop, directory: Directory, orders_api: App, user: User, browser: Browser, loopback: Loopback
):
    client = directory.create_app("Consent Once", web=[loopback.uri("/cb")], secret=True)
    code = browser_code(ctx, browser, loopback, client, user, scope_of(orders_api), consent="accept")
    assert code.login["consentShown"], "no consent page for an app nobody consented to"
    r = redeem_code(ctx, client, code)
    assert r.status_code == 200, r.text
    assert_user_access_token(ctx, r.json()["access_token"], api=orders_api, client=client, user=user)

    # Consent is remembered: the next sign-in (a fresh browser) must not ask again.
    again = browser_code(ctx, browser, loopback, client, user, scope_of(orders_api), consent="skip")
    assert redeem_code(ctx, client, again).status_code == 200


def test_declined_consent_returns_access_denied(
    ctx: Interop, directory: Directory, orders_api: App, user: User, browser: Browser, loopback: Loopback
):
    client = directory.create_app("Consent Declined", web=[loopback.uri("/cb")], secret=True)
    resp = browser_code(ctx, browser, loopback, client, user, scope_of(orders_api), consent="decline")
    assert resp.params.get("error") == "access_denied", resp.params
    assert "code" not in resp.params, resp.params


def test_admin_consent_for_the_organisation(
    ctx: Interop,
    directory: Directory,
    orders_api: App,
    user: User,
    admin_user: User,
    browser: Browser,
    loopback: Loopback,
):
    client = directory.create_app("Consent Org", web=[loopback.uri("/cb")], secret=True)
    by_admin = browser_code(
        ctx, browser, loopback, client, admin_user, scope_of(orders_api), consent="accept", admin_consent=True
    )
    assert "code" in by_admin.params, by_admin.params
    # Another user of the tenant is not asked any more.
    other = browser_code(ctx, browser, loopback, client, user, scope_of(orders_api), consent="skip")
    r = redeem_code(ctx, client, other)
    assert r.status_code == 200, r.text
    assert_user_access_token(ctx, r.json()["access_token"], api=orders_api, client=client, user=user)
