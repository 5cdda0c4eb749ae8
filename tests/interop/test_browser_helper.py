"""The browser plumbing on its own: browser/login.mjs (playwright-core + Debian Chromium) against
fake_idp.py, a stdlib https page set with the page contract's selectors, under a throwaway CA.

Needs no Ostiary server, so a failure here means the browser side is broken (node_modules,
Chromium, the CA trust flag, the page walk), not the server.
"""

from __future__ import annotations

import pathlib
import re
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import msal
from azure.identity import DeviceCodeCredential
import pytest

from conftest import Browser, Loopback, SystemBrowser, free_port, run_oidc_client
from fake_idp import (
    APP_NAME,
    DEVICE_CODE,
    PASSWORD,
    TENANT,
    TENANT_ID,
    USER_OID,
    USERNAME,
    FakeIdp,
    make_ca_and_server_cert,
)


class FakeUser:
    upn = USERNAME
    password = PASSWORD


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory):
    idp = FakeIdp(tmp_path_factory.mktemp("fake-idp"))
    try:
        yield idp
    finally:
        idp.close()


@pytest.fixture(scope="module")
def fake_browser(fake: FakeIdp, tmp_path_factory: pytest.TempPathFactory) -> Browser:
    Browser.check_installed()
    return Browser(str(fake.ca), tmp_path_factory.mktemp("fake-browser"))


def test_form_post_reaches_loopback(fake: FakeIdp, fake_browser: Browser, loopback: Loopback):
    redirect = loopback.uri("/cb")
    url = fake.authorize_url(redirect, response_mode="form_post", state="s-123")
    out = fake_browser.run(url, FakeUser(), until=redirect, consent="skip")
    assert out["ok"] and out["url"].startswith(redirect), out
    assert out["consentShown"] is False
    got = loopback.wait("/cb")
    assert got.method == "POST"
    assert got.form["state"] == "s-123"
    assert got.form["code"] in fake.codes
    assert got.form["client_info"]
    assert pathlib.Path(out["screenshot"]).is_file()


@pytest.mark.parametrize("mode", ["query", "fragment"])
def test_query_and_fragment(fake: FakeIdp, fake_browser: Browser, loopback: Loopback, mode: str):
    redirect = loopback.uri("/cb")
    out = fake_browser.run(fake.authorize_url(redirect, response_mode=mode, state="st"), FakeUser(), until=redirect)
    got = loopback.wait("/cb")
    assert got.method == "GET"
    final = urlsplit(out["url"])
    if mode == "query":
        assert got.query["code"] in fake.codes and got.query["state"] == "st"
    else:
        assert got.query == {}, "a fragment must not reach the server"
        params = dict(parse_qsl(final.fragment))
        assert params["code"] in fake.codes and params["state"] == "st"


def test_consent_accept_with_admin_box(fake: FakeIdp, fake_browser: Browser, loopback: Loopback):
    redirect = loopback.uri("/cb")
    url = fake.authorize_url(redirect, consent="required", admin="1")
    out = fake_browser.run(url, FakeUser(), until=redirect, consent="accept", admin_consent=True)
    assert out["consentShown"] is True
    assert "admin consent box" in out["steps"], out["steps"]
    code = loopback.wait("/cb").query["code"]
    assert fake.codes[code]["admin_consented"] is True


def test_consent_decline(fake: FakeIdp, fake_browser: Browser, loopback: Loopback):
    redirect = loopback.uri("/cb")
    out = fake_browser.run(fake.authorize_url(redirect, consent="required"), FakeUser(), until=redirect, consent="decline")
    assert out["consentShown"] is True
    got = loopback.wait("/cb").query
    assert got["error"] == "access_denied" and "code" not in got


def test_consent_skip_fails_when_a_consent_page_shows(fake: FakeIdp, fake_browser: Browser, loopback: Loopback):
    redirect = loopback.uri("/cb")
    out = fake_browser.run(
        fake.authorize_url(redirect, consent="required"), FakeUser(), until=redirect, consent="skip", expect_ok=False
    )
    assert out["returncode"] == 1 and out["ok"] is False
    assert "--consent skip" in out["error"]
    assert "Permissions requested" in out["text"]
    assert pathlib.Path(out["screenshot"]).is_file()


def test_wrong_password_fails_fast_with_page_text(fake: FakeIdp, fake_browser: Browser, loopback: Loopback):
    class Wrong(FakeUser):
        password = "nope"

    redirect = loopback.uri("/cb")
    started = time.monotonic()
    out = fake_browser.run(fake.authorize_url(redirect), Wrong(), until=redirect, expect_ok=False)
    assert out["returncode"] == 1
    assert "sign-in page shown again" in out["error"]
    assert "AADSTS50126" in out["text"]
    assert time.monotonic() - started < 30


