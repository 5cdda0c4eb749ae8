"""A throwaway stand-in for Ostiary's interactive pages, served over https by the stdlib.

It carries exactly the selectors of the page contract that browser/login.mjs relies on
(sign-in form, device-code page, consent page, "You have signed in", "You signed out") and
answers in query, fragment or form_post mode, so `test_browser_helper.py` can prove the
browser plumbing (Chromium, playwright-core, CA trust, loopback capture) without the server.
It also has just enough of an Entra-shaped discovery document and token endpoint (authorization
code with PKCE, refresh) for MSAL to finish a flow, so the self-test can prove MSAL's own loopback
server + the browser work together, plus JWKS, userinfo and end-session for openid-client.
It is not an identity provider: one user, one signing key,
nothing is validated beyond what those checks need.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import html
import json
import time
import ipaddress
import secrets
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

USERNAME = "alice@fake.test"
PASSWORD = "correct horse battery staple"
DEVICE_CODE = "FAKE-1234"
APP_NAME = "Fake App"
TENANT = "fake-tenant"
USER_OID = "00000000-0000-0000-0000-0000000000a1"
TENANT_ID = "00000000-0000-0000-0000-0000000000f1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_ca_and_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key) for 127.0.0.1 / localhost, under a fresh throwaway CA."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"fake-idp-ca-{secrets.token_hex(3)}")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = directory / "ca.pem"
    cert_pem = directory / "server.pem"
    key_pem = directory / "server.key"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_pem, cert_pem, key_pem


def _page(title: str, body: str, status: int = 200) -> tuple[int, str]:
    return status, (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head><body>{body}</body></html>"
    )


class FakeIdp:
    """https://127.0.0.1:PORT with /authorize, /login, /consent, /devicelogin, /logout."""

    def __init__(self, workdir: Path) -> None:
        self.ca, cert, key = make_ca_and_server_cert(workdir)
        self.flows: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.refresh: dict[str, dict[str, Any]] = {}
        self.access: dict[str, dict[str, Any]] = {}
        self.pending_device: dict[str, Any] = {}  # the last /devicecode request (one at a time)
        self.device_results: dict[str, bool] = {}
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signins: list[str] = []
        self.lock = threading.Lock()
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _send(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
                data = body.encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if body:
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def _redirect(self, location: str) -> None:
                self._send(302, "", {"Location": location})

            def _form(self) -> dict[str, str]:
                n = int(self.headers.get("Content-Length") or 0)
                return dict(parse_qsl(self.rfile.read(n).decode(), keep_blank_values=True))

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                u = urlsplit(self.path)
                q = dict(parse_qsl(u.query, keep_blank_values=True))
                if u.path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
                    return self._json(200, idp.discovery())
                if u.path == f"/{TENANT}/discovery/v2.0/keys":
                    return self._json(200, idp.jwks())
                if u.path == "/oidc/userinfo":
                    return self._userinfo()
                if u.path in ("/authorize", f"/{TENANT}/oauth2/v2.0/authorize"):
                    if q.get("redirect_uri", "").endswith("/evil"):
                        return self._send(*_page("Error", "<h1>Sorry</h1><p>AADSTS50011: redirect URI mismatch</p>", 400))
                    fid = secrets.token_urlsafe(8)
                    idp.flows[fid] = {"kind": "code", **q}
                    return self._redirect(f"/login?flow={fid}")
                if u.path == "/login":
                    flow = idp.flows.get(q.get("flow", ""), {})
                    # csp=strict: the sign-in page forbids form targets but itself, so the
                    # redirect to the client that follows the POST is blocked (a server bug to catch).
                    headers = {"Content-Security-Policy": "form-action 'self'"} if flow.get("csp") == "strict" else {}
                    status, body = idp.login_page(q.get("flow", ""), q.get("error"))
                    return self._send(status, body, headers)
                if u.path == "/consent":
                    return self._send(*idp.consent_page(q.get("flow", "")))
                if u.path == "/devicelogin":
                    return self._send(*idp.device_page())
                if u.path in ("/logout", f"/{TENANT}/oauth2/v2.0/logout"):
                    target = html.escape(q.get("post_logout_redirect_uri", "/"), quote=True)
                    return self._send(
                        *_page("Signed out", f"<h1>You signed out</h1><a id=continue href=\"{target}\">Continue</a>")
                    )
                if u.path == "/favicon.ico":
                    return self._send(404, "")
                return self._send(*_page("Not found", "<h1>Not found</h1>", 404))

            def do_POST(self) -> None:  # noqa: N802
                u = urlsplit(self.path)
                f = self._form()
                if u.path == f"/{TENANT}/oauth2/v2.0/token":
                    status, body = idp.token(f)
                    return self._json(status, body)
                if u.path == f"/{TENANT}/oauth2/v2.0/devicecode":
                    return self._json(200, idp.devicecode(f))
                if u.path == "/oidc/userinfo":
                    return self._userinfo()
                fid = f.get("flow", "")
                if u.path == "/devicelogin":
                    if f.get("user_code") != DEVICE_CODE:
                        return self._send(*_page("Code", "<p>AADSTS70000: wrong code</p>", 400))
                    fid = secrets.token_urlsafe(8)
                    idp.flows[fid] = {"kind": "device", "consent": "required", **idp.pending_device}
                    return self._redirect(f"/login?flow={fid}")
                flow = idp.flows.get(fid)
                if flow is None:
                    return self._send(*_page("Error", "<p>AADSTS90014: unknown flow</p>", 400))
                if u.path == "/login":
                    if f.get("username") != USERNAME or f.get("password") != PASSWORD:
                        return self._redirect(f"/login?flow={fid}&error=1")
                    with idp.lock:
                        idp.signins.append(f["username"])
                    if flow.get("consent") == "required":
                        return self._redirect(f"/consent?flow={fid}")
                    return self._finish(flow, {"code": idp.new_code(flow)})
                if u.path == "/consent":
                    if f.get("action") == "accept":
                        flow["admin_consented"] = f.get("admin_consent") == "on"
                        return self._finish(flow, {"code": idp.new_code(flow)})
                    return self._finish(
                        flow, {"error": "access_denied", "error_description": "AADSTS65004: User declined to consent"}
                    )
                return self._send(*_page("Not found", "<h1>Not found</h1>", 404))

            def _userinfo(self) -> None:
                auth = self.headers.get("Authorization", "")
                flow = idp.access.get(auth[7:]) if auth.startswith("Bearer ") else None
                if flow is None:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                return self._json(200, {"sub": "fake-sub", "name": "Alice Fake", "email": USERNAME})

            def _finish(self, flow: dict[str, Any], result: dict[str, str]) -> None:
                if flow["kind"] == "device":
                    if flow.get("device_code"):
                        idp.device_results[flow["device_code"]] = "code" in result
                    if "code" in result:
                        return self._send(*_page("Done", f"<h1>You have signed in to {APP_NAME}</h1>"))
                    return self._send(*_page("Declined", "<h1>You declined</h1>"))
                params = dict(result)
                if flow.get("state"):
                    params["state"] = flow["state"]
                params["client_info"] = "eyJ1aWQiOiJmYWtlIiwidXRpZCI6ImZha2UifQ"
                redirect = flow["redirect_uri"]
                mode = flow.get("response_mode", "query")
                if mode == "form_post":
                    inputs = "".join(
                        f'<input type="hidden" name="{html.escape(k, quote=True)}" value="{html.escape(v, quote=True)}">'
                        for k, v in params.items()
                    )
                    return self._send(
                        *_page(
                            "Working...",
                            f'<form method="POST" name="hiddenform" action="{html.escape(redirect, quote=True)}">'
                            f"{inputs}<noscript><button>Continue</button></noscript></form>"
                            "<script>document.forms[0].submit()</script>",
                        )
                    )
                sep = "#" if mode == "fragment" else ("&" if "?" in redirect else "?")
                return self._redirect(redirect + sep + urlencode(params))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.base = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-idp", daemon=True)
        self.thread.start()

    def discovery(self) -> dict[str, Any]:
        root = f"{self.base}/{TENANT}"
        return {
            "issuer": f"{root}/v2.0",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "userinfo_endpoint": f"{self.base}/oidc/userinfo",
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.signing_key.public_key()))
        return {"keys": [{**jwk, "kid": "fake-kid", "use": "sig", "alg": "RS256"}]}

    def devicecode(self, f: dict[str, str]) -> dict[str, Any]:
        device_code = secrets.token_urlsafe(24)
        self.pending_device = {"device_code": device_code, "client_id": f.get("client_id"), "scope": f.get("scope", "")}
        uri = f"{self.base}/devicelogin"
        return {
            "device_code": device_code,
            "user_code": DEVICE_CODE,
            "verification_uri": uri,
            "expires_in": 900,
            "interval": 1,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the code {DEVICE_CODE} to authenticate.",
        }

    def token(self, f: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """authorization_code (PKCE S256, redirect_uri, one use), refresh_token and device_code."""
        err = lambda d: (400, {"error": "invalid_grant", "error_description": f"AADSTS70000: {d}"})  # noqa: E731
        if f.get("grant_type") == "urn:ietf:params:oauth:grant-type:device_code":
            done = self.device_results.get(f.get("device_code", ""))
            if done is None:
                return 400, {"error": "authorization_pending", "error_description": "AADSTS70016: pending"}
            if not done:
                return 400, {"error": "authorization_declined", "error_description": "AADSTS70000: declined"}
            flow = dict(self.pending_device)
        elif f.get("grant_type") == "authorization_code":
            flow = self.codes.pop(f.get("code", ""), None)
            if flow is None:
                return err("unknown or used code")
            if f.get("redirect_uri") != flow.get("redirect_uri"):
                return err("redirect_uri")
            verifier = f.get("code_verifier", "")
            if _b64(hashlib.sha256(verifier.encode()).digest()) != flow.get("code_challenge"):
                return err("PKCE")
        elif f.get("grant_type") == "refresh_token":
            flow = self.refresh.pop(f.get("refresh_token", ""), None)
            if flow is None:
                return err("unknown refresh token")
        else:
            return 400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003: grant"}
        now = int(time.time())
        claims = {
            "aud": flow.get("client_id"), "iss": self.discovery()["issuer"], "iat": now, "nbf": now,
            "exp": now + 3600, "sub": "fake-sub", "oid": USER_OID, "tid": TENANT_ID,
            "preferred_username": USERNAME, "name": "Alice Fake", "ver": "2.0", "auth_time": now,
        }  # fmt: skip
        if flow.get("nonce") and f.get("grant_type") == "authorization_code":
            claims["nonce"] = flow["nonce"]
        id_token = jwt.encode(claims, self.signing_key, algorithm="RS256", headers={"kid": "fake-kid"})
        rt = secrets.token_urlsafe(24)
        self.refresh[rt] = flow
        at = secrets.token_urlsafe(32)
        self.access[at] = flow
        return 200, {
            "token_type": "Bearer",
            "scope": flow.get("scope", ""),
            "expires_in": 3600,
            "access_token": at,
            "refresh_token": rt,
            "id_token": id_token,
            "client_info": _b64(json.dumps({"uid": USER_OID, "utid": TENANT_ID}).encode()),
        }

    def new_code(self, flow: dict[str, Any]) -> str:
        code = secrets.token_urlsafe(24)
        self.codes[code] = flow
        return code

    def authorize_url(self, redirect_uri: str, *, response_mode: str = "query", consent: str = "none", **extra: str) -> str:
        q = {
            "client_id": "fake-client",
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "response_mode": response_mode,
            "state": secrets.token_urlsafe(8),
            "consent": consent,
            **extra,
        }
        return f"{self.base}/authorize?{urlencode(q)}"

    def login_page(self, fid: str, error: str | None) -> tuple[int, str]:
        flow = self.flows.get(fid, {})
        hint = html.escape(flow.get("login_hint", ""), quote=True)
        msg = "<p class=error>AADSTS50126: Error validating credentials due to invalid username or password.</p>" if error else ""
        return _page(
            "Sign in",
            f"<h1>Sign in</h1>{msg}<form method=post action=/login>"
            f"<input type=hidden name=flow value=\"{html.escape(fid, quote=True)}\">"
            f"<input name=username type=email value=\"{hint}\" autocomplete=username>"
            "<input name=password type=password autocomplete=current-password>"
            "<button id=submit type=submit>Sign in</button></form>",
        )

    def consent_page(self, fid: str) -> tuple[int, str]:
        flow = self.flows.get(fid, {})
        admin = "<label><input type=checkbox id=admin_consent name=admin_consent>Consent on behalf of your organization</label>" if flow.get("admin") == "1" else ""
        return _page(
            "Permissions requested",
            f"<h1>Permissions requested</h1><p>{APP_NAME} wants to read your orders.</p>"
            f"<form method=post action=/consent><input type=hidden name=flow value=\"{html.escape(fid, quote=True)}\">{admin}"
            "<button id=decline name=action value=decline>Cancel</button>"
            "<button id=accept name=action value=accept>Accept</button></form>",
        )

    def device_page(self) -> tuple[int, str]:
        return _page(
            "Enter code",
            "<h1>Enter code</h1><form method=post action=/devicelogin>"
            "<input name=user_code autocomplete=off><button id=submit type=submit>Next</button></form>",
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
