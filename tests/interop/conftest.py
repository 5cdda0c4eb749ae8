"""Fixtures for the interop suite: real Microsoft client libraries against a running Ostiary.

Environment (scripts/test sets all of it):
  OSTIARY_BASE        https://127.0.0.1:PORT
  OSTIARY_BOOTSTRAP   path of DATA_DIR/bootstrap-credentials.json
  REQUESTS_CA_BUNDLE  the dev CA (msal, azure-identity sync, requests)
  SSL_CERT_FILE       the dev CA (aiohttp for azure.identity.aio, httpx for msgraph-sdk)
If the two CA variables are unset, the CA from the bootstrap file is used for both.

The session fixture `ctx` registers, through the Graph-shaped admin API:
  * resource app "Interop API" (identifierUris api://interop-<random>, app role Data.Read.All for applications)
  * client app "Interop Client" with a password (addPassword) and an RSA-2048 self-signed certificate
  * service principals for both, and the Data.Read.All assignment from the client SP on the resource SP.

Interactive flows (auth code, device code, OBO, openid-client) add, further down:
  * `directory`   creates users and apps (web / spa / public-client redirect URIs, exposed delegated
                  scopes, passwords, service principals) and grants admin consent through Graph
  * `user`        a member user with a known password; `orders_api` the "Orders API" resource
                  (delegated scope Orders.Read)
  * `browser`     runs browser/login.mjs (playwright-core + Debian Chromium) bounded by `timeout`
  * `loopback`    a stdlib HTTP server on 127.0.0.1 that captures authorization responses
                  (query GET or form_post POST) at http://localhost:PORT/...
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import json
import os
import pathlib
import secrets
import shutil
import stat
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
BOOTSTRAP_KEYS = {
    "tenantId",
    "tenantDomain",
    "issuer",
    "clientId",
    "clientSecret",
    "adminUserPrincipalName",
    "adminPassword",
    "caCertificate",
}
ROLE_VALUE = "Data.Read.All"
HTTP_TIMEOUT = 30


def _require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run the interop suite through scripts/test, or set "
            "OSTIARY_BASE and OSTIARY_BOOTSTRAP for a running server",
            pytrace=False,
        )
    return value


# --------------------------------------------------------------------------- environment


@pytest.fixture(scope="session")
def base() -> str:
    return _require_env("OSTIARY_BASE").rstrip("/")


@pytest.fixture(scope="session")
def bootstrap_path() -> pathlib.Path:
    return pathlib.Path(_require_env("OSTIARY_BOOTSTRAP"))


@pytest.fixture(scope="session")
def bootstrap(bootstrap_path: pathlib.Path) -> dict[str, Any]:
    data = json.loads(bootstrap_path.read_text())
    missing = BOOTSTRAP_KEYS - set(data)
    assert not missing, f"bootstrap file lacks {sorted(missing)}"
    return data


@pytest.fixture(scope="session")
def ca(bootstrap: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of the CA that trusts the server (the bootstrap file's `caCertificate` is a path);
    exported as REQUESTS_CA_BUNDLE and SSL_CERT_FILE."""
    path = bootstrap["caCertificate"]
    assert pathlib.Path(path).is_absolute(), f"caCertificate should be an absolute path: {path}"
    assert "BEGIN CERTIFICATE" in pathlib.Path(path).read_text()
    # msal / azure-identity (sync) / requests read REQUESTS_CA_BUNDLE; aiohttp and httpx read SSL_CERT_FILE.
    os.environ["REQUESTS_CA_BUNDLE"] = path
    os.environ["SSL_CERT_FILE"] = path
    return path


@pytest.fixture(scope="session")
def http(ca: str) -> requests.Session:
    s = requests.Session()
    s.verify = ca
    return s


# --------------------------------------------------------------------------- token helpers


def token_url(base: str, tenant: str) -> str:
    return f"{base}/{tenant}/oauth2/v2.0/token"


def post_token(
    http: requests.Session,
    base: str,
    tenant: str,
    data: dict[str, str],
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> requests.Response:
    return http.post(
        token_url(base, tenant), data=data, headers=headers or {}, auth=auth, timeout=HTTP_TIMEOUT
    )


class Graph:
    """Minimal Graph client over requests, for fixture set-up and plain-HTTP checks."""

    def __init__(self, http: requests.Session, base: str, token: str) -> None:
        self.http = http
        self.root = f"{base}/v1.0"
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, expect: int | tuple[int, ...] = 200, **kw: Any) -> Any:
        r = self.http.request(
            method, self.root + path, headers=self.headers, timeout=HTTP_TIMEOUT, **kw
        )
        expected = (expect,) if isinstance(expect, int) else expect
        assert r.status_code in expected, (
            f"{method} /v1.0{path}: HTTP {r.status_code} (expected {expected}): {r.text[:2000]}"
        )
        if r.status_code == 204 or not r.content:
            return None
        return r.json()

    def post(self, path: str, body: Any, expect: int | tuple[int, ...] = 201) -> Any:
        return self.call("POST", path, expect=expect, json=body)

    def get(self, path: str, expect: int | tuple[int, ...] = 200, **kw: Any) -> Any:
        return self.call("GET", path, expect=expect, **kw)


