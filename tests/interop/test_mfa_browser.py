"""Second factors and Conditional Access in headless Chromium (browser/mfa.mjs), with real
policies created through Graph and every outcome checked twice: in the browser (which pages
showed, what reached the redirect URI) and in the sign-in log (`/v1.0/auditLogs/signIns`).

* TOTP: a policy requiring MFA sends a user without methods to the registration page (QR code +
  secret); the RFC 6238 code registers the app, recovery codes are shown once; a later sign-in in
  a fresh browser is challenged and answered with a code of a later time step; the code and the
  refresh token are redeemed under the same policy.
* Passkey (Chromium's virtual authenticator over the DevTools WebAuthn domain): registration,
  then a fresh sign-in with the passkey as second factor, then a username-less sign-in with
  `#passkey-signin`. WebAuthn needs a host name for the RP id, so when the suite's server runs on
  an IP address these tests start their own server with the public URL https://localhost:PORT.
* Step-up: a policy on one API only; a sign-in to another resource is single-factor, then the
  same browser session asking for the API is stepped up to the MFA page without a password
  prompt, answered with a recovery code.
* Block: AADSTS53003 for the user a blocking policy names.
* Report-only: a blocking and an MFA policy in `enabledForReportingButNotEnforced` are logged
  (`reportOnlyFailure`, `reportOnlyInterrupted`) and enforce nothing.

Every test has its own user, app and policies (which name only that user, so the lockout guard
has nothing to refuse) and deletes its policies afterwards.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import pathlib
import secrets
import subprocess
import time
from typing import Any, Callable, Iterator
from urllib.parse import urlencode, urlsplit

import pytest
import requests

from conftest import (
    BROWSER_DIR,
    GRAPH_SCOPE,
    HTTP_TIMEOUT,
    OIDC_SCOPES,
    App,
    Browser,
    Directory,
    Graph,
    Interop,
    Loopback,
    User,
    b64url_json,
    free_port,
    pkce_pair,
)

MFA_TIMEOUT_S = 100  # mfa.mjs's own limit for all rounds of one run (a TOTP wait is up to 30 s)
MFA_HARD_TIMEOUT_S = MFA_TIMEOUT_S + 25  # `timeout` around node
SIGN_IN_LOG_WAIT_S = 20  # the sign-in log is written in batches
ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(240)


# --------------------------------------------------------------------------- one identity provider


@dataclasses.dataclass
class Idp:
    """A server the tests talk to: the suite's own, or the localhost one for passkeys."""

    base: str
    ca: str
    http: requests.Session
    tenant_id: str
    tenant_domain: str
    graph: Graph
    directory: Directory

    def authorize(self, client: App, redirect_uri: str, scope: str = OIDC_SCOPES, **extra: str) -> "Authz":
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(12)
        params = {
            "client_id": client.app_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": scope,
            "response_mode": "query",
            "state": state,
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        url = f"{self.base}/{self.tenant_id}/oauth2/v2.0/authorize?{urlencode(params)}"
        return Authz(url, verifier, state, redirect_uri, scope)

    def token(self, data: dict[str, str]) -> requests.Response:
        return self.http.post(f"{self.base}/{self.tenant_id}/oauth2/v2.0/token", data=data, timeout=HTTP_TIMEOUT)

    def redeem(self, client: App, authz: "Authz", params: dict[str, str]) -> requests.Response:
        assert params.get("state") == authz.state, f"state not echoed: {params}"
        assert "code" in params, f"no code at the redirect URI: {params}"
        return self.token(
            {
                "grant_type": "authorization_code",
                "client_id": client.app_id,
                "client_secret": client.secret or "",
                "code": params["code"],
                "redirect_uri": authz.redirect_uri,
                "code_verifier": authz.verifier,
                "scope": authz.scope,
            }
        )

    # --- Conditional Access ---------------------------------------------------------------

    def create_policy(
        self,
        label: str,
        user: User,
        *,
        controls: list[str],
        state: str = "enabled",
        applications: list[str] | None = None,
    ) -> dict[str, Any]:
        body = {
            "displayName": f"Interop {label} {secrets.token_hex(3)}",
            "state": state,
            "conditions": {
                "users": {"includeUsers": [user.id]},
                "applications": {"includeApplications": applications or ["All"]},
                "clientAppTypes": ["all"],
            },
            "grantControls": {"operator": "OR", "builtInControls": controls},
        }
        policy = self.graph.post("/identity/conditionalAccess/policies", body)
        assert policy.get("id") and policy.get("state") == state, policy
        return policy

    def delete_policy(self, policy_id: str) -> None:
        self.graph.call("DELETE", f"/identity/conditionalAccess/policies/{policy_id}", expect=(204, 404))

    # --- the sign-in log ------------------------------------------------------------------

    def sign_ins(self, user: User) -> list[dict[str, Any]]:
        """The user's sign-in records, oldest first."""
        body = self.graph.get("/auditLogs/signIns", params={"$filter": f"userId eq '{user.id}'", "$top": "100"})
        return list(reversed(body.get("value", [])))

    def wait_sign_ins(
        self, user: User, ready: Callable[[list[dict[str, Any]]], bool], what: str
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + SIGN_IN_LOG_WAIT_S
        while True:
            records = self.sign_ins(user)
            if ready(records):
                return records
            if time.monotonic() > deadline:
                raise AssertionError(f"sign-in log: {what} not there after {SIGN_IN_LOG_WAIT_S} s:\n{summary(records)}")
            time.sleep(0.5)

    def methods(self, user: User) -> list[dict[str, Any]]:
        return self.graph.get(f"/users/{user.id}/authentication/methods")["value"]


@dataclasses.dataclass
class Authz:
    url: str
    verifier: str
    state: str
    redirect_uri: str
    scope: str


def summary(records: list[dict[str, Any]]) -> str:
    rows = []
    for r in records:
        rows.append(
            json.dumps(
                {
                    "errorCode": r.get("status", {}).get("errorCode"),
                    "ca": r.get("conditionalAccessStatus"),
                    "policies": [
                        (p.get("displayName"), p.get("result")) for p in r.get("appliedConditionalAccessPolicies") or []
                    ],
                    "requirement": r.get("authenticationRequirement"),
                    "methods": [d.get("authenticationMethod") for d in r.get("authenticationDetails") or []],
                    "mfa": (r.get("mfaDetail") or {}).get("authMethod"),
                    "protocol": r.get("authenticationProtocol"),
                }
            )
        )
    return "\n".join(rows) or "(no records)"


def interactive(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The browser's records (the token endpoint's are non-interactive)."""
    return [r for r in records if r.get("isInteractive")]


def codes(records: list[dict[str, Any]]) -> list[int]:
    return [r["status"]["errorCode"] for r in records]


def policy_result(record: dict[str, Any], policy: dict[str, Any]) -> str | None:
    for p in record.get("appliedConditionalAccessPolicies") or []:
        if p.get("id") == policy["id"]:
            return p.get("result")
    return None


def assert_mfa_success(record: dict[str, Any], second: str, policy: dict[str, Any] | None) -> None:
    """A final sign-in record after a second factor: success, multi-factor, that method."""
    assert record["status"]["errorCode"] == 0, record["status"]
    assert record["authenticationRequirement"] == "multiFactorAuthentication", summary([record])
    assert (record.get("mfaDetail") or {}).get("authMethod") == second, summary([record])
    steps = {d["authenticationMethod"]: d["succeeded"] for d in record["authenticationDetails"]}
    assert steps.get(second) is True, record["authenticationDetails"]
    if policy is not None:
        assert record["conditionalAccessStatus"] == "success", summary([record])
        assert policy_result(record, policy) == "success", summary([record])


# --------------------------------------------------------------------------- mfa.mjs


class MfaBrowser:
    """Runs browser/mfa.mjs (its own headless Chromium per run) bounded by `timeout`."""

    def __init__(self, ca: str, artifacts: pathlib.Path) -> None:
        self.ca = ca
        self.artifacts = artifacts
        self._n = 0

    def run(
        self,
        rounds: list[dict[str, Any]],
        user: User,
        *,
        until: str,
        virtual_authenticator: bool = False,
        expect_ok: bool = True,
    ) -> dict[str, Any]:
        Browser.check_installed()
        self._n += 1
        shots = self.artifacts / f"mfa-{self._n:03d}"
        shots.mkdir(parents=True, exist_ok=True)
        plan = {
            "untilUrlPrefix": until,
            "virtualAuthenticator": virtual_authenticator,
            "rounds": [{"username": user.upn, **r} for r in rounds],
        }
        cmd = [
            "timeout", "--kill-after=5", str(MFA_HARD_TIMEOUT_S),
            "node", str(BROWSER_DIR / "mfa.mjs"),
            "--plan", json.dumps(plan),
            "--ca", self.ca,
            "--screenshot", str(shots),
            "--timeout", str(MFA_TIMEOUT_S),
        ]  # fmt: skip
        env = dict(os.environ, LOGIN_PASSWORD=user.password, NODE_EXTRA_CA_CERTS=self.ca)
        try:
            proc = subprocess.run(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=MFA_HARD_TIMEOUT_S + 15,
                cwd=str(BROWSER_DIR),
            )
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"mfa.mjs did not end within {MFA_HARD_TIMEOUT_S + 15} s: {e}") from None
        out: dict[str, Any] = {}
        for line in reversed(proc.stdout.strip().splitlines()):
            try:
                out = json.loads(line)
                break
            except ValueError:
                continue
        out["returncode"] = proc.returncode
        if expect_ok and (proc.returncode != 0 or not out.get("ok")):
            raise AssertionError(self.describe(out, proc.stderr))
        return out

    @staticmethod
    def describe(out: dict[str, Any], stderr: str) -> str:
        lines = [f"mfa.mjs failed (exit {out.get('returncode')}) in round {out.get('round')}: {out.get('error')}"]
        for key in ("pages", "steps", "url", "title", "screenshot", "navigations", "console", "credentials"):
            if out.get(key):
                lines.append(f"{key}: {out[key]}")
        for i, r in enumerate(out.get("rounds") or [], 1):
            lines.append(f"round {i} (done): pages {r.get('pages')} steps {r.get('steps')}")
        if out.get("text"):
            lines.append("--- page text ---\n" + str(out["text"])[:3000])
        if stderr:
            lines.append("--- stderr ---\n" + stderr[-2000:])
        return "\n".join(lines)


# --------------------------------------------------------------------------- fixtures


def _idp_from(base: str, ca: str, bootstrap: dict[str, Any]) -> Idp:
    http = requests.Session()
    http.verify = ca
    # REQUESTS_CA_BUNDLE (the suite's CA) would otherwise override `verify` for every request,
    # and the localhost server has a CA of its own.
    http.trust_env = False
    r = http.post(
        f"{base}/{bootstrap['tenantId']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": bootstrap["clientId"],
            "client_secret": bootstrap["clientSecret"],
            "scope": GRAPH_SCOPE,
        },
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, f"bootstrap client could not get a Graph token from {base}: {r.status_code} {r.text}"
    graph = Graph(http, base, r.json()["access_token"])
    ctx_like: Any = type("TenantRef", (), {"tenant_domain": bootstrap["tenantDomain"]})()
    return Idp(base, ca, http, bootstrap["tenantId"], bootstrap["tenantDomain"], graph, Directory(ctx_like, graph))


@pytest.fixture(scope="module")
def idp(ctx: Interop, bootstrap: dict[str, Any]) -> Idp:
    return _idp_from(ctx.base, ctx.ca, bootstrap)


def _ostiary_bin() -> pathlib.Path:
    """The binary scripts/test runs: $OSTIARY_BIN, else the release build (as scripts/lib/common.sh)."""
    if os.environ.get("OSTIARY_BIN"):
        return pathlib.Path(os.environ["OSTIARY_BIN"])
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    return target / "release" / "ostiary"


def _is_ip(host: str | None) -> bool:
    try:
        ipaddress.ip_address(host or "")
        return True
    except ValueError:
        return False


@pytest.fixture(scope="module")
def passkey_idp(ctx: Interop, bootstrap: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    """A server whose public URL has a host name (a WebAuthn RP id cannot be an IP address): the
    suite's own if it already has one, else a fresh `ostiary serve` (SQLite) on
    https://localhost:PORT, stopped after the module."""
    if not _is_ip(urlsplit(ctx.base).hostname):
        yield _idp_from(ctx.base, ctx.ca, bootstrap)
        return
    binary = _ostiary_bin()
    if not os.access(binary, os.X_OK):
        pytest.fail(
            f"passkey tests need a second server with a host-name public URL, but {binary} is not executable "
            "(set OSTIARY_BIN, as scripts/test does)",
            pytrace=False,
        )
    data = tmp_path_factory.mktemp("localhost-server")
    port = free_port()
    base = f"https://localhost:{port}"
    log = open(data / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        ["timeout", "--kill-after=10", "1800", str(binary), "serve",
         "--data-dir", str(data / "data"), "--listen", f"127.0.0.1:{port}", "--public-url", base],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_") or k == "OSTIARY_BIN"},
    )  # fmt: skip
    try:
        ca = data / "data" / "dev-ca.pem"
        boot = data / "data" / "bootstrap-credentials.json"
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                tail = (data / "server.log").read_text()[-3000:]
                pytest.fail(f"localhost server exited ({proc.returncode}):\n{tail}")
            if ca.exists() and boot.exists() and ca.stat().st_size and boot.stat().st_size:
                try:
                    ok = requests.get(f"{base}/healthz", verify=str(ca), timeout=2).status_code == 200
                except requests.RequestException:
                    ok = False
                if ok:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"localhost server not ready in 120 s:\n{(data / 'server.log').read_text()[-3000:]}")
            time.sleep(0.1)
        yield _idp_from(base, str(ca), json.loads(boot.read_text()))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("mfa-browser")


@pytest.fixture
def policies(request: pytest.FixtureRequest) -> Iterator[list[tuple[Idp, str]]]:
    """Policies a test created (idp, id); deleted afterwards whatever happened."""
    created: list[tuple[Idp, str]] = []
    yield created
    for idp, pid in created:
        try:
            idp.delete_policy(pid)
        except Exception as e:  # noqa: BLE001 - cleanup must not hide the test's own failure
            print(f"could not delete policy {pid}: {e}")


def policy(idp: Idp, created: list[tuple[Idp, str]], label: str, user: User, **kw: Any) -> dict[str, Any]:
    p = idp.create_policy(label, user, **kw)
    created.append((idp, p["id"]))
    return p


def web_app(idp: Idp, loopback: Loopback, label: str) -> App:
    return idp.directory.create_app(label, web=[loopback.uri("/cb")], secret=True)


def tokens(r: requests.Response) -> dict[str, Any]:
    assert r.status_code == 200, f"HTTP {r.status_code}: {r.text[:1500]}"
    body = r.json()
    assert body.get("access_token") and body.get("id_token"), sorted(body)
    return body


# =========================================================================== the tests


def test_totp_registration_then_sign_in(idp: Idp, loopback: Loopback, policies: list, artifacts: pathlib.Path):
    user = idp.directory.create_user("totp")
    client = web_app(idp, loopback, "MFA TOTP")
    mfa = policy(idp, policies, "require MFA", user, controls=["mfa"])
    browser = MfaBrowser(idp.ca, artifacts)
    until = loopback.uri("/cb")

    # 1. No method yet: the policy sends the user to registration (QR code + key), then the
    #    recovery codes, then back to the app.
    first = idp.authorize(client, until)
    reg = browser.run([{"url": first.url, "register": "totp"}], user, until=until)["rounds"][0]
    assert reg["pages"][:2] == ["signIn", "mfaRegister"], reg["pages"]
    assert "mfaChallenge" not in reg["pages"], reg["pages"]
    assert reg["pages"][-1] == "redirect", reg["pages"]
    assert reg["registerOffered"]["totp"] and reg["registerOffered"]["qrSvg"], reg["registerOffered"]
    assert not reg["registerOffered"]["skip"], "a policy's registration must not offer 'Not now'"
    assert "recoveryCodes" in reg["pages"] and len(reg["recoveryCodes"]) == 10, reg.get("recoveryCodes")
    assert len(set(reg["recoveryCodes"])) == 10
    secret, step = reg["totp"]["secret"], reg["totp"]["step"]
    tokens(idp.redeem(client, first, reg["params"]))

    kinds = {m["@odata.type"] for m in idp.methods(user)}
    assert "#microsoft.graph.softwareOathAuthenticationMethod" in kinds, kinds
    assert all(m.get("secretKey") in (None, "") for m in idp.methods(user)), "Graph must not return the TOTP seed"

    # 2. A fresh browser: password, then the MFA page answered with a code of a later step
    #    (the registration's step is spent).
    second = idp.authorize(client, until)
    out = browser.run(
        [{"url": second.url, "verify": "totp", "totpSecret": secret, "totpAfterStep": step}], user, until=until
    )["rounds"][0]
    assert out["pages"] == ["signIn", "mfaChallenge", "redirect"], out["pages"]
    assert out["challengeOffered"]["totp"] and out["challengeOffered"]["recovery"], out["challengeOffered"]
    assert out["totp"]["step"] > step
    body = tokens(idp.redeem(client, second, out["params"]))
    # The token endpoint evaluates the same policy: the grant carries the second factor, on refresh too.
    refreshed = idp.token(
        {
            "grant_type": "refresh_token",
            "client_id": client.app_id,
            "client_secret": client.secret or "",
            "refresh_token": body["refresh_token"],
            "scope": OIDC_SCOPES,
        }
    )
    assert refreshed.status_code == 200, refreshed.text[:1500]

    # The log: an interrupt to enroll (50079), its success, an MFA interrupt (50074), its success;
    # then the token requests (non-interactive: two code redemptions, one refresh), which passed
    # the same policy with the methods the grant carries.
    records = idp.wait_sign_ins(user, lambda rs: len(rs) >= 7, "7 records")
    flow = interactive(records)
    assert codes(flow) == [50079, 0, 50074, 0], summary(records)
    for r in flow:
        assert r["appId"] == client.app_id, summary([r])
    assert_mfa_success(flow[1], "OATH verification code", mfa)
    assert_mfa_success(flow[3], "OATH verification code", mfa)
    backend = [r for r in records if not r["isInteractive"]]
    protocols = [r["authenticationProtocol"] for r in backend]
    assert protocols == ["authorization_code", "authorization_code", "refresh_token"], summary(records)
    for r in backend:
        assert r["status"]["errorCode"] == 0 and r["conditionalAccessStatus"] == "success", summary([r])
        assert policy_result(r, mfa) == "success", summary([r])
        # The grant carries the second factor: the token requests are multi-factor too.
        assert r["authenticationRequirement"] == "multiFactorAuthentication", summary([r])

    # 3. Replay: the code of the step just used, at once (the server allows one step of clock
    #    skew, so it is still in the window): refused as already used, logged as a failed MFA.
    third = idp.authorize(client, until)
    used = out["totp"]["step"]
    replay = browser.run(
        [{"url": third.url, "verify": "totp", "totpSecret": secret, "totpStep": used, "expectRefused": True}],
        user,
        until=until,
    )["rounds"][0]
    assert replay["pages"] == ["signIn", "mfaChallenge"], replay["pages"]
    assert "already used" in replay["refused"], replay["refused"]
    records = idp.wait_sign_ins(user, lambda rs: 500121 in codes(rs), "the refused code")
    assert codes(interactive(records))[-2:] == [50074, 500121], summary(records)
    failed = interactive(records)[-1]["authenticationDetails"]
    assert (failed[-1]["authenticationMethod"], failed[-1]["succeeded"]) == ("OATH verification code", False), failed


def test_passkey_registration_mfa_and_username_less(
    passkey_idp: Idp, loopback: Loopback, policies: list, artifacts: pathlib.Path
):
    idp = passkey_idp
    user = idp.directory.create_user("passkey")
    client = web_app(idp, loopback, "MFA Passkey")
    mfa = policy(idp, policies, "require MFA", user, controls=["mfa"])
    browser = MfaBrowser(idp.ca, artifacts)
    until = loopback.uri("/cb")
    register, second, usernameless = (idp.authorize(client, until) for _ in range(3))

    # One browser, one virtual authenticator: register, then a fresh sign-in (cookies dropped)
    # with the passkey as second factor, then a username-less sign-in with the same passkey.
    out = browser.run(
        [
            {"url": register.url, "register": "passkey"},
            {"url": second.url, "verify": "passkey", "clearCookies": True},
            {"url": usernameless.url, "signIn": "passkey", "clearCookies": True},
        ],
        user,
        until=until,
        virtual_authenticator=True,
    )
    r1, r2, r3 = out["rounds"]
    assert r1["pages"][:2] == ["signIn", "mfaRegister"] and r1["pages"][-1] == "redirect", r1["pages"]
    assert r1["registerOffered"]["passkey"], r1["registerOffered"]
    assert len(r1.get("recoveryCodes") or []) == 10, r1.get("recoveryCodes")
    assert r2["pages"] == ["signIn", "mfaChallenge", "redirect"], r2["pages"]
    assert r2["challengeOffered"]["passkey"], r2["challengeOffered"]
    assert r3["pages"] == ["signIn", "redirect"], r3["pages"]  # no MFA page: the passkey is both factors

    creds = out["credentials"]
    assert len(creds) == 1, creds
    assert creds[0]["isResidentCredential"] and creds[0]["rpId"] == urlsplit(idp.base).hostname, creds
    assert creds[0]["signCount"] >= 2, creds  # the two sign-ins used it

    claims = b64url_json(tokens(idp.redeem(client, usernameless, r3["params"]))["id_token"].split(".")[1])
    assert claims.get("oid") == user.id and claims.get("preferred_username") == user.upn, claims
    tokens(idp.redeem(client, second, r2["params"]))
    kinds = {m["@odata.type"] for m in idp.methods(user)}
    assert "#microsoft.graph.fido2AuthenticationMethod" in kinds, kinds

    records = idp.wait_sign_ins(user, lambda rs: codes(interactive(rs)).count(0) >= 3, "3 interactive sign-ins")
    flow = interactive(records)
    assert codes(flow) == [50079, 0, 50074, 0, 0], summary(records)
    done = [r for r in flow if r["status"]["errorCode"] == 0]
    assert_mfa_success(done[0], "Passkey", mfa)
    assert_mfa_success(done[1], "Passkey", mfa)
    last = done[2]
    assert [d["authenticationMethod"] for d in last["authenticationDetails"]] == ["Passkey"], summary([last])
    assert last["authenticationRequirement"] == "multiFactorAuthentication", summary([last])
    assert last["conditionalAccessStatus"] == "success" and policy_result(last, mfa) == "success", summary([last])


def test_step_up_for_one_api_in_an_sso_session(
    idp: Idp, loopback: Loopback, policies: list, artifacts: pathlib.Path
):
    user = idp.directory.create_user("stepup")
    api = idp.directory.create_app("StepUp API", scopes=["Orders.Read"], identifier_uri=True)
    client = web_app(idp, loopback, "MFA StepUp")
    mfa = policy(idp, policies, "MFA for one API", user, controls=["mfa"], applications=[api.app_id])
    browser = MfaBrowser(idp.ca, artifacts)
    until = loopback.uri("/cb")
    api_scope = f"{api.scope('Orders.Read')} {OIDC_SCOPES}"
    enroll = idp.authorize(client, until, api_scope)
    plain = idp.authorize(client, until)
    step_up = idp.authorize(client, until, api_scope)

    out = browser.run(
        [
            # The API needs MFA: register an authenticator app (and get recovery codes).
            {"url": enroll.url, "register": "totp"},
            # A new browser session for Microsoft Graph only: the policy does not apply.
            {"url": plain.url, "clearCookies": True},
            # The same session asks for the API: no password prompt, the MFA page instead.
            {"url": step_up.url, "verify": "recovery", "recoveryCode": "$registered"},
        ],
        user,
        until=until,
    )
    r1, r2, r3 = out["rounds"]
    assert r1["pages"][:2] == ["signIn", "mfaRegister"] and r1["pages"][-1] == "redirect", r1["pages"]
    assert r2["pages"] in (["signIn", "redirect"], ["signIn", "consent", "redirect"]), r2["pages"]
    assert r3["pages"] == ["mfaChallenge", "redirect"], r3["pages"]
    assert r3["recoveryCodeUsed"] == r1["recoveryCodes"][0]
    for authz, r in ((enroll, r1), (plain, r2), (step_up, r3)):
        tokens(idp.redeem(client, authz, r["params"]))
    codes_left = [m for m in idp.methods(user) if "RecoveryCodes" in m["@odata.type"]]
    assert [m.get("remainingCodes") for m in codes_left] == [9], codes_left

    records = interactive(
        idp.wait_sign_ins(user, lambda rs: codes(interactive(rs)).count(0) >= 3, "3 interactive sign-ins")
    )
    assert codes(records) == [50079, 0, 0, 50074, 0], summary(records)
    graph_only, stepped = records[2], records[4]
    assert graph_only["authenticationRequirement"] == "singleFactorAuthentication", summary([graph_only])
    assert graph_only["conditionalAccessStatus"] == "notApplied", summary([graph_only])
    # (Ostiary logs only the policies that applied; Entra also lists the others as notApplied.)
    assert policy_result(graph_only, mfa) in (None, "notApplied"), summary([graph_only])
    assert records[3]["authenticationProtocol"] == "sso", summary(records[3:4])  # no password the second time
    assert stepped["status"]["errorCode"] == 0 and stepped["authenticationProtocol"] == "sso", summary([stepped])
    assert stepped["authenticationRequirement"] == "multiFactorAuthentication", summary([stepped])
    assert stepped["conditionalAccessStatus"] == "success", summary([stepped])
    assert policy_result(stepped, mfa) == "success", summary([stepped])
    # The second factor proven in this flow is logged (mfaDetail, an MFA step in
    # authenticationDetails) even though the first factor came from the SSO session, as Entra does;
    # and the record names the resource the step-up was for.
    assert_mfa_success(stepped, "Recovery code", mfa)
    assert stepped["resourceId"] and stepped["resourceDisplayName"], summary([stepped])


def test_blocked_sign_in(idp: Idp, loopback: Loopback, policies: list, artifacts: pathlib.Path):
    user = idp.directory.create_user("blocked")
    client = web_app(idp, loopback, "MFA Blocked")
    block = policy(idp, policies, "block", user, controls=["block"])
    browser = MfaBrowser(idp.ca, artifacts)
    until = loopback.uri("/cb")
    authz = idp.authorize(client, until)

    out = browser.run([{"url": authz.url, "expectError": "53003"}], user, until=until)["rounds"][0]
    assert out["pages"][0] == "signIn" and out["pages"][-1] in ("redirect", "error"), out["pages"]
    assert "mfaChallenge" not in out["pages"] and "consent" not in out["pages"], out["pages"]
    assert out["error"]["code"] == "53003", out["error"]
    if out["pages"][-1] == "redirect":  # the client is told: access_denied, no code
        assert out["params"].get("error") == "access_denied" and "code" not in out["params"], out["params"]
        assert out["params"].get("state") == authz.state, out["params"]

    records = idp.wait_sign_ins(user, lambda rs: 53003 in codes(rs), "the blocked sign-in")
    r = next(r for r in records if r["status"]["errorCode"] == 53003)
    assert r["conditionalAccessStatus"] == "failure", summary([r])
    assert policy_result(r, block) == "failure", summary([r])
    assert r["status"].get("failureReason"), r["status"]
    assert r["authenticationDetails"][0]["succeeded"] is True, "the password was right; the policy blocked"
    assert 0 not in codes(records), summary(records)


def test_report_only_policies_are_logged_not_enforced(
    idp: Idp, loopback: Loopback, policies: list, artifacts: pathlib.Path
):
    user = idp.directory.create_user("reportonly")
    client = web_app(idp, loopback, "MFA ReportOnly")
    report_only = "enabledForReportingButNotEnforced"
    block = policy(idp, policies, "report-only block", user, controls=["block"], state=report_only)
    mfa = policy(idp, policies, "report-only MFA", user, controls=["mfa"], state=report_only)
    browser = MfaBrowser(idp.ca, artifacts)
    until = loopback.uri("/cb")
    authz = idp.authorize(client, until)

    out = browser.run([{"url": authz.url}], user, until=until)["rounds"][0]
    assert out["pages"] in (["signIn", "redirect"], ["signIn", "consent", "redirect"]), out["pages"]
    tokens(idp.redeem(client, authz, out["params"]))

    # The browser's sign-in and the code redemption: both pass, both log what would have happened.
    records = idp.wait_sign_ins(user, lambda rs: len(rs) >= 2, "2 records")
    assert codes(records) == [0, 0], summary(records)
    assert [r["isInteractive"] for r in records] == [True, False], summary(records)
    for r in records:
        assert r["conditionalAccessStatus"] == "notApplied", summary([r])
        assert policy_result(r, block) == "reportOnlyFailure", summary([r])
        assert policy_result(r, mfa) == "reportOnlyInterrupted", summary([r])
    assert records[0]["authenticationRequirement"] == "singleFactorAuthentication", summary(records)
