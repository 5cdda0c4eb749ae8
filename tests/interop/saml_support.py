"""SAML 2.0 helpers for test_saml.py: three real, unchanged SP libraries as small loopback web apps,
Ostiary configuration through the Graph-shaped API, the browser driver and raw-message tools.

Service providers (each on http://localhost:PORT, entity ID http://localhost:PORT/metadata/<random>,
so that a port used again in the same run never meets an earlier app's identifierUri):
  * pysaml2       `Saml2Client` (Debian /usr/bin/xmlsec1 does its XML-DSig)
  * python3-saml  `OneLogin_Saml2_Auth`, strict mode (python `xmlsec` bindings)
  * samlify       browser/saml-sp.mjs (Node, samlify + @authenio/samlify-xmllint-wasm)
Every SP serves /login (SP-initiated SSO, HTTP-Redirect unless ?binding=post), /acs (HTTP-POST;
answers a page with <pre id="saml-result">JSON</pre>: the SP library's verdict, the verified
NameID, attributes, audience, InResponseTo), /metadata, and keeps every ACS outcome (`results()`).
pysaml2 adds /logout (global_logout, HTTP-Redirect) and /slo (the LogoutResponse).

Set-up order (the IdP metadata names the app, the SP metadata names the port):
  bind the SP server -> create application + service principal + token-signing certificate ->
  fetch the IdP metadata (?appid=) -> configure the SP library with it -> importSamlMetadata with
  the SP's own metadata -> PATCH samlSingleSignOnSettings / assignment.

Missing tools (xmlsec1, the Python SP libraries, node packages, Chromium) skip with a message,
or fail when OSTIARY_REQUIRE_TOOLS=1 (scripts/test and CI set it).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import html
import json
import os
import pathlib
import re
import secrets
import shutil
import subprocess
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from conftest import (
    BROWSER_DIR,
    HTTP_TIMEOUT,
    Browser,
    Graph,
    User,
    make_password,
    make_self_signed,
)

XMLSEC1 = os.environ.get("OSTIARY_XMLSEC1", "/usr/bin/xmlsec1")
REQUIRE_TOOLS = os.environ.get("OSTIARY_REQUIRE_TOOLS") == "1"

BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
CLAIMS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims"
MS_CLAIMS = "http://schemas.microsoft.com/identity/claims"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
SP_KINDS = ("pysaml2", "python3-saml", "samlify")
SAML_LOGIN_TIMEOUT_S = 90  # saml-login.mjs's own limit for all rounds of one run
SP_START_TIMEOUT_S = 20


# --------------------------------------------------------------------------- tools


def missing_tool(message: str) -> None:
    """Skip (or, under OSTIARY_REQUIRE_TOOLS=1, fail) a test whose tool is not installed."""
    text = f"{message}; scripts/test installs it"
    if REQUIRE_TOOLS:
        pytest.fail(text + " (OSTIARY_REQUIRE_TOOLS=1: a missing tool is a failure)", pytrace=False)
    pytest.skip(text)


def require_xmlsec1() -> str:
    if not os.access(XMLSEC1, os.X_OK):
        missing_tool(f"{XMLSEC1} not found (Debian xmlsec1)")
    return XMLSEC1


def require_sp_library(kind: str) -> None:
    if kind == "pysaml2":
        require_xmlsec1()
        try:
            import saml2  # noqa: F401
        except ImportError as e:
            missing_tool(f"pysaml2 is not importable ({e}); pip install -r tests/interop/requirements.txt")
    elif kind == "python3-saml":
        try:
            import onelogin.saml2.auth  # noqa: F401
            import xmlsec  # noqa: F401
        except Exception as e:  # noqa: BLE001 - ImportError, or xmlsec's libxml2 mismatch error
            missing_tool(
                f"python3-saml / xmlsec is not importable ({e}); pip install -r tests/interop/requirements.txt"
            )
    elif kind == "samlify":
        if not shutil.which("node"):
            missing_tool("node not found (Debian nodejs)")
        for pkg in ("samlify", "@authenio/samlify-xmllint-wasm"):
            if not (BROWSER_DIR / "node_modules" / pkg).is_dir():
                missing_tool(f"npm package {pkg} not installed (npm ci in tests/interop/browser)")
    else:
        raise ValueError(kind)


def require_signxml() -> None:
    try:
        import signxml  # noqa: F401
    except ImportError as e:
        missing_tool(f"signxml is not importable ({e}); pip install -r tests/interop/requirements.txt")


def require_browser() -> None:
    missing = []
    if not shutil.which("node"):
        missing.append("node (Debian nodejs)")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        missing.append("tests/interop/browser/node_modules (npm ci)")
    chromium = os.environ.get("OSTIARY_CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        missing.append(f"{chromium} (Debian chromium)")
    if missing:
        missing_tool("the SAML browser tests need " + ", ".join(missing))


# --------------------------------------------------------------------------- keys


@dataclasses.dataclass
class KeyPair:
    key_pem: str
    cert_pem: str
    cert_b64: str  # base64 DER, as in metadata
    key_path: str
    cert_path: str


def make_key_pair(directory: pathlib.Path, name: str) -> KeyPair:
    key, cert = make_self_signed(name)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / f"{name}.key"
    cert_path = directory / f"{name}.crt"
    key_path.write_text(key_pem)
    key_path.chmod(0o600)
    cert_path.write_text(cert_pem)
    cert_b64 = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    return KeyPair(key_pem, cert_pem, cert_b64, str(key_path), str(cert_path))


def pem_from_b64(der_b64: str) -> str:
    body = "".join(der_b64.split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


# --------------------------------------------------------------------------- Ostiary side


@dataclasses.dataclass
class SamlUser(User):
    mail: str = ""
    given_name: str = ""
    surname: str = ""


def create_saml_user(graph: Graph, tenant_domain: str, label: str) -> SamlUser:
    suffix = secrets.token_hex(4)
    nickname = f"{label}-{suffix}"
    upn = f"{nickname}@{tenant_domain}"
    mail = f"{label}.mail-{suffix}@{tenant_domain}"
    given, surname = label.capitalize(), f"Saml{suffix}"
    password = make_password()
    display_name = f"{given} {surname}"
    body = graph.post(
        "/users",
        {
            "accountEnabled": True,
            "displayName": display_name,
            "mailNickname": nickname,
            "userPrincipalName": upn,
            "mail": mail,
            "givenName": given,
            "surname": surname,
            "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": False},
        },
    )
    assert body.get("id"), body
    assert body.get("mail") == mail, f"mail not stored: {body}"
    return SamlUser(
        id=body["id"],
        upn=upn,
        password=password,
        display_name=display_name,
        mail=mail,
        given_name=given,
        surname=surname,
    )


@dataclasses.dataclass
class IdpInfo:
    xml: str
    entity_id: str
    sso: dict[str, str]  # binding -> location
    slo: dict[str, str]
    cert_b64: str
    want_authn_requests_signed: bool

    @property
    def cert_pem(self) -> str:
        return pem_from_b64(self.cert_b64)


def parse_idp_metadata(xml: str) -> IdpInfo:
    from lxml import etree

    root = etree.fromstring(xml.encode())
    idp = root.find("md:IDPSSODescriptor", NS)
    assert idp is not None, f"no IDPSSODescriptor in the IdP metadata:\n{xml[:2000]}"
    certs = idp.findall("md:KeyDescriptor/ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
    signing = [
        c.text
        for kd in idp.findall("md:KeyDescriptor", NS)
        if kd.get("use") in (None, "signing")
        for c in kd.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
    ]
    assert certs and signing, "no signing certificate in the IdP metadata"
    return IdpInfo(
        xml=xml,
        entity_id=root.get("entityID"),
        sso={e.get("Binding"): e.get("Location") for e in idp.findall("md:SingleSignOnService", NS)},
        slo={e.get("Binding"): e.get("Location") for e in idp.findall("md:SingleLogoutService", NS)},
        cert_b64="".join(signing[0].split()),
        want_authn_requests_signed=idp.get("WantAuthnRequestsSigned") == "true",
    )


@dataclasses.dataclass
class SamlApp:
    """A SAML application registered in Ostiary (application + service principal + signing cert)."""

    display_name: str
    app_id: str
    object_id: str
    sp_id: str
    signing_cert_b64: str
    thumbprint: str
    entity_id: str = ""

    def launch_url(self, base: str, tenant: str) -> str:
        return f"{base}/{tenant}/saml2/launch/{self.app_id}"


class SamlAdmin:
    """Configures SAML applications through the Graph-shaped API (bootstrap app token)."""

    def __init__(self, graph: Graph, base: str, tenant: str) -> None:
        self.graph = graph
        self.base = base
        self.tenant = tenant
        self.created: list[SamlApp] = []

    @property
    def endpoint(self) -> str:
        return f"{self.base}/{self.tenant}/saml2"

    @property
    def entity_id(self) -> str:
        return f"{self.base}/{self.tenant}/"

    def create_app(self, label: str) -> SamlApp:
        display_name = f"Interop SAML {label} {secrets.token_hex(3)}"
        app = self.graph.post("/applications", {"displayName": display_name})
        sp = self.graph.post("/servicePrincipals", {"appId": app["appId"]})
        cert = self.graph.post(
            f"/servicePrincipals/{sp['id']}/addTokenSigningCertificate",
            {"displayName": f"CN={display_name.replace(' ', '-')}"},
            expect=(200, 201),
        )
        assert cert.get("key") and cert.get("thumbprint"), cert
        x509.load_der_x509_certificate(base64.b64decode(cert["key"]))  # a real certificate
        created = SamlApp(display_name, app["appId"], app["id"], sp["id"], cert["key"], cert["thumbprint"])
        self.created.append(created)
        return created

    def delete_created(self) -> None:
        """Deletes the applications this admin created (their service principals go with them)."""
        for app in self.created:
            try:
                self.graph.http.delete(
                    f"{self.graph.root}/applications/{app.object_id}", headers=self.graph.headers, timeout=HTTP_TIMEOUT
                )
            except requests.RequestException:
                pass
        self.created.clear()

    def metadata(self, app: SamlApp | None) -> IdpInfo:
        url = f"{self.base}/{self.tenant}/federationmetadata/2007-06/federationmetadata.xml"
        r = self.graph.http.get(url, params={"appid": app.app_id} if app else None, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, f"GET {url}: HTTP {r.status_code}: {r.text[:1000]}"
        return parse_idp_metadata(r.text)

    def import_metadata(self, app: SamlApp, sp_metadata: str) -> dict[str, Any]:
        body = self.graph.post(
            f"/servicePrincipals/{app.sp_id}/importSamlMetadata", {"metadata": sp_metadata}, expect=(200, 201, 204)
        )
        app_obj = self.graph.get(f"/applications/{app.object_id}")
        assert app_obj.get("identifierUris"), f"importSamlMetadata set no identifierUris: {app_obj}"
        app.entity_id = app_obj["identifierUris"][0]
        return body or self.service_principal(app)

    def service_principal(self, app: SamlApp) -> dict[str, Any]:
        return self.graph.get(f"/servicePrincipals/{app.sp_id}")

    def patch(self, app: SamlApp, *, assignment_required: bool | None = None, **settings: Any) -> None:
        body: dict[str, Any] = {}
        if settings:
            body["samlSingleSignOnSettings"] = settings
        if assignment_required is not None:
            body["appRoleAssignmentRequired"] = assignment_required
        self.graph.call("PATCH", f"/servicePrincipals/{app.sp_id}", expect=(200, 204), json=body)

    def claims_policy(self, app: SamlApp, body: dict[str, Any]) -> dict[str, Any]:
        return self.graph.call("PATCH", f"/servicePrincipals/{app.sp_id}/claimsPolicy", expect=(200, 204), json=body)

    def assign(self, app: SamlApp, user: User) -> None:
        self.graph.post(
            f"/servicePrincipals/{app.sp_id}/appRoleAssignedTo",
            {"principalId": user.id, "resourceId": app.sp_id, "appRoleId": "00000000-0000-0000-0000-000000000000"},
        )


# --------------------------------------------------------------------------- SP servers


def _page(title: str, result: dict[str, Any]) -> bytes:
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><h1>{html.escape(title)}</h1>"
        f'<pre id="saml-result">{html.escape(json.dumps(result, default=str))}</pre></body></html>'
    ).encode()


def response_xml(saml_response_b64: str) -> bytes:
    return base64.b64decode(saml_response_b64)


class SpServer:
    """Base: a stdlib HTTP server on 127.0.0.1 (own thread) addressed as http://localhost:PORT."""

    kind = "?"

    def __init__(self, workdir: pathlib.Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.keys = make_key_pair(workdir, f"{self.kind}-sp")
        self.token = secrets.token_hex(4)
        self.outstanding: dict[str, str] = {}  # AuthnRequest ID -> RelayState
        self.issued: list[dict[str, Any]] = []  # what /login sent: id, binding, url
        self._results: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8", headers=()) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _dispatch(self, form: dict[str, str]) -> None:
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                try:
                    status, body, ctype, headers = outer.route(self.command, parts.path, query, form, parts.query)
                except Exception as e:  # noqa: BLE001 - shown on the page and in the test failure
                    status, body, ctype, headers = 500, f"SP error: {e!r}".encode(), "text/plain", ()
                self._send(status, body, ctype, headers)

            def do_GET(self) -> None:  # noqa: N802
                self._dispatch({})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length).decode("utf-8", "replace")
                self._dispatch(dict(parse_qsl(data, keep_blank_values=True)))

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    # addresses
    @property
    def base(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def entity_id(self) -> str:
        return f"{self.base}/metadata/{self.token}"

    @property
    def acs(self) -> str:
        return f"{self.base}/acs"

    @property
    def slo(self) -> str:
        return f"{self.base}/slo"

    def login_url(self, relay: str = "", binding: str = "redirect") -> str:
        return f"{self.base}/login?{urlencode({'relay': relay, 'binding': binding})}"

    # results
    def record(self, result: dict[str, Any]) -> None:
        with self._lock:
            self._results.append(result)

    def results(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._results)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # to implement
    def configure(self, idp: IdpInfo, **opts: Any) -> None:
        raise NotImplementedError

    def metadata_xml(self) -> str:
        raise NotImplementedError

    def parse(self, saml_response_b64: str, request_id: str | None, relay: str | None = None) -> dict[str, Any]:
        """The SP library's verdict on a SAMLResponse (without consuming the request ID)."""
        raise NotImplementedError

    def start_login(self, relay: str, binding: str) -> tuple[int, bytes, str, list[tuple[str, str]]]:
        raise NotImplementedError

    def route(self, method: str, path: str, query: dict[str, str], form: dict[str, str], raw_query: str):
        if path == "/metadata" or path.startswith("/metadata/"):
            return 200, self.metadata_xml().encode(), "application/xml", ()
        if path == "/login":
            return self.start_login(query.get("relay", ""), query.get("binding", "redirect"))
        if path == "/acs" and method == "POST":
            b64 = form.get("SAMLResponse", "")
            relay = form.get("RelayState")
            request_id = self.in_response_to(b64)
            known = request_id in self.outstanding if request_id else False
            result = self.parse(b64, request_id if known else None, relay)
            if result.get("ok") and request_id and not known and not result.get("unsolicited_allowed"):
                result = {**result, "ok": False, "error": f"InResponseTo {request_id} is not an outstanding request"}
            if result.get("ok") and known:
                self.outstanding.pop(request_id, None)
                result["requestId"] = request_id
            result["relayState"] = relay
            result["samlResponse"] = b64
            self.record(result)
            title = "SAML sign-in accepted" if result.get("ok") else "SAML sign-in rejected"
            return (200 if result.get("ok") else 403), _page(title, result), "text/html; charset=utf-8", ()
        return self.extra_route(method, path, query, form, raw_query)

    def extra_route(self, method, path, query, form, raw_query):
        return 404, b"not found", "text/plain", ()

    @staticmethod
    def in_response_to(b64: str) -> str | None:
        from lxml import etree

        try:
            root = etree.fromstring(
                base64.b64decode(b64), parser=etree.XMLParser(resolve_entities=False, no_network=True)
            )
        except Exception:  # noqa: BLE001 - the SP library reports the real error
            return None
        return root.get("InResponseTo")


def _xml_facts(xml: bytes) -> dict[str, Any]:
    """What the tests check besides the SP verdict: audience, destination, signatures placement."""
    from lxml import etree

    root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    assertion = root.find("saml:Assertion", NS)
    issuer = root.find("saml:Issuer", NS)
    facts: dict[str, Any] = {
        "issuer": issuer.text if issuer is not None else None,
        "destination": root.get("Destination"),
        "responseInResponseTo": root.get("InResponseTo"),
        "responseSigned": root.find("ds:Signature", NS) is not None,
        "assertionSigned": assertion is not None and assertion.find("ds:Signature", NS) is not None,
    }
    if assertion is not None:
        facts["audience"] = [
            a.text for a in assertion.findall("saml:Conditions/saml:AudienceRestriction/saml:Audience", NS)
        ]
        scd = assertion.find("saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData", NS)
        facts["recipient"] = scd.get("Recipient") if scd is not None else None
        facts["confirmationInResponseTo"] = scd.get("InResponseTo") if scd is not None else None
        facts["authnStatements"] = len(assertion.findall("saml:AuthnStatement", NS))
    sigs = root.findall(".//ds:Signature", NS)
    facts["signatureMethods"] = sorted({s.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm") for s in sigs})
    facts["c14nMethods"] = sorted(
        {s.find("ds:SignedInfo/ds:CanonicalizationMethod", NS).get("Algorithm") for s in sigs}
    )
    facts["digestMethods"] = sorted({d.get("Algorithm") for s in sigs for d in s.findall(".//ds:DigestMethod", NS)})
    return facts


class PySaml2Sp(SpServer):
    kind = "pysaml2"

    def configure(
        self,
        idp: IdpInfo,
        *,
        want_response_signed: bool = False,
        authn_requests_signed: bool = False,
        allow_unsolicited: bool = False,
        logout_requests_signed: bool = True,
    ) -> None:
        from saml2.client import Saml2Client
        from saml2.config import SPConfig

        self.idp = idp
        idp_file = self.workdir / "idp-metadata.xml"
        idp_file.write_text(idp.xml)
        self.allow_unsolicited = allow_unsolicited
        conf = {
            "entityid": self.entity_id,
            "xmlsec_binary": XMLSEC1,
            "key_file": self.keys.key_path,
            "cert_file": self.keys.cert_path,
            "metadata": {"local": [str(idp_file)]},
            "service": {
                "sp": {
                    # Here, not at the top level: pysaml2 reads them per entity type; at the top
                    # level they are ignored and Redirect signatures come out as rsa-sha1.
                    "signing_algorithm": RSA_SHA256,
                    "digest_algorithm": SHA256,
                    "endpoints": {
                        "assertion_consumer_service": [(self.acs, BINDING_POST)],
                        "single_logout_service": [(self.slo, BINDING_REDIRECT)],
                    },
                    "want_response_signed": want_response_signed,
                    "want_assertions_signed": True,
                    "authn_requests_signed": authn_requests_signed,
                    "logout_requests_signed": logout_requests_signed,
                    "allow_unsolicited": allow_unsolicited,
                    "name_id_format": NAMEID_EMAIL,
                }
            },
        }
        cfg = SPConfig()
        cfg.load(conf)
        self.config = cfg
        self.client = Saml2Client(config=cfg)
        self.name_id = None  # the NameID of the last accepted response (for global_logout)

    def metadata_xml(self) -> str:
        from saml2.metadata import create_metadata_string

        out = create_metadata_string(None, config=self.config, valid=24)
        return out.decode() if isinstance(out, bytes) else out

    def start_login(self, relay: str, binding: str):
        b = BINDING_POST if binding == "post" else BINDING_REDIRECT
        req_id, info = self.client.prepare_for_authenticate(relay_state=relay, binding=b)
        self.outstanding[req_id] = relay
        headers = dict(info["headers"])
        if b == BINDING_REDIRECT:
            self.issued.append({"id": req_id, "binding": "redirect", "url": headers["Location"]})
            return 302, b"", "text/plain", [("Location", headers["Location"])]
        self.issued.append({"id": req_id, "binding": "post", "html": info["data"]})
        return 200, info["data"].encode(), "text/html; charset=utf-8", ()

    def parse(self, saml_response_b64: str, request_id: str | None, relay: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = {"sp": "pysaml2", "ok": False}
        try:
            outstanding = {request_id: "/"} if request_id else {}
            resp = self.client.parse_authn_request_response(saml_response_b64, BINDING_POST, outstanding=outstanding)
            if resp is None:
                raise ValueError("parse_authn_request_response returned None")
            assertion = resp.assertion
            result.update(
                ok=True,
                nameId=resp.name_id.text,
                nameIdFormat=resp.name_id.format,
                issuer=resp.issuer(),
                inResponseTo=resp.in_response_to,
                audience=[a.text for ar in assertion.conditions.audience_restriction for a in ar.audience],
                sessionIndex=assertion.authn_statement[0].session_index if assertion.authn_statement else None,
                attributes={
                    a.name: [v.text for v in a.attribute_value]
                    for st in assertion.attribute_statement
                    for a in st.attribute
                },
                unsolicited_allowed=self.allow_unsolicited,
            )
            self.name_id = resp.name_id
        except Exception as e:  # noqa: BLE001 - the SP library's rejection is the result
            result["error"] = f"{type(e).__name__}: {e}"
        return result

    def extra_route(self, method, path, query, form, raw_query):
        if path == "/logout":
            assert self.name_id is not None, "nobody signed in to this SP"
            responses = self.client.global_logout(self.name_id)
            binding, info = responses[self.idp.entity_id]
            assert binding == BINDING_REDIRECT, binding
            location = dict(info["headers"])["Location"]
            self.issued.append({"binding": "redirect", "logout": True, "url": location})
            return 302, b"", "text/plain", [("Location", location)]
        if path == "/slo":
            from saml2 import BINDING_HTTP_REDIRECT

            if "SAMLRequest" in query:
                return self.front_channel_logout(query)
            result: dict[str, Any] = {"sp": "pysaml2", "ok": False, "logout": True}
            try:
                if "SAMLResponse" not in query:
                    raise ValueError(f"no SAMLResponse at /slo: {sorted(query)}")
                resp = self.client.parse_logout_request_response(query["SAMLResponse"], BINDING_HTTP_REDIRECT)
                if resp is None:
                    raise ValueError("parse_logout_request_response returned None")
                pending = resp.in_response_to in self.client.state
                result.update(
                    inResponseTo=resp.in_response_to,
                    issuer=resp.issuer(),
                    statusOk=resp.status_ok(),
                    pending=pending,
                    signedRedirect="Signature" in query and "SigAlg" in query,
                )
                if not pending:
                    raise ValueError(f"LogoutResponse answers {resp.in_response_to}, not our LogoutRequest")
                if not resp.status_ok():
                    raise ValueError("LogoutResponse status is not Success")
                self.client.handle_logout_response(resp)
                result["loggedIn"] = self.client.is_logged_in(self.name_id)
                result["ok"] = True
            except Exception as e:  # noqa: BLE001
                result["error"] = f"{type(e).__name__}: {e}"
            self.record(result)
            return (200 if result["ok"] else 403), _page("SAML logout", result), "text/html; charset=utf-8", ()
        return super().extra_route(method, path, query, form, raw_query)

    def front_channel_logout(self, query: dict[str, str]):
        """A LogoutRequest from the IdP (another SP started single logout): pysaml2 verifies it
        (with the Redirect-binding signature), ends the local session and answers a LogoutResponse."""
        from saml2 import BINDING_HTTP_REDIRECT

        result: dict[str, Any] = {"sp": "pysaml2", "ok": False, "logoutRequest": True}
        try:
            signed = "Signature" in query and "SigAlg" in query
            result["signedRedirect"] = signed
            req = self.client.parse_logout_request(
                query["SAMLRequest"],
                BINDING_HTTP_REDIRECT,
                relay_state=query.get("RelayState"),
                sigalg=query.get("SigAlg"),
                signature=query.get("Signature"),
            )
            if req is None:
                raise ValueError("parse_logout_request returned None")
            result.update(nameId=req.message.name_id.text, issuer=req.message.issuer.text, requestId=req.message.id)
            info = self.client.handle_logout_request(
                query["SAMLRequest"],
                self.name_id,
                BINDING_HTTP_REDIRECT,
                relay_state=query.get("RelayState"),
                sigalg=query.get("SigAlg"),
                signature=query.get("Signature"),
            )
            result["loggedIn"] = self.client.is_logged_in(self.name_id)
            result["ok"] = True
            self.record(result)
            location = dict(info["headers"]).get("Location")
            if location:
                return 302, b"", "text/plain", [("Location", location)]
            return 200, _page("SAML logout", result), "text/html; charset=utf-8", ()
        except Exception as e:  # noqa: BLE001
            result["error"] = f"{type(e).__name__}: {e}"
            self.record(result)
            return 403, _page("SAML logout", result), "text/html; charset=utf-8", ()


class OneLoginSp(SpServer):
    kind = "python3-saml"

    def configure(
        self, idp: IdpInfo, *, want_messages_signed: bool = False, authn_requests_signed: bool = False
    ) -> None:
        from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

        self.idp = idp
        idp_data = OneLogin_Saml2_IdPMetadataParser.parse(idp.xml)
        sp_settings = {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": self.entity_id,
                "assertionConsumerService": {"url": self.acs, "binding": BINDING_POST},
                "NameIDFormat": NAMEID_EMAIL,
                "x509cert": self.keys.cert_b64,
                "privateKey": self.keys.key_pem,
            },
            "security": {
                "authnRequestsSigned": authn_requests_signed,
                "wantAssertionsSigned": True,
                "wantMessagesSigned": want_messages_signed,
                "signatureAlgorithm": RSA_SHA256,
                "digestAlgorithm": SHA256,
            },
        }
        # merge_settings, not a dict merge: the parser's result has an "sp" key of its own.
        self.settings = OneLogin_Saml2_IdPMetadataParser.merge_settings(sp_settings, idp_data)
        # The parser also copies the IdP's WantAuthnRequestsSigned into security.authnRequestsSigned,
        # and merge_settings lets it win: the IdP metadata fetched before importSamlMetadata says
        # "false", so the SP's own choice is put back.
        self.settings["security"]["authnRequestsSigned"] = authn_requests_signed

    def _request(self, script: str, post: dict[str, str] | None = None) -> dict[str, Any]:
        return {
            "https": "off",
            "http_host": f"localhost:{self.port}",
            "script_name": script,
            "get_data": {},
            "post_data": post or {},
        }

    def metadata_xml(self) -> str:
        from onelogin.saml2.settings import OneLogin_Saml2_Settings

        settings = OneLogin_Saml2_Settings(self.settings, sp_validation_only=True)
        md = settings.get_sp_metadata()
        errors = settings.validate_metadata(md)
        assert not errors, errors
        return md.decode() if isinstance(md, bytes) else md

    def start_login(self, relay: str, binding: str):
        from onelogin.saml2.auth import OneLogin_Saml2_Auth

        assert binding == "redirect", "python3-saml sends AuthnRequests with HTTP-Redirect"
        auth = OneLogin_Saml2_Auth(self._request("/login"), self.settings)
        url = auth.login(return_to=relay)
        req_id = auth.get_last_request_id()
        self.outstanding[req_id] = relay
        self.issued.append({"id": req_id, "binding": "redirect", "url": url})
        return 302, b"", "text/plain", [("Location", url)]

    def parse(self, saml_response_b64: str, request_id: str | None, relay: str | None = None) -> dict[str, Any]:
        from onelogin.saml2.auth import OneLogin_Saml2_Auth

        result: dict[str, Any] = {"sp": "python3-saml", "ok": False}
        post = {"SAMLResponse": saml_response_b64}
        if relay is not None:
            post["RelayState"] = relay
        try:
            auth = OneLogin_Saml2_Auth(self._request("/acs", post), self.settings)
            auth.process_response(request_id=request_id)
            errors = auth.get_errors()
            if errors or not auth.is_authenticated():
                result["error"] = f"{errors}: {auth.get_last_error_reason()}"
                return result
            facts = _xml_facts(response_xml(saml_response_b64))
            result.update(
                ok=True,
                nameId=auth.get_nameid(),
                nameIdFormat=auth.get_nameid_format(),
                issuer=facts["issuer"],
                inResponseTo=facts["responseInResponseTo"],
                audience=facts.get("audience"),
                sessionIndex=auth.get_session_index(),
                attributes=auth.get_attributes(),
            )
        except Exception as e:  # noqa: BLE001
            result["error"] = f"{type(e).__name__}: {e}"
        return result


class SamlifySp:
    """browser/saml-sp.mjs (samlify) as a child process, bounded by `timeout`."""

    kind = "samlify"

    def __init__(self, workdir: pathlib.Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = open(workdir / "saml-sp.log", "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            ["timeout", "--kill-after=5", "900", "node", str(BROWSER_DIR / "saml-sp.mjs"), "--port", "0"],
            cwd=str(BROWSER_DIR),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        ready: dict[str, Any] = {}
        holder: list[str] = []
        reader = threading.Thread(target=lambda: holder.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(SP_START_TIMEOUT_S)
        if holder and holder[0].strip():
            ready = json.loads(holder[0])
        if not ready.get("ready"):
            self.close()
            raise AssertionError(
                f"saml-sp.mjs did not start within {SP_START_TIMEOUT_S} s: {holder!r}\n"
                + (workdir / "saml-sp.log").read_text()[-2000:]
            )
        self.port = int(ready["port"])
        self.token = secrets.token_hex(4)
        self.http = requests.Session()
        self.http.trust_env = False

    base = SpServer.base
    entity_id = SpServer.entity_id
    acs = SpServer.acs
    login_url = SpServer.login_url

    def configure(self, idp: IdpInfo, *, want_message_signed: bool = False) -> None:
        self.idp = idp
        r = self.http.post(
            f"{self.base}/configure",
            json={
                "entityId": self.entity_id,
                "idpMetadata": idp.xml,
                "wantMessageSigned": want_message_signed,
                "wantAssertionsSigned": True,
            },
            timeout=HTTP_TIMEOUT,
        )
        assert r.status_code == 200, r.text

    def metadata_xml(self) -> str:
        r = self.http.get(f"{self.base}/metadata", timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        return r.text

    @property
    def issued(self) -> list[dict[str, Any]]:
        r = self.http.get(f"{self.base}/issued", timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        return r.json()

    def results(self) -> list[dict[str, Any]]:
        r = self.http.get(f"{self.base}/results", timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        return r.json()

    def parse(self, saml_response_b64: str, request_id: str | None, relay: str | None = None) -> dict[str, Any]:
        r = self.http.post(
            f"{self.base}/parse",
            json={"SAMLResponse": saml_response_b64, "requestId": request_id},
            timeout=HTTP_TIMEOUT,
        )
        assert r.status_code == 200, r.text
        return r.json()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


SP_CLASSES: dict[str, Callable[[pathlib.Path], Any]] = {
    "pysaml2": PySaml2Sp,
    "python3-saml": OneLoginSp,
    "samlify": SamlifySp,
}


# --------------------------------------------------------------------------- the browser


class SamlBrowser:
    """Runs browser/saml-login.mjs (a plan of rounds in one Chromium profile), bounded by `timeout`."""

    def __init__(self, browser: Browser, base: str, artifacts: pathlib.Path) -> None:
        self.browser = browser
        self.base = base
        self.artifacts = artifacts
        self._n = 0

    def run(
        self,
        rounds: list[dict[str, Any]],
        user: User | None,
        *,
        cookies: bool = False,
        expect_ok: bool = True,
        timeout: int = SAML_LOGIN_TIMEOUT_S,
    ) -> dict[str, Any]:
        require_browser()
        self._n += 1
        shots = self.artifacts / f"saml-{self._n:03d}"
        shots.mkdir(parents=True, exist_ok=True)
        cmd = [
            "timeout", "--kill-after=5", str(timeout + 40),
            "node", str(BROWSER_DIR / "saml-login.mjs"),
            "--plan", json.dumps({"rounds": rounds}),
            "--origin", self.base,
            "--timeout", str(timeout),
            "--screenshot", str(shots),
        ]  # fmt: skip
        if user is not None:
            cmd += ["--username", user.upn]
        if self.browser.ca:
            cmd += ["--ca", self.browser.ca]
        if cookies:
            cmd.append("--cookies")
        started = time.monotonic()
        try:
            proc = subprocess.run(
                cmd,
                env=self.browser.env(user.password if user else None),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout + 50,
                cwd=str(BROWSER_DIR),
            )
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"saml-login.mjs did not end within {timeout + 50} s: {e}") from None
        out: dict[str, Any] = {}
        for line in reversed(proc.stdout.strip().splitlines()):
            try:
                out = json.loads(line)
                break
            except ValueError:
                continue
        out["returncode"] = proc.returncode
        out["seconds"] = round(time.monotonic() - started, 1)
        if expect_ok and (proc.returncode != 0 or not out.get("ok")):
            shown = {k: v for k, v in out.items() if k not in ("text", "rounds")}
            shown["rounds"] = [
                {k: v for k, v in r.items() if k != "result"}
                | {"result": {k: v for k, v in (r.get("result") or {}).items() if k != "samlResponse"}}
                for r in out.get("rounds") or []
            ]
            raise AssertionError(
                f"saml-login.mjs failed (exit {proc.returncode}) in round {out.get('round')}: {out.get('error')}\n"
                f"{json.dumps(shown, default=str)[-6000:]}\n--- page text ---\n{str(out.get('text') or '')[:3000]}\n"
                f"--- stderr ---\n{proc.stderr[-2000:]}"
            )
        return out


# --------------------------------------------------------------------------- raw messages


def instant(delta_seconds: int = 0) -> str:
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return "_" + uuid.uuid4().hex


def authn_request(
    issuer: str,
    destination: str | None,
    *,
    acs: str | None = None,
    req_id: str | None = None,
    issue_instant: str | None = None,
    extensions: str = "",
    signature_placeholder: bool = False,
    prolog: str = "",
    name_id_format: str | None = NAMEID_EMAIL,
) -> str:
    """An AuthnRequest as SPs send it (attributes only where given)."""
    attrs = [
        'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"',
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"',
        f'ID="{req_id or new_id()}"',
        'Version="2.0"',
        f'IssueInstant="{issue_instant or instant()}"',
    ]
    if destination:
        attrs.append(f'Destination="{html.escape(destination)}"')
    if acs:
        attrs.append(f'AssertionConsumerServiceURL="{html.escape(acs)}"')
        attrs.append(f'ProtocolBinding="{BINDING_POST}"')
    placeholder = (
        '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="placeholder"></ds:Signature>'
        if signature_placeholder
        else ""
    )
    policy = f'<samlp:NameIDPolicy Format="{name_id_format}" AllowCreate="true"/>' if name_id_format else ""
    ext = f"<samlp:Extensions>{extensions}</samlp:Extensions>" if extensions else ""
    return (
        f"{prolog}<samlp:AuthnRequest {' '.join(attrs)}>"
        f"<saml:Issuer>{html.escape(issuer)}</saml:Issuer>{placeholder}{ext}{policy}"
        "</samlp:AuthnRequest>"
    )


def deflate_b64(data: bytes, level: int = 9) -> str:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return base64.b64encode(c.compress(data) + c.flush()).decode()


def redirect_url(endpoint: str, xml: str | bytes, relay: str | None = None, param: str = "SAMLRequest") -> str:
    data = xml.encode() if isinstance(xml, str) else xml
    q = f"{param}={quote(deflate_b64(data), safe='')}"
    if relay is not None:
        q += f"&RelayState={quote(relay, safe='')}"
    return f"{endpoint}?{q}"


def post_fields(xml: str | bytes, relay: str | None = None) -> dict[str, str]:
    data = xml.encode() if isinstance(xml, str) else xml
    fields = {"SAMLRequest": base64.b64encode(data).decode()}
    if relay is not None:
        fields["RelayState"] = relay
    return fields


def sign_request(xml: str, keys: KeyPair, reference_id: str) -> bytes:
    """Enveloped XML-DSig (RSA-SHA256, SHA-256, exclusive c14n) with signxml; the <ds:Signature
    Id="placeholder"> in the document (right after Issuer) marks where it goes."""
    from lxml import etree
    from signxml import DigestAlgorithm, SignatureMethod, XMLSigner, methods

    signer = XMLSigner(
        method=methods.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=EXC_C14N,
    )
    signer.namespaces = {"ds": NS["ds"]}
    root = etree.fromstring(xml.encode())
    signed = signer.sign(root, key=keys.key_pem.encode(), cert=keys.cert_pem, reference_uri=reference_id)
    return etree.tostring(signed)


def saml_form(page: str) -> dict[str, str] | None:
    """The auto-submitting SAML form of an Ostiary page: action + hidden fields, or None."""
    if not re.search(r'name="SAMLResponse"', page):
        return None
    action = re.search(r'<form[^>]*action="([^"]+)"', page)
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
    out = {k: html.unescape(v) for k, v in fields.items()}
    out["action"] = html.unescape(action.group(1)) if action else ""
    return out


def assert_refused(r: requests.Response, code: str | None, *, status: int = 400) -> None:
    """An Ostiary error page: the HTTP status, the AADSTS code on the page, and no SAML response."""
    body = r.text
    assert r.status_code == status, f"expected HTTP {status} ({code}), got {r.status_code}: {body[:1500]}"
    if code:
        assert code in body, f"{code} not on the error page: {body[:1500]}"
    assert saml_form(body) is None, f"an error page carries a SAMLResponse form: {body[:1500]}"


def post_reading_early_response(url: str, fields: dict[str, str], ca: str, timeout: float = 30) -> tuple[int, str, int]:
    """POSTs a (large) form the careful way: while the body goes out, a response the server sends
    early (before reading everything, as it may for an over-limit body) is noticed, the upload
    stops and that response is read. Returns (status, body, bytes of the body sent)."""
    import select
    import socket
    import ssl

    u = urlsplit(url)
    body = urlencode(fields).encode()
    head = (
        f"POST {u.path}{'?' + u.query if u.query else ''} HTTP/1.1\r\nHost: {u.netloc}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    context = ssl.create_default_context(cafile=ca)
    raw = socket.create_connection((u.hostname, u.port or 443), timeout=timeout)
    sent = 0
    chunks: list[bytes] = []
    with context.wrap_socket(raw, server_hostname=u.hostname) as sock:
        sock.sendall(head)
        deadline = time.monotonic() + timeout
        while sent < len(body) and time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable or sock.pending():
                # Readable: TLS housekeeping (a session ticket), or the server answering before
                # the body is complete.
                sock.setblocking(False)
                try:
                    data = sock.recv(65536)
                except ssl.SSLWantReadError:
                    data = None
                except (ConnectionResetError, ssl.SSLError):
                    data = b""
                finally:
                    sock.settimeout(timeout)
                if data is not None:
                    chunks.append(data)
                    break
            try:
                sent += sock.send(body[sent : sent + 16384])
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                break
        try:
            while time.monotonic() < deadline:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except (ConnectionResetError, ssl.SSLError, socket.timeout):
            pass
    response = b"".join(chunks).decode("utf-8", "replace")
    m = re.match(r"HTTP/1\.[01] (\d{3})", response)
    assert m, f"no HTTP response after sending {sent} of {len(body)} bytes: {response[:300]!r}"
    return int(m.group(1)), response.split("\r\n\r\n", 1)[-1], sent


def xmlsec1_verify(
    xml: bytes, cert_pem: str, workdir: pathlib.Path, id_attrs: tuple[str, ...]
) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    doc = workdir / f"doc-{secrets.token_hex(4)}.xml"
    cert = workdir / "idp-cert.pem"
    doc.write_bytes(xml)
    cert.write_text(cert_pem)
    cmd = ["timeout", "--kill-after=5", "30", require_xmlsec1(), "--verify", "--pubkey-cert-pem", str(cert)]
    for a in id_attrs:
        cmd += ["--id-attr:ID", a]
    cmd.append(str(doc))
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=40)