@pytest.fixture(scope="session")
def graph(http: requests.Session, base: str, bootstrap: dict[str, Any]) -> Graph:
    r = post_token(
        http,
        base,
        bootstrap["tenantId"],
        {
            "grant_type": "client_credentials",
            "client_id": bootstrap["clientId"],
            "client_secret": bootstrap["clientSecret"],
            "scope": GRAPH_SCOPE,
        },
    )
    assert r.status_code == 200, f"bootstrap client could not get a Graph token: {r.status_code} {r.text}"
    return Graph(http, base, r.json()["access_token"])


# --------------------------------------------------------------------------- certificate


def make_self_signed(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


# --------------------------------------------------------------------------- the interop context


@dataclasses.dataclass
class Interop:
    base: str
    ca: str
    http: requests.Session
    tenant_id: str
    tenant_domain: str
    role_id: str
    role_value: str
    identifier_uri: str
    resource_app_id: str
    resource_object_id: str
    resource_sp_id: str
    client_app_id: str
    client_object_id: str
    client_sp_id: str
    secret: str
    secret_key_id: str
    key_pem: str
    cert_pem: str
    thumbprint_sha1_hex: str
    cert_with_key_path: str

    @property
    def authority(self) -> str:
        return f"{self.base}/{self.tenant_id}"

    @property
    def scope(self) -> str:
        return f"{self.identifier_uri}/.default"

    @property
    def issuer(self) -> str:
        return f"{self.base}/{self.tenant_id}/v2.0"

    def discovery(self, tenant: str | None = None) -> dict[str, Any]:
        r = self.http.get(
            f"{self.base}/{tenant or self.tenant_id}/v2.0/.well-known/openid-configuration",
            timeout=HTTP_TIMEOUT,
        )
        assert r.status_code == 200, r.text
        return r.json()

    def jwks(self) -> dict[str, Any]:
        r = self.http.get(self.discovery()["jwks_uri"], timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        return r.json()

    def verify(self, token: str, audience: str | None = None) -> dict[str, Any]:
        """Verify the JWT signature against the JWKS from discovery, plus iss/aud/exp."""
        header = jwt.get_unverified_header(token)
        assert header.get("kid"), f"no kid in token header {header}"
        matching = [k for k in self.jwks()["keys"] if k.get("kid") == header["kid"]]
        assert len(matching) == 1, f"kid {header['kid']!r} not (uniquely) in the JWKS"
        key = jwt.PyJWK.from_dict(matching[0], algorithm=header["alg"])
        return jwt.decode(
            token,
            key=key.key,
            algorithms=[header["alg"]],
            audience=audience or self.resource_app_id,
            issuer=self.issuer,
            leeway=60,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )

    def assert_app_token(self, claims: dict[str, Any], azpacr: str) -> None:
        """The v2.0 app-only access token claims for the interop client."""
        expected = {
            "aud": self.resource_app_id,
            "iss": self.issuer,
            "tid": self.tenant_id,
            "azp": self.client_app_id,
            "azpacr": azpacr,
            "roles": [self.role_value],
            "idtyp": "app",
            "ver": "2.0",
            "oid": self.client_sp_id,
            "sub": self.client_sp_id,
        }
        actual = {k: claims.get(k) for k in expected}
        assert actual == expected, f"claims differ:\n got      {actual}\n expected {expected}"
        assert claims.get("uti"), "uti claim missing"
        assert claims["exp"] > claims["iat"]


@pytest.fixture(scope="session")
def ctx(
    base: str,
    ca: str,
    http: requests.Session,
    bootstrap: dict[str, Any],
    graph: Graph,
    tmp_path_factory: pytest.TempPathFactory,
) -> Interop:
    suffix = secrets.token_hex(4)
    role_id = str(uuid.uuid4())
    identifier_uri = f"api://interop-{suffix}"

    resource = graph.post(
        "/applications",
        {
            "displayName": "Interop API",
            "identifierUris": [identifier_uri],
            "appRoles": [
                {
                    "id": role_id,
                    "value": ROLE_VALUE,
                    "displayName": "Read all data",
                    "description": "Allows the app to read all data.",
                    "allowedMemberTypes": ["Application"],
                    "isEnabled": True,
                }
            ],
        },
    )
    assert resource.get("id") and resource.get("appId"), resource

    key, cert = make_self_signed(f"interop-client-{suffix}")
    der = cert.public_bytes(serialization.Encoding.DER)
    client = graph.post(
        "/applications",
        {
            "displayName": "Interop Client",
            "keyCredentials": [
                {
                    "type": "AsymmetricX509Cert",
                    "usage": "Verify",
                    "key": base64.b64encode(der).decode(),
                    "displayName": f"CN=interop-client-{suffix}",
                }
            ],
        },
    )
    assert client.get("id") and client.get("appId"), client

    password = graph.post(
        f"/applications/{client['id']}/addPassword",
        {"passwordCredential": {"displayName": "interop"}},
        expect=200,
    )
    assert password.get("secretText") and password.get("keyId"), password

    resource_sp = graph.post("/servicePrincipals", {"appId": resource["appId"]})
    client_sp = graph.post("/servicePrincipals", {"appId": client["appId"]})
    assert resource_sp.get("id") and client_sp.get("id")

    graph.post(
        f"/servicePrincipals/{resource_sp['id']}/appRoleAssignedTo",
        {"principalId": client_sp["id"], "resourceId": resource_sp["id"], "appRoleId": role_id},
    )

    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    both = tmp_path_factory.mktemp("client-cert") / "client.pem"
    both.write_text(key_pem + cert_pem)
    both.chmod(stat.S_IRUSR | stat.S_IWUSR)

    return Interop(
        base=base,
        ca=ca,
        http=http,
        tenant_id=bootstrap["tenantId"],
        tenant_domain=bootstrap["tenantDomain"],
        role_id=role_id,
        role_value=ROLE_VALUE,
        identifier_uri=identifier_uri,
        resource_app_id=resource["appId"],
        resource_object_id=resource["id"],
        resource_sp_id=resource_sp["id"],
        client_app_id=client["appId"],
        client_object_id=client["id"],
        client_sp_id=client_sp["id"],
        secret=password["secretText"],
        secret_key_id=password["keyId"],
        key_pem=key_pem,
        cert_pem=cert_pem,
        thumbprint_sha1_hex=cert.fingerprint(hashes.SHA1()).hex().upper(),
        cert_with_key_path=str(both),
    )


# =========================================================================== interactive flows
#
# Everything below serves the browser-driven tests (auth code, device code, OBO, openid-client,
# authorize-endpoint security). Users and apps are created through the Graph-shaped API; the
# browser is browser/login.mjs (playwright-core driving Debian's /usr/bin/chromium); the
# redirect URIs point at a `Loopback` server of the test's own.

BROWSER_DIR = pathlib.Path(__file__).resolve().parent / "browser"
LOGIN_TIMEOUT_S = 60  # login.mjs's own limit for one walk through the pages
LOGIN_HARD_TIMEOUT_S = 90  # `timeout` around node, in case login.mjs itself hangs
ORDERS_READ = "Orders.Read"
OIDC_SCOPES = "openid profile offline_access"
CONSENT_SCOPE = f"{ORDERS_READ} {OIDC_SCOPES}"  # what admin consent grants on the Orders API


# --------------------------------------------------------------------------- directory objects


@dataclasses.dataclass
class User:
    id: str
    upn: str
    password: str
    display_name: str


@dataclasses.dataclass
class App:
    display_name: str
    app_id: str
    object_id: str
    sp_id: str
    secret: str | None = None
    identifier_uri: str | None = None
    scope_ids: dict[str, str] = dataclasses.field(default_factory=dict)

    def scope(self, value: str) -> str:
        assert self.identifier_uri, f"{self.display_name} exposes no identifierUri"
        return f"{self.identifier_uri}/{value}"


def make_password() -> str:
    """A password that satisfies any sane complexity policy (upper, lower, digit, symbol, 20+ chars)."""
    return f"Interop-{secrets.token_urlsafe(12)}-7q!"


class Directory:
    """Creates users and applications through the Graph-shaped admin API (bootstrap app token)."""

    def __init__(self, ctx: Interop, graph: Graph) -> None:
        self.ctx = ctx
        self.graph = graph

    def create_user(self, label: str = "user") -> User:
        suffix = secrets.token_hex(4)
        nickname = f"{label}-{suffix}"
        upn = f"{nickname}@{self.ctx.tenant_domain}"
        password = make_password()
        display_name = f"Interop {label.capitalize()} {suffix}"
        body = self.graph.post(
            "/users",
            {
                "accountEnabled": True,
                "displayName": display_name,
                "mailNickname": nickname,
                "userPrincipalName": upn,
                "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": False},
            },
        )
        assert body.get("id"), body
        return User(id=body["id"], upn=upn, password=password, display_name=display_name)

    def create_app(
        self,
        label: str,
        *,
        web: list[str] | tuple[str, ...] = (),
        spa: list[str] | tuple[str, ...] = (),
        public: list[str] | tuple[str, ...] = (),
        public_client: bool = False,
        secret: bool = False,
        scopes: list[str] | tuple[str, ...] = (),
        identifier_uri: bool | str = False,
    ) -> App:
        """An application + its service principal. `scopes` are exposed delegated permissions
        (api.oauth2PermissionScopes, type User); they imply an identifierUri api://<label>-<random>."""
        suffix = secrets.token_hex(4)
        display_name = f"Interop {label} {suffix}"
        body: dict[str, Any] = {"displayName": display_name}
        if web:
            body["web"] = {"redirectUris": list(web)}
        if spa:
            body["spa"] = {"redirectUris": list(spa)}
        if public:
            body["publicClient"] = {"redirectUris": list(public)}
        if public_client:
            body["isFallbackPublicClient"] = True
        uri = None
        if scopes or identifier_uri:
            slug = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")
            uri = identifier_uri if isinstance(identifier_uri, str) else f"api://{slug}-{suffix}"
            body["identifierUris"] = [uri]
        scope_ids = {value: str(uuid.uuid4()) for value in scopes}
        if scopes:
            body["api"] = {
                "oauth2PermissionScopes": [
                    {
                        "id": scope_ids[value],
                        "value": value,
                        "type": "User",
                        "isEnabled": True,
                        "adminConsentDisplayName": f"{value} (admin)",
                        "adminConsentDescription": f"Allows the app to use {value} on behalf of the signed-in user.",
                        "userConsentDisplayName": f"{value} (user)",
                        "userConsentDescription": f"Allows the app to use {value} on your behalf.",
                    }
                    for value in scopes
                ]
            }
        app = self.graph.post("/applications", body)
        assert app.get("id") and app.get("appId"), app
        password = None
        if secret:
            pw = self.graph.post(
                f"/applications/{app['id']}/addPassword",
                {"passwordCredential": {"displayName": "interop"}},
                expect=200,
            )
            assert pw.get("secretText"), pw
            password = pw["secretText"]
        sp = self.graph.post("/servicePrincipals", {"appId": app["appId"]})
        assert sp.get("id"), sp
        return App(
            display_name=display_name,
            app_id=app["appId"],
            object_id=app["id"],
            sp_id=sp["id"],
            secret=password,
            identifier_uri=uri,
            scope_ids=scope_ids,
        )

    def admin_consent(self, client: App, resource: App, scope: str = CONSENT_SCOPE) -> bool:
        """Tenant-wide delegated consent through Graph. True on 201; False on 403 (the caller then
        lets the user consent in the browser). Anything else fails the test."""
        r = self.graph.http.post(
            f"{self.graph.root}/oauth2PermissionGrants",
            headers=self.graph.headers,
            json={
                "clientId": client.sp_id,
                "consentType": "AllPrincipals",
                "resourceId": resource.sp_id,
                "scope": scope,
            },
            timeout=HTTP_TIMEOUT,
        )
        if r.status_code == 403:
            return False
        assert r.status_code == 201, f"POST /v1.0/oauth2PermissionGrants: HTTP {r.status_code}: {r.text[:2000]}"
        body = r.json()
        assert body.get("clientId") == client.sp_id and body.get("resourceId") == resource.sp_id, body
        return True


def consent_mode(granted: bool) -> str:
    """login.mjs --consent: with admin consent in place no consent page may show; otherwise accept it."""
    return "skip" if granted else "accept"


@pytest.fixture(scope="session")
def directory(ctx: Interop, graph: Graph) -> Directory:
    return Directory(ctx, graph)


@pytest.fixture(scope="session")
def user(directory: Directory) -> User:
    return directory.create_user("alice")


@pytest.fixture(scope="session")
def admin_user(bootstrap: dict[str, Any], graph: Graph) -> User:
    upn = bootstrap["adminUserPrincipalName"]
    found = graph.get(f"/users/{upn}")
    return User(
        id=found["id"],
        upn=upn,
        password=bootstrap["adminPassword"],
        display_name=found.get("displayName") or upn,
    )


@pytest.fixture(scope="session")
def orders_api(directory: Directory) -> App:
    """The downstream resource: exposes the delegated scope Orders.Read."""
    return directory.create_app("Orders API", scopes=[ORDERS_READ], identifier_uri=True)


# --------------------------------------------------------------------------- loopback redirect target


@dataclasses.dataclass
class Captured:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]

    @property
    def params(self) -> dict[str, str]:
        """The authorization response parameters: the form body for form_post, else the query."""
        return self.form if self.method == "POST" else self.query