def test_error_page_fails_fast(fake: FakeIdp, fake_browser: Browser, loopback: Loopback):
    redirect = loopback.uri("/evil")
    started = time.monotonic()
    out = fake_browser.run(fake.authorize_url(redirect), FakeUser(), until=redirect, expect_ok=False)
    assert out["returncode"] == 1
    assert "error page" in out["error"] and "HTTP 400" in out["error"], out["error"]
    assert "AADSTS50011" in out["text"]
    assert time.monotonic() - started < 30
    assert loopback.captured == []


def test_blocked_submission_is_reported_with_the_console(fake: FakeIdp, fake_browser: Browser, loopback: Loopback):
    redirect = loopback.uri("/cb")
    out = fake_browser.run(fake.authorize_url(redirect, csp="strict"), FakeUser(), until=redirect, expect_ok=False)
    assert out["returncode"] == 1
    assert "did not leave the page" in out["error"] and "Content Security Policy" in out["error"], out["error"]
    assert loopback.captured == []


def test_login_hint_prefilled(fake: FakeIdp, fake_browser: Browser, loopback: Loopback):
    redirect = loopback.uri("/cb")
    out = fake_browser.run(fake.authorize_url(redirect, login_hint=USERNAME), FakeUser(), until=redirect)
    assert loopback.wait("/cb").query["code"] in fake.codes
    assert out["steps"][0] == "sign-in"


def test_device_code(fake: FakeIdp, fake_browser: Browser):
    out = fake_browser.run(f"{fake.base}/devicelogin", FakeUser(), device_code=DEVICE_CODE, consent="accept")
    assert out["h1"] == f"You have signed in to {APP_NAME}"
    assert out["steps"][:3] == ["device code", "sign-in", "consent page"], out["steps"]


def test_device_code_in_background(fake: FakeIdp, fake_browser: Browser):
    failures = []
    bg = fake_browser.start(f"{fake.base}/devicelogin", FakeUser(), device_code="WRONG-CODE", on_failure=failures.append)
    with pytest.raises(AssertionError, match="error page"):
        bg.result()
    assert len(failures) == 1 and bg.failed


def test_sign_out_then_continue(fake: FakeIdp, fake_browser: Browser, loopback: Loopback):
    target = loopback.uri("/signed-out")
    out = fake_browser.run(f"{fake.base}/logout?{urlencode({'post_logout_redirect_uri': target})}", until=target)
    assert out["signedOutShown"] is True and "continue" in out["steps"]
    assert loopback.wait("/signed-out").method == "GET"


def test_other_ca_is_refused_before_the_browser_starts(fake: FakeIdp, loopback: Loopback, tmp_path: pathlib.Path):
    """login.mjs checks the server against --ca itself (Node TLS) before it pins the server's key."""
    other_ca, _, _ = make_ca_and_server_cert(tmp_path)
    b = Browser(str(other_ca), tmp_path / "shots")
    redirect = loopback.uri("/cb")
    out = b.run(fake.authorize_url(redirect), FakeUser(), until=redirect, expect_ok=False, timeout=20)
    assert out["returncode"] == 1
    assert "TLS check of" in out["error"], out["error"]
    assert loopback.captured == []


def test_browser_refuses_an_unpinned_server(fake: FakeIdp, fake_browser: Browser, tmp_path: pathlib.Path):
    """TLS errors are not ignored wholesale: a redirect to another https server (another CA) fails."""
    other = FakeIdp(tmp_path)
    try:
        target = f"{other.base}/cb"
        out = fake_browser.run(fake.authorize_url(target), FakeUser(), until=target, expect_ok=False, timeout=20)
    finally:
        other.close()
    assert out["returncode"] == 1
    assert "ERR_CERT_AUTHORITY_INVALID" in out["error"], out


# --------------------------------------------------------------------------- MSAL plumbing


