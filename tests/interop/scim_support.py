"""Shared plumbing for the SCIM interop tests (test_scim_compliance.py, test_scim_entra.py,
test_provisioning_outbound.py). Not a test module.

The SCIM target is Ostiary's inbound SCIM 2.0 server at `{OSTIARY_BASE}/scim/v2/{tenantId}`,
authenticated by a Graph token (client credentials, `https://graph.microsoft.com/.default`) of the
bootstrap app, which holds User.ReadWrite.All + Group.ReadWrite.All.

`SCIM_TARGET=peer` points the SCIM-only tests at the peer `scim2-server` (PyPI, from this venv)
instead, started here on a free loopback port with a random bearer token: that validates the
harness itself without Ostiary. Tests that need Ostiary (Graph cross-checks, permissions, other
tenants, audit logs) skip in that mode; the few places where the peer legitimately differs from
what Ostiary promises (RFC MAYs, Entra-only leniencies) are marked with `target.peer_xfail(...)`.

    SCIM_TARGET=peer .venv/bin/python -m pytest -q tests/interop/test_scim_compliance.py \
        tests/interop/test_scim_entra.py
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from html.parser import HTMLParser
from typing import Any, Iterable
from urllib.parse import urlencode

import pytest
import requests

SCIM_CT = "application/scim+json"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MS_GROUP_URN = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
BULK_REQUEST_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE_URN = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
HTTP_TIMEOUT = 30
# Microsoft Graph application permissions (Microsoft's app-role ids; crates/ostiary-core/src/graph.rs).
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_ROLE_IDS = {
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
    "User.ReadWrite.All": "741f803b-c850-494e-b5df-cde7c675a1ca",
    "Group.Read.All": "5b567255-7703-4780-807c-7be8301ae99b",
    "Group.ReadWrite.All": "62a82d76-70ea-41e2-9197-370581804d09",
    "Directory.ReadWrite.All": "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
    "AuditLog.Read.All": "b0afded3-3588-46d8-8b3d-9842eddd2f6e",
}


def venv_tool(name: str) -> str:
    """A console script of this venv (scim2, scim-sanity, scim2-server), else one on PATH."""
    here = pathlib.Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: pip install -r tests/interop/requirements.txt", pytrace=False)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str = "scim") -> str:
    return f"{prefix}{secrets.token_hex(5)}"


# --------------------------------------------------------------------------- the peer scim2-server


class PeerScimServer:
    """`scim2-server` (in-memory, werkzeug-free wsgiref) on 127.0.0.1:PORT, serving /v2 with a
    static bearer token. Bounded by `timeout` so it never outlives a crashed run."""

    def __init__(self, token: str | None = None, port: int | None = None, log: pathlib.Path | None = None,
                 lifetime_s: int = 3600) -> None:
        self.token = token or secrets.token_urlsafe(24)
        self.port = port or free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.root}/v2"
        self.log_path = log
        out = open(log, "wb") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            ["timeout", "--kill-after=5", str(lifetime_s), venv_tool("scim2-server"),
             # `=`: a token starting with "-" would otherwise read as an option (argparse).
             "--hostname", "127.0.0.1", "--port", str(self.port), f"--bearer-token={self.token}"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"scim2-server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                r = requests.get(f"{self.url}/ServiceProviderConfig", headers=self.headers, timeout=2)
                if r.status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"scim2-server not ready on {self.url} after 30 s: {self.log_tail()}")
            time.sleep(0.05)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def log_tail(self, n: int = 4000) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-n:]
        return "(no log)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# --------------------------------------------------------------------------- the target


@dataclasses.dataclass
class ScimTarget:
    kind: str  # "ostiary" | "peer"
    url: str  # SCIM base, no trailing slash
    token: str
    verify: str | bool  # CA file for requests / httpx2, True for plain http
    tenant_id: str | None
    tenant_domain: str  # for userName = UPN in the tenant's domain
    client_app_id: str | None  # appId of the SCIM client (audit initiatedBy/app)
    base: str | None = None  # Ostiary's https base

    @property
    def is_peer(self) -> bool:
        return self.kind == "peer"

    def require_ostiary(self, why: str) -> None:
        if self.is_peer:
            pytest.skip(f"needs Ostiary ({why}); SCIM_TARGET=peer runs the SCIM-only checks")

    def peer_xfail(self, condition: bool, reason: str) -> None:
        """Against the peer only: an expected difference (an RFC MAY or an Entra-only leniency the
        reference scim2-server does not have). Against Ostiary the assertion that follows must hold."""
        if self.is_peer and condition:
            pytest.xfail(f"scim2-server (peer): {reason}")

    def ssl_context(self) -> Any:
        import ssl

        if isinstance(self.verify, str):
            return ssl.create_default_context(cafile=self.verify)
        return ssl.create_default_context()

    def scim2_client(self, token: str | None = None) -> Any:
        """A scim2-client SyncSCIMClient (httpx2) on this target, as scim2-tester expects."""
        from httpx2 import Client
        from scim2_client.engines.httpx2 import SyncSCIMClient

        return SyncSCIMClient(
            Client(
                base_url=self.url,
                headers={"Authorization": f"Bearer {token or self.token}"},
                verify=self.ssl_context(),
                timeout=HTTP_TIMEOUT,
            )
        )

    def subprocess_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if isinstance(self.verify, str):
            env["SSL_CERT_FILE"] = self.verify
            env["REQUESTS_CA_BUNDLE"] = self.verify
        return env


def client_credentials_token(http: requests.Session, base: str, tenant: str, client_id: str, secret: str,
                             scope: str = GRAPH_SCOPE) -> str:
    r = http.post(
        f"{base}/{tenant}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": scope},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, f"client_credentials for {client_id} at {tenant}: HTTP {r.status_code} {r.text[:500]}"
    return r.json()["access_token"]


@pytest.fixture(scope="session")
def scim_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ScimTarget:
    if os.environ.get("SCIM_TARGET", "ostiary") == "peer":
        log = tmp_path_factory.mktemp("scim-peer") / "scim2-server.log"
        peer = PeerScimServer(log=log)
        request.addfinalizer(peer.stop)
        return ScimTarget("peer", peer.url, peer.token, True, None, "example.com", None)
    base: str = request.getfixturevalue("base")
    bootstrap: dict[str, Any] = request.getfixturevalue("bootstrap")
    ca: str = request.getfixturevalue("ca")
    http: requests.Session = request.getfixturevalue("http")
    tid = bootstrap["tenantId"]
    token = client_credentials_token(http, base, tid, bootstrap["clientId"], bootstrap["clientSecret"])
    url = f"{base}/scim/v2/{tid}"
    r = http.get(f"{url}/ServiceProviderConfig", headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT)
    if r.status_code != 200:
        pytest.fail(
            f"Ostiary serves no SCIM at {url}: GET /ServiceProviderConfig answered HTTP {r.status_code} "
            f"{r.text[:300]!r}",
            pytrace=False,
        )
    return ScimTarget("ostiary", url, token, ca, tid, bootstrap["tenantDomain"], bootstrap["clientId"], base)


# --------------------------------------------------------------------------- a plain SCIM client


def _short(value: Any, n: int = 1500) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= n else text[:n] + f"… ({len(text)} chars)"


def describe(r: requests.Response) -> str:
    req = r.request
    body = req.body.decode("utf-8", "replace") if isinstance(req.body, bytes) else (req.body or "")
    keep = ("content-type", "location", "etag", "www-authenticate", "retry-after")
    hdrs = {k: v for k, v in r.headers.items() if k.lower() in keep}
    return (
        f"\n  request : {req.method} {req.url}"
        + (f"\n            {_short(body)}" if body else "")
        + f"\n  response: HTTP {r.status_code} {hdrs}\n            {_short(r.text)}"
    )


class Scim:
    """requests against one SCIM base with one bearer token; every assertion message carries the
    request and the response."""

    def __init__(self, target: ScimTarget, token: str | None = None, url: str | None = None) -> None:
        self.target = target
        self.url = (url or target.url).rstrip("/")
        self.token = token or target.token
        self.http = requests.Session()
        self.http.trust_env = False  # the machine's REQUESTS_CA_BUNDLE must not replace our CA
        self.http.verify = target.verify

    def request(self, method: str, path: str, body: Any = None, *, expect: int | Iterable[int] | None = None,
                headers: dict[str, str] | None = None, params: dict[str, Any] | None = None,
                raw: str | None = None) -> requests.Response:
        h = {"Authorization": f"Bearer {self.token}", "Accept": SCIM_CT}
        data = None
        if body is not None or raw is not None:
            h["Content-Type"] = SCIM_CT
            data = raw if raw is not None else json.dumps(body)
        h.update(headers or {})
        url = path if path.startswith("http") else self.url + path
        r = self.http.request(method, url, data=data, headers=h, params=params, timeout=HTTP_TIMEOUT)
        if expect is not None:
            allowed = (expect,) if isinstance(expect, int) else tuple(expect)
            assert r.status_code in allowed, f"expected HTTP {allowed}" + describe(r)
        return r

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    # ---- conveniences
    def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.post(f"/{kind}", body, expect=201)
        assert_scim_json(r)
        created = r.json()
        assert created.get("id"), "created resource without id" + describe(r)
        return created

    def read(self, kind: str, rid: str, **params: str) -> dict[str, Any]:
        r = self.get(f"/{kind}/{rid}", params=params or None, expect=200)
        assert_scim_json(r)
        return r.json()

    def query(self, kind: str, filter: str | None = None, **params: Any) -> dict[str, Any]:
        if filter is not None:
            params["filter"] = filter
        r = self.get(f"/{kind}", params=params, expect=200)
        assert_scim_json(r)
        body = r.json()
        assert LIST_URN in body.get("schemas", []), "not a ListResponse" + describe(r)
        return body

    def patch_ops(self, kind: str, rid: str, ops: list[dict[str, Any]], expect: int | Iterable[int] = (200, 204),
                  **kw: Any) -> requests.Response:
        return self.patch(f"/{kind}/{rid}", {"schemas": [PATCH_URN], "Operations": ops}, expect=expect, **kw)


def assert_scim_json(r: requests.Response) -> None:
    ct = (r.headers.get("content-type") or "").split(";")[0].strip().lower()
    assert ct == SCIM_CT, f"Content-Type should be {SCIM_CT}, is {ct!r}" + describe(r)


def assert_scim_error(r: requests.Response, status: int, scim_type: str | None = None) -> dict[str, Any]:
    """RFC 7644 §3.12: the status code, `application/scim+json`, the Error schema, `status` as a
    JSON string equal to the HTTP status, and `scimType` when one is given."""
    assert r.status_code == status, f"expected HTTP {status}" + describe(r)
    assert_scim_json(r)
    body = r.json()
    assert ERROR_URN in body.get("schemas", []), "not a SCIM Error" + describe(r)
    assert str(body.get("status")) == str(status), "Error.status differs from the HTTP status" + describe(r)
    if scim_type is not None:
        assert body.get("scimType") == scim_type, f"scimType should be {scim_type!r}" + describe(r)
    return body


def resources(listing: dict[str, Any]) -> list[dict[str, Any]]:
    return listing.get("Resources") or []


def ids(listing: dict[str, Any]) -> set[str]:
    return {x["id"] for x in resources(listing)}


def email(resource: dict[str, Any], kind: str = "work") -> str | None:
    for e in resource.get("emails") or []:
        if e.get("type") == kind:
            return e.get("value")
    return None


def entra_user(domain: str, *, label: str = "Test_User", active: Any = True, **extra: Any) -> dict[str, Any]:
    """Exactly the body Entra's provisioning service POSTs (entra-compat §8), with a userName that
    is a UPN in the tenant's domain."""
    nick = f"{label}_{secrets.token_hex(5)}"
    body: dict[str, Any] = {
        "schemas": [USER_URN, ENTERPRISE_URN],
        "externalId": str(uuid.uuid4()),
        "userName": f"{nick}@{domain}",
        "active": active,
        "emails": [{"primary": True, "type": "work", "value": f"{nick}@mail.example.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
    }
    body.update(extra)
    return body


def entra_group(label: str = "Group", adscim: bool = True) -> dict[str, Any]:
    """Entra's POST /Groups body (no members); `adscim` keeps Microsoft's ADSCIM Group URN in schemas."""
    return {
        "schemas": [GROUP_URN, MS_GROUP_URN] if adscim else [GROUP_URN],
        "externalId": str(uuid.uuid4()),
        "displayName": f"{label} {secrets.token_hex(5)}",
        "meta": {"resourceType": "Group"},
    }


class Made:
    """Resources a test created; deleted at teardown (404 is fine)."""

    def __init__(self, scim: Scim) -> None:
        self.scim = scim
        self.items: list[tuple[str, str]] = []

    def user(self, body: dict[str, Any]) -> dict[str, Any]:
        created = self.scim.create("Users", body)
        self.items.append(("Users", created["id"]))
        return created

    def group(self, body: dict[str, Any]) -> dict[str, Any]:
        created = self.scim.create("Groups", body)
        self.items.append(("Groups", created["id"]))
        return created

    def track(self, kind: str, rid: str) -> None:
        self.items.append((kind, rid))

    def cleanup(self) -> None:
        for kind, rid in reversed(self.items):
            try:
                self.scim.delete(f"/{kind}/{rid}")
            except requests.RequestException:
                pass


@pytest.fixture(scope="session")
def scim(scim_target: ScimTarget) -> Scim:
    return Scim(scim_target)


@pytest.fixture
def made(scim: Scim) -> Any:
    m = Made(scim)
    try:
        yield m
    finally:
        m.cleanup()


# --------------------------------------------------------------------------- Ostiary helpers


def graph_app_with_roles(graph: Any, directory: Any, label: str, roles: list[str]) -> tuple[Any, str]:
    """An app with a secret whose service principal holds these Microsoft Graph application
    permissions (assigned on the Graph service principal, as admin consent does)."""
    app = directory.create_app(label, secret=True)
    graph_sp = graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')")
    for role in roles:
        graph.post(
            f"/servicePrincipals/{graph_sp['id']}/appRoleAssignedTo",
            {"principalId": app.sp_id, "resourceId": graph_sp["id"], "appRoleId": GRAPH_ROLE_IDS[role]},
        )
    return app, graph_sp["id"]


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action") or "", "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""


@dataclasses.dataclass
class PasswordSignIn:
    status: int
    location: str | None
    text: str

    @property
    def got_code(self) -> bool:
        return bool(self.location and "code=" in self.location)

    @property
    def page_text(self) -> str:
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", self.text)).strip()[:800]


def password_sign_in(base: str, ca: str, tenant: str, client_id: str, redirect_uri: str, upn: str,
                     password: str) -> PasswordSignIn:
    """Plain-HTTP interactive sign-in (no browser): /authorize → the sign-in form (hidden `flow` and
    `csrf`) → POST username + password. Success is the 302 to the redirect URI with a code (or a
    consent page); a refused sign-in renders the form again with the reason."""
    s = requests.Session()
    s.trust_env = False
    s.verify = ca
    url = f"{base}/{tenant}/oauth2/v2.0/authorize?" + urlencode({
        "client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri,
        "scope": "openid profile", "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
        "prompt": "login",
    })  # fmt: skip
    page = s.get(url, timeout=HTTP_TIMEOUT)
    parser = _Forms()
    parser.feed(page.text)
    forms = [f for f in parser.forms if "password" in f["fields"] or "username" in f["fields"]]
    assert forms, f"no sign-in form at {page.url} (HTTP {page.status_code}): {page.text[:800]}"
    fields = dict(forms[0]["fields"])
    fields["username"] = upn
    fields["password"] = password
    action = forms[0]["action"]
    r = s.post(action if action.startswith("http") else base + action, data=fields, allow_redirects=False,
               timeout=HTTP_TIMEOUT)
    return PasswordSignIn(r.status_code, r.headers.get("location"), r.text)


def poll(fn: Any, timeout: float = 20.0, interval: float = 0.5, what: str = "condition") -> Any:
    """fn() until it returns something truthy; the last value (or AssertionError) after timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except AssertionError as e:
            last = e
        if time.monotonic() > deadline:
            if isinstance(last, AssertionError):
                raise last
            raise AssertionError(f"{what} not reached within {timeout} s (last: {_short(last, 800)})")
        time.sleep(interval)
