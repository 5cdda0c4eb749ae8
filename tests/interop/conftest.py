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
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
import os
import pathlib
import secrets
import stat
import uuid
from typing import Any

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