def test_msal_auth_code_flow_via_loopback(
    fake: FakeIdp, fake_browser: Browser, loopback: Loopback, monkeypatch: pytest.MonkeyPatch
):
    """The shape test_msal_auth_code.py uses: MSAL builds the URL, form_post lands on our loopback."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca))  # requests prefers it over verify=
    redirect = loopback.uri("/cb")
    app = msal.ConfidentialClientApplication(
        "fake-client", client_credential="s", authority=f"{fake.base}/{TENANT}", instance_discovery=False,
        verify=str(fake.ca),
    )  # fmt: skip
    flow = app.initiate_auth_code_flow(["api://fake/Orders.Read"], redirect_uri=redirect, response_mode="form_post")
    fake_browser.run(flow["auth_uri"], FakeUser(), until=redirect, consent="skip")
    result = app.acquire_token_by_auth_code_flow(flow, loopback.wait("/cb").form)
    assert "access_token" in result, result
    assert app.get_accounts()[0]["home_account_id"] == f"{USER_OID}.{TENANT_ID}"


def test_msal_interactive_with_login_mjs_as_system_browser(
    fake: FakeIdp, fake_browser: Browser, monkeypatch: pytest.MonkeyPatch
):
    """The shape of the public-client test: MSAL's own loopback server on a random port, the
    system browser replaced by login.mjs through webbrowser.open."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca))
    app = msal.PublicClientApplication(
        "fake-client", authority=f"{fake.base}/{TENANT}", instance_discovery=False, verify=str(fake.ca)
    )
    system = SystemBrowser(monkeypatch, fake_browser, FakeUser(), consent="skip")
    started = time.monotonic()
    result = app.acquire_token_interactive(["api://fake/Orders.Read"], timeout=60)
    assert system.result()["ok"]
    assert re.fullmatch(r"http://localhost:\d+", system.sent["redirect_uri"])
    assert "access_token" in result, result
    assert time.monotonic() - started < 30
    again = app.acquire_token_silent(["api://fake/Orders.Read"], account=app.get_accounts()[0], force_refresh=True)
    assert again and again.get("token_source") == "identity_provider", again


def test_msal_interactive_gives_up_at_once_when_the_walk_fails(
    fake: FakeIdp, fake_browser: Browser, monkeypatch: pytest.MonkeyPatch
):
    class Wrong(FakeUser):
        password = "nope"

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca))
    app = msal.PublicClientApplication(
        "fake-client", authority=f"{fake.base}/{TENANT}", instance_discovery=False, verify=str(fake.ca)
    )
    system = SystemBrowser(monkeypatch, fake_browser, Wrong())
    started = time.monotonic()
    result = app.acquire_token_interactive(["api://fake/Orders.Read"], timeout=60)
    assert result.get("error") == "access_denied", result
    assert time.monotonic() - started < 30, "MSAL kept waiting after the walk failed"
    with pytest.raises(AssertionError, match="sign-in page shown again"):
        system.result()


def test_oidc_client_script(fake: FakeIdp, fake_browser: Browser, tmp_path: pathlib.Path):
    """browser/oidc-client.mjs end to end (openid-client v6 checks the RS256 ID token via JWKS)."""
    out = run_oidc_client(
        fake_browser, f"{fake.base}/{TENANT}/v2.0", "fake-client", "s3cret", FakeUser(), free_port(), str(tmp_path)
    )
    assert out["tokens"]["id_token_claims"]["oid"] == USER_OID
    assert out["userinfo"]["sub"] == out["tokens"]["id_token_claims"]["sub"]
    assert out["refresh"]["access_token_changed"]
    assert out["logout"]["signedOutShown"] and out["logout"]["url"].endswith("/signed-out")
    assert out["afterLogout"]["signInShown"]


def test_msal_device_flow_plumbing(fake: FakeIdp, fake_browser: Browser, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca))
    app = msal.PublicClientApplication(
        "fake-client", authority=f"{fake.base}/{TENANT}", instance_discovery=False, verify=str(fake.ca)
    )
    flow = app.initiate_device_flow(scopes=["api://fake/Orders.Read"])
    assert flow.get("user_code") == DEVICE_CODE, flow
    login = fake_browser.start(flow["verification_uri"], FakeUser(), device_code=flow["user_code"])
    deadline = time.time() + 40
    result = app.acquire_token_by_device_flow(flow, exit_condition=lambda _: login.failed or time.time() > deadline)
    assert login.result()["h1"] == f"You have signed in to {APP_NAME}"
    assert "access_token" in result, result


def test_device_code_credential_plumbing(fake: FakeIdp, fake_browser: Browser, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca))
    logins = []

    def prompt(verification_uri, user_code, expires_on):
        logins.append(fake_browser.start(verification_uri, FakeUser(), device_code=user_code))

    cred = DeviceCodeCredential(
        client_id="fake-client", tenant_id=TENANT, authority=fake.base, disable_instance_discovery=True,
        prompt_callback=prompt, timeout=40,
    )  # fmt: skip
    token = cred.get_token("api://fake/Orders.Read")
    assert token.token and logins[0].result()["ok"]