class Loopback:
    """A tiny HTTP server on 127.0.0.1 (stdlib, own thread) that records every request, so a test
    can register http://localhost:PORT/... as a redirect URI and read the authorization response
    (query string for response_mode=query, form body for form_post)."""

    PAGE = b"<!doctype html><html><head><title>Loopback</title></head><body><h1>Response received</h1></body></html>"

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.captured: list[Captured] = []
        self._cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self, form: dict[str, str]) -> None:
                parts = urlsplit(self.path)
                c = Captured(self.command, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)), form)
                with outer._cond:
                    outer.captured.append(c)
                    outer._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(Loopback.PAGE)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(Loopback.PAGE)

            def do_GET(self) -> None:  # noqa: N802
                self._record({})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length).decode("utf-8", "replace")
                self._record(dict(parse_qsl(data, keep_blank_values=True)))

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="loopback", daemon=True
        )
        self.thread.start()

    def uri(self, path: str = "/cb", host: str = "localhost") -> str:
        return f"http://{host}:{self.port}{path}"

    def mark(self) -> int:
        """Pass to wait(after=...) to ignore what arrived before."""
        with self._cond:
            return len(self.captured)

    def wait(self, path: str = "/cb", timeout: float = 15.0, after: int = 0) -> Captured:
        """The first request to `path` (among those after `after`), waiting up to `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for c in self.captured[after:]:
                    if c.path == path:
                        return c
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(c.method, c.path) for c in self.captured]
                    raise AssertionError(f"no request to {path} on the loopback server within {timeout} s (saw {seen})")
                self._cond.wait(left)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback() -> Any:
    lb = Loopback()
    try:
        yield lb
    finally:
        lb.close()


# --------------------------------------------------------------------------- the browser (login.mjs)


class LoginFailed(AssertionError):
    pass


class Browser:
    """Runs browser/login.mjs in a fresh headless Chromium profile per call (so no SSO cookie carries
    over between calls), bounded by `timeout`. `ca` is the dev CA the browser trusts for https."""

    def __init__(self, ca: str | None, artifacts: pathlib.Path) -> None:
        self.ca = ca
        self.artifacts = artifacts
        self.script = BROWSER_DIR / "login.mjs"
        self._n = 0
        self._lock = threading.Lock()

    @staticmethod
    def check_installed() -> None:
        missing = []
        if not shutil.which("node"):
            missing.append("node (Debian nodejs)")
        if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
            missing.append("tests/interop/browser/node_modules (npm ci in tests/interop/browser)")
        chromium = os.environ.get("OSTIARY_CHROMIUM", "/usr/bin/chromium")
        if not os.access(chromium, os.X_OK):
            missing.append(f"{chromium} (Debian chromium)")
        if missing:
            pytest.fail("browser tests need " + ", ".join(missing) + "; scripts/test installs them", pytrace=False)

    def env(self, password: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        if self.ca:
            env["NODE_EXTRA_CA_CERTS"] = self.ca
            env["OSTIARY_CA"] = self.ca
        if password is not None:
            env["LOGIN_PASSWORD"] = password
        else:
            env.pop("LOGIN_PASSWORD", None)
        return env

    def _shot_dir(self) -> pathlib.Path:
        with self._lock:
            self._n += 1
            d = self.artifacts / f"login-{self._n:03d}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def command(
        self,
        url: str,
        user: User | None = None,
        *,
        consent: str = "accept",
        admin_consent: bool = False,
        until: str | None = None,
        device_code: str | None = None,
        until_signed_out: bool = False,
        timeout: int = LOGIN_TIMEOUT_S,
        shot_dir: pathlib.Path | None = None,
    ) -> list[str]:
        cmd = [
            "timeout", "--kill-after=5", str(LOGIN_HARD_TIMEOUT_S),
            "node", str(self.script),
            "--url", url,
            "--consent", consent,
            "--timeout", str(timeout),
            "--screenshot", str(shot_dir or self._shot_dir()),
        ]  # fmt: skip
        if user is not None:
            cmd += ["--username", user.upn]
        if self.ca:
            cmd += ["--ca", self.ca]
        if admin_consent:
            cmd.append("--admin-consent")
        if until:
            cmd += ["--until-url-prefix", until]
        if device_code:
            cmd += ["--device-code", device_code]
        if until_signed_out:
            cmd.append("--until-signed-out")
        return cmd

    def run(self, url: str, user: User | None = None, *, expect_ok: bool = True, **kw: Any) -> dict[str, Any]:
        """Walk the pages; returns login.mjs's JSON (plus returncode/stderr). Raises LoginFailed with
        the page text and the screenshot path when the walk failed and expect_ok is set."""
        self.check_installed()
        cmd = self.command(url, user, **kw)
        started = time.monotonic()
        try:
            proc = subprocess.run(
                cmd,
                env=self.env(user.password if user else None),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=LOGIN_HARD_TIMEOUT_S + 15,
                cwd=str(BROWSER_DIR),
            )
        except subprocess.TimeoutExpired as e:
            raise LoginFailed(f"login.mjs did not end within {LOGIN_HARD_TIMEOUT_S + 15} s: {e}") from None
        out: dict[str, Any] = {}
        for line in reversed(proc.stdout.strip().splitlines()):
            try:
                out = json.loads(line)
                break
            except ValueError:
                continue
        out["returncode"] = proc.returncode
        out["stderr"] = proc.stderr[-4000:]
        out["seconds"] = round(time.monotonic() - started, 1)
        if expect_ok and (proc.returncode != 0 or not out.get("ok")):
            raise LoginFailed(self.describe(out, cmd))
        return out

    @staticmethod
    def describe(out: dict[str, Any], cmd: list[str] | None = None) -> str:
        lines = [f"browser walk failed (exit {out.get('returncode')}): {out.get('error')}"]
        if cmd:
            shown = [("<url>" if i > 0 and cmd[i - 1] == "--url" else a) for i, a in enumerate(cmd)]
            lines.append("command: " + " ".join(shown))
        for key in ("url", "title", "screenshot", "steps", "navigations", "console"):
            if out.get(key):
                lines.append(f"{key}: {out[key]}")
        if out.get("text"):
            lines.append("--- page text ---\n" + str(out["text"])[:3000])
        if out.get("stderr"):
            lines.append("--- stderr ---\n" + str(out["stderr"])[-2000:])
        return "\n".join(lines)

    def start(
        self,
        url: str,
        user: User | None = None,
        *,
        on_failure: Callable[[dict[str, Any]], None] | None = None,
        **kw: Any,
    ) -> "BackgroundLogin":
        return BackgroundLogin(self, url, user, on_failure, kw)


class BackgroundLogin:
    """login.mjs in a thread, for flows where the client library blocks (device code polling,
    MSAL's own loopback server). `on_failure` runs when the walk failed, e.g. to unblock the client."""

    def __init__(
        self,
        browser: Browser,
        url: str,
        user: User | None,
        on_failure: Callable[[dict[str, Any]], None] | None,
        kw: dict[str, Any],
    ) -> None:
        self.out: dict[str, Any] | None = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.out = browser.run(url, user, expect_ok=False, **kw)
            except BaseException as e:  # noqa: BLE001 - reported by result()
                self.error = e
            if on_failure and (self.error is not None or not (self.out or {}).get("ok")):
                try:
                    on_failure(self.out or {})
                except Exception:  # noqa: BLE001
                    pass

        self.thread = threading.Thread(target=run, name="login.mjs", daemon=True)
        self.thread.start()

    @property
    def failed(self) -> bool:
        return not self.thread.is_alive() and (self.error is not None or not (self.out or {}).get("ok"))

    def result(self, timeout: float = LOGIN_HARD_TIMEOUT_S + 20) -> dict[str, Any]:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise LoginFailed(f"login.mjs still running after {timeout} s")
        if self.error is not None:
            raise LoginFailed(f"login.mjs could not run: {self.error!r}")
        assert self.out is not None
        if self.out.get("returncode") != 0 or not self.out.get("ok"):
            raise LoginFailed(Browser.describe(self.out))
        return self.out


@pytest.fixture(scope="session")
def browser(ctx: Interop, tmp_path_factory: pytest.TempPathFactory) -> Browser:
    Browser.check_installed()
    return Browser(ctx.ca, tmp_path_factory.mktemp("browser"))


# --------------------------------------------------------------------------- protocol helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for servers that are not ours to bind)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64url_json(value: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(ctx: Interop, tenant: str | None = None, **params: str) -> str:
    return f"{ctx.base}/{tenant or ctx.tenant_id}/oauth2/v2.0/authorize?{urlencode(params)}"


@dataclasses.dataclass
class CodeResponse:
    params: dict[str, str]  # code, state, client_info (or error, error_description)
    verifier: str
    state: str
    nonce: str
    redirect_uri: str
    scope: str
    login: dict[str, Any]  # login.mjs's output

    @property
    def code(self) -> str:
        assert "code" in self.params, f"no code in the authorization response: {self.params}"
        return self.params["code"]


def browser_code(
    ctx: Interop,
    browser: Browser,
    loopback: Loopback,
    client: App,
    user: User,
    scope: str,
    *,
    consent: str,
    path: str = "/cb",
    response_mode: str = "query",
    admin_consent: bool = False,
    redirect_uri: str | None = None,
    **extra: str,
) -> CodeResponse:
    """One trip through /authorize in the browser (PKCE S256, state, nonce, client_info=1) to the
    loopback server; returns what arrived there. For fragment mode the parameters come from the
    final URL (a fragment never reaches a server)."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    nonce = secrets.token_urlsafe(16)
    redirect = redirect_uri or loopback.uri(path)
    url = authorize_url(
        ctx,
        client_id=client.app_id,
        response_type="code",
        redirect_uri=redirect,
        scope=scope,
        response_mode=response_mode,
        state=state,
        nonce=nonce,
        code_challenge=challenge,
        code_challenge_method="S256",
        client_info="1",
        **extra,
    )
    before = loopback.mark()
    login = browser.run(url, user, until=redirect, consent=consent, admin_consent=admin_consent)
    if response_mode == "fragment":
        fragment = urlsplit(login["url"]).fragment
        params = dict(parse_qsl(fragment, keep_blank_values=True))
    else:
        got = loopback.wait(urlsplit(redirect).path or "/", after=before)
        expected_method = "POST" if response_mode == "form_post" else "GET"
        assert got.method == expected_method, f"response_mode={response_mode} arrived as {got.method}"
        params = got.params
    assert params.get("state") == state, f"state not echoed: sent {state!r}, got {params}"
    return CodeResponse(params, verifier, state, nonce, redirect, scope, login)


def redeem_code(ctx: Interop, client: App, code: CodeResponse, **overrides: str | None) -> requests.Response:
    """POST grant_type=authorization_code (client_secret in the body for confidential clients).
    An override of None drops that field."""
    data: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "client_id": client.app_id,
        "code": code.code,
        "redirect_uri": code.redirect_uri,
        "code_verifier": code.verifier,
        "scope": code.scope,
        "client_info": "1",
    }
    if client.secret:
        data["client_secret"] = client.secret
    data.update(overrides)
    return post_token(ctx.http, ctx.base, ctx.tenant_id, {k: v for k, v in data.items() if v is not None})


def redeem_refresh(ctx: Interop, client: App, refresh_token: str, scope: str) -> requests.Response:
    data = {
        "grant_type": "refresh_token",
        "client_id": client.app_id,
        "refresh_token": refresh_token,
        "scope": scope,
        "client_info": "1",
    }
    if client.secret:
        data["client_secret"] = client.secret
    return post_token(ctx.http, ctx.base, ctx.tenant_id, data)


def assert_oauth_error(r: requests.Response, error: str, code: int | None = None, status: int = 400) -> dict[str, Any]:
    """An Entra-shaped token endpoint error: HTTP status, `error`, AADSTS-prefixed description and,
    when `code` is given, that code in error_codes."""
    assert r.status_code == status, f"expected HTTP {status} {error}, got {r.status_code}: {r.text[:1000]}"
    body = r.json()
    assert body.get("error") == error, body
    assert str(body.get("error_description", "")).startswith("AADSTS"), body
    if code is not None:
        assert code in body.get("error_codes", []), f"AADSTS{code} expected: {body}"
    return body


def assert_user_access_token(
    ctx: Interop,
    token: str,
    *,
    api: App,
    client: App,
    user: User,
    scp: str = ORDERS_READ,
    azpacr: str | None = None,
) -> dict[str, Any]:
    """A v2.0 delegated access token for `api`, issued to `client` for `user` (signature via JWKS)."""
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = ctx.verify(token, audience=api.app_id)
    expected = {
        "aud": api.app_id,
        "iss": ctx.issuer,
        "tid": ctx.tenant_id,
        "azp": client.app_id,
        "oid": user.id,
        "scp": scp,
        "ver": "2.0",
    }
    if azpacr is not None:
        expected["azpacr"] = azpacr
    actual = {k: claims.get(k) for k in expected}
    assert actual == expected, f"access token claims differ:\n got      {actual}\n expected {expected}"
    assert claims.get("sub"), "sub missing"
    assert "roles" not in claims or claims["roles"] == [], claims.get("roles")
    assert claims.get("idtyp") in (None, "user"), claims.get("idtyp")
    return claims


def assert_id_token(
    ctx: Interop,
    token: str,
    *,
    client: App,
    user: User,
    nonce: str | None = None,
) -> dict[str, Any]:
    """A v2.0 ID token: RS256 over the JWKS, aud = client id, the user's identity claims."""
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = ctx.verify(token, audience=client.app_id)
    expected = {
        "aud": client.app_id,
        "iss": ctx.issuer,
        "tid": ctx.tenant_id,
        "oid": user.id,
        "preferred_username": user.upn,
        "name": user.display_name,
        "ver": "2.0",
    }
    actual = {k: claims.get(k) for k in expected}
    assert actual == expected, f"ID token claims differ:\n got      {actual}\n expected {expected}"
    assert claims.get("sub"), "sub missing"
    if nonce is not None:
        assert claims.get("nonce") == nonce, f"nonce {claims.get('nonce')!r} != {nonce!r}"
    auth_time = claims.get("auth_time")
    assert isinstance(auth_time, int), f"auth_time should be an integer: {auth_time!r}"
    assert time.time() - 600 < auth_time <= time.time() + 60, f"auth_time {auth_time} is not recent"
    return claims


class SystemBrowser:
    """Stands in for the "system browser" MSAL's acquire_token_interactive opens: webbrowser.open
    (and MSAL's Edge preference) are patched to run login.mjs in the background against the
    auth URI, until MSAL's own loopback redirect URI (http://localhost:<random port>). If the walk
    fails, an error response is POSTed to that loopback server so MSAL stops waiting at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, browser: Browser, user: Any, **login_kw: Any) -> None:
        import webbrowser

        import msal.application

        self.launched: list[BackgroundLogin] = []
        self.sent: dict[str, str] = {}
        self._browser = browser
        self._user = user
        self._kw = login_kw
        monkeypatch.setattr(webbrowser, "open", self.open)
        monkeypatch.setattr(msal.application, "_preferred_browser", lambda: None)

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.sent.update(parse_qsl(urlsplit(url).query))
        redirect = self.sent["redirect_uri"]
        state = self.sent.get("state", "")

        def unblock(_: dict[str, Any]) -> None:
            import urllib.request

            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            body = urlencode({"error": "access_denied", "error_description": "browser walk failed", "state": state})
            try:
                opener.open(urllib.request.Request(redirect, data=body.encode(), method="POST"), timeout=5).read()
            except Exception:  # noqa: BLE001 - MSAL's answer does not matter, only that it stops waiting
                pass

        self.launched.append(self._browser.start(url, self._user, until=redirect, on_failure=unblock, **self._kw))
        return True

    def result(self) -> dict[str, Any]:
        """login.mjs's output; raises with the page text if the walk failed."""
        assert self.launched, "MSAL did not open a browser"
        return self.launched[0].result()


OIDC_CLIENT_TIMEOUT_S = 90


def run_oidc_client(
    browser: Browser, issuer: str, client_id: str, secret: str, user: Any, port: int, shots: str
) -> dict[str, Any]:
    """Runs browser/oidc-client.mjs (openid-client v6 + the browser) bounded by `timeout`; returns
    its JSON, or raises with the failing stage, the page text and what worked before."""
    Browser.check_installed()
    cmd = [
        "timeout", "--kill-after=5", str(OIDC_CLIENT_TIMEOUT_S + 15),
        "node", str(BROWSER_DIR / "oidc-client.mjs"),
        "--issuer", issuer,
        "--client-id", client_id,
        "--username", user.upn,
        "--port", str(port),
        "--screenshot", shots,
        "--timeout", str(OIDC_CLIENT_TIMEOUT_S),
    ]  # fmt: skip
    if browser.ca:
        cmd += ["--ca", browser.ca]
    env = browser.env(user.password)
    env["OIDC_CLIENT_SECRET"] = secret
    proc = subprocess.run(
        cmd,
        cwd=str(BROWSER_DIR),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=OIDC_CLIENT_TIMEOUT_S + 25,
    )
    out: dict[str, Any] = {}
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            out = json.loads(line)
            break
        except ValueError:
            continue
    if proc.returncode != 0 or not out.get("ok"):
        page = out.pop("page", None) or {}
        raise AssertionError(
            f"oidc-client.mjs failed (exit {proc.returncode}) at stage {out.get('stage')!r}: {out.get('error')}\n"
            f"page: {page.get('url')} title={page.get('title')!r} screenshot={page.get('screenshot')}\n"
            f"--- page text ---\n{(page.get('text') or '')[:3000]}\n"
            f"--- what worked before ---\n{json.dumps({k: v for k, v in out.items() if k not in ('error',)}, default=str)[:3000]}\n"
            f"--- stderr ---\n{proc.stderr[-2000:]}"
        )
    return out
