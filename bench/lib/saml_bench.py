#!/usr/bin/env python3
"""SAML IdP benchmark helper for bench/saml.sh (standard library only; xmlsec1 if present).

  saml_bench.py setup BASE BOOTSTRAP_JSON CA_PEM --sp-entity E --acs URL --sessions N --out-dir D
      Through the Graph-shaped API: one SAML application (identifierUris = E, web.redirectUris = [URL],
      preferredSingleSignOnMode saml, relayState /home, a token-signing certificate: RSA-2048, the
      default signingOption TokenOnly) with its service principal, and one user (mail, given name,
      surname, so that Entra's basic claim set is complete). Then N browser sign-ins over plain
      HTTP(S): GET /{tenant}/saml2/launch/{appId} -> 302 /{tenant}/login?flow=… -> GET the page ->
      POST its form (hidden flow, csrf, … + username, password) -> … -> the auto-post page with
      SAMLResponse. Writes D/ostiary-cookies.txt (one Cookie header per line, each an independent SSO
      session: ostiary_browser + ostiary_session_<tenant>), D/ostiary-idp.crt (the app's signing
      certificate, from the federation metadata) and prints JSON (tenant, appId, launch path, SSO URL).

  saml_bench.py check URL --name NAME --out-dir D [--ca CA] [--cookies FILE] [--cert PEM]
                          [--authn-sp-entity E --authn-acs URL]
      One request as wrk will send it (first cookie line). With --authn-*, URL is the SSO endpoint and a
      fresh AuthnRequest (HTTP-Redirect) is sent; the answer's InResponseTo must be its ID. Checks: HTTP
      200, an auto-post form with SAMLResponse, Destination = ACS, a signed Assertion (RSA-SHA256), and,
      when xmlsec1 and --cert are there, the signature itself. Writes D/NAME.page.html,
      D/NAME.response.xml and D/NAME.check.json (sizes, signatures, attributes); exits 1 on failure.

  saml_bench.py claims RESPONSE_XML > claims.json
      NameID, its format, AuthnContextClassRef and the attributes of a Response, for the peer
      (bench/peer/saml-idp.mjs CLAIMS=…), so both IdPs sign Assertions with the same statements.

  saml_bench.py requests SSO_URL --sp-entity E --acs URL --count N --out FILE
      N distinct unsigned AuthnRequests (HTTP-Redirect binding: raw deflate, base64, URL-encoded, with
      RelayState), one path?query per line, for bench/lib/saml.lua. Every ID is new (Ostiary accepts an
      ID once); IssueInstant is now (Ostiary refuses requests older than 10 minutes).

  saml_bench.py report RUN_DIR
      The table of a bench/saml.sh run (summary.txt, summary.json).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import html
import html.parser
import http.client
import json
import os
import pathlib
import re
import secrets
import shutil
import ssl
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
import zlib

TIMEOUT = 30
NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


# =========================================================================== HTTP


class Forms(html.parser.HTMLParser):
    """Every <form> of a page: action, method and its <input>s."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get").upper(), "inputs": []})
        elif tag in ("input", "button") and self.forms:
            self.forms[-1]["inputs"].append({"name": a.get("name", ""), "value": a.get("value", ""),
                                             "type": a.get("type", "text").lower(), "tag": tag})


def forms(page: str) -> list[dict]:
    p = Forms()
    p.feed(page)
    return p.forms


class Browser:
    """One keep-alive connection and a cookie jar; follows redirects on the same origin."""

    def __init__(self, base: str, ca: str | None) -> None:
        u = urllib.parse.urlsplit(base)
        self.base, self.host, self.port = base.rstrip("/"), u.hostname, u.port
        if u.scheme == "https":
            ctx = ssl.create_default_context(cafile=ca) if ca else ssl._create_unverified_context()  # noqa: S323
            self.c = http.client.HTTPSConnection(self.host, self.port, context=ctx, timeout=TIMEOUT)
        else:
            self.c = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        self.jar: dict[str, str] = {}

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.jar.items())

    def request(self, method: str, target: str, body: bytes | None = None, headers=None):
        if target.startswith(self.base):
            target = target[len(self.base):] or "/"
        hdrs = {"Accept": "text/html", "User-Agent": "ostiary-bench-saml/1"}
        if self.jar:
            hdrs["Cookie"] = self.cookie_header()
        hdrs.update(headers or {})
        self.c.request(method, target, body=body, headers=hdrs)
        r = self.c.getresponse()
        data = r.read()
        for sc in r.headers.get_all("Set-Cookie") or []:
            name, _, value = sc.split(";", 1)[0].partition("=")
            if not name.strip():
                continue
            if value == "" or re.search(r";\s*Max-Age=0\b", sc, re.I):
                self.jar.pop(name.strip(), None)
            else:
                self.jar[name.strip()] = value.strip()
        return r.status, r.headers, data.decode("utf-8", "replace")

    def get_following(self, target: str, method: str = "GET", body: bytes | None = None, headers=None):
        for _ in range(10):
            status, h, page = self.request(method, target, body, headers)
            loc = h.get("Location")
            if status not in (301, 302, 303, 307) or not loc:
                return status, h, page
            if loc.startswith("http") and not loc.startswith(self.base):
                raise SystemExit(f"redirected off the IdP to {loc[:200]}")
            target, method, body, headers = loc, "GET", None, None
        raise SystemExit("too many redirects")


def saml_form(page: str) -> dict | None:
    for f in forms(page):
        vals = {i["name"]: i["value"] for i in f["inputs"] if i["name"]}
        if "SAMLResponse" in vals:
            return {"action": f["action"], "SAMLResponse": vals["SAMLResponse"], "RelayState": vals.get("RelayState")}
    return None


# =========================================================================== setup


def cmd_setup(args: argparse.Namespace) -> int:
    base = args.base.rstrip("/")
    boot = json.load(open(args.bootstrap))
    tls = ssl.create_default_context(cafile=args.ca)
    tenant = boot["tenantId"]
    out_dir = pathlib.Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def request(method, url, body=None, headers=None, form=False, expect=(200, 201, 204), raw=False):
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            if form:
                data = urllib.parse.urlencode(body).encode()
                hdrs["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, context=tls, timeout=TIMEOUT) as r:
                text, status = r.read(), r.status
        except urllib.error.HTTPError as e:
            raise SystemExit(f"{method} {url}: HTTP {e.code}: {e.read()[:1000]!r}") from None
        if status not in expect:
            raise SystemExit(f"{method} {url}: unexpected HTTP {status}: {text[:1000]!r}")
        if raw:
            return text.decode()
        return json.loads(text) if text else None

    tok = request("POST", f"{base}/{tenant}/oauth2/v2.0/token", {
        "grant_type": "client_credentials", "client_id": boot["clientId"], "client_secret": boot["clientSecret"],
        "scope": "https://graph.microsoft.com/.default"}, form=True)
    auth = {"Authorization": f"Bearer {tok['access_token']}"}

    def graph(method, path, body=None, expect=(200, 201, 204)):
        return request(method, f"{base}/v1.0{path}", body, auth, expect=expect)

    suffix = secrets.token_hex(4)
    app = graph("POST", "/applications", {"displayName": f"Bench SAML {suffix}", "identifierUris": [args.sp_entity],
                                          "web": {"redirectUris": [args.acs]}})
    sp = graph("POST", "/servicePrincipals", {"appId": app["appId"]})
    graph("PATCH", f"/servicePrincipals/{sp['id']}", {"preferredSingleSignOnMode": "saml",
                                                       "samlSingleSignOnSettings": {"relayState": "/home"}})
    cert = graph("POST", f"/servicePrincipals/{sp['id']}/addTokenSigningCertificate",
                 {"displayName": f"CN=Bench-SAML-{suffix}"})
    nick = f"saml-bench-{suffix}"
    upn = f"{nick}@{boot['tenantDomain']}"
    password = f"Bench-{secrets.token_urlsafe(12)}-7q!"
    user = graph("POST", "/users", {
        "accountEnabled": True, "displayName": "Saml Bench", "mailNickname": nick, "userPrincipalName": upn,
        "mail": upn, "givenName": "Saml", "surname": "Bench",
        "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": False}}, expect=(201,))

    md = request("GET", f"{base}/{tenant}/federationmetadata/2007-06/federationmetadata.xml?appid={app['appId']}",
                 raw=True)
    root = ET.fromstring(md)
    idp = root.find("md:IDPSSODescriptor", NS)
    sso = {e.get("Binding"): e.get("Location") for e in idp.findall("md:SingleSignOnService", NS)}
    certs = ["".join((c.text or "").split()) for c in idp.findall(".//ds:X509Certificate", NS)]
    if cert.get("key") and "".join(cert["key"].split()) in certs:
        der = "".join(cert["key"].split())
    else:
        der = certs[0]
    (out_dir / "ostiary-idp.crt").write_text(pem(der))
    (out_dir / "ostiary-metadata.xml").write_text(md)

    launch = f"/{tenant}/saml2/launch/{app['appId']}"
    cookie_lines = []
    t0 = time.monotonic()
    for _ in range(args.sessions):
        b = Browser(base, args.ca)
        status, _, page = b.get_following(launch)
        for _step in range(5):
            if saml_form(page):
                break
            if status != 200:
                raise SystemExit(f"sign-in: HTTP {status}: {page[:500]}")
            fs = [f for f in forms(page) if any(i["type"] == "password" for i in f["inputs"])] or forms(page)
            if not fs:
                raise SystemExit(f"sign-in: no form on the page: {page[:800]}")
            f = fs[0]
            fields = {}
            for i in f["inputs"]:
                if not i["name"] or i["tag"] == "button" or i["type"] in ("submit", "button", "checkbox"):
                    continue
                fields[i["name"]] = i["value"]
            if any(i["type"] == "password" for i in f["inputs"]):
                for i in f["inputs"]:
                    if i["type"] == "password":
                        fields[i["name"]] = password
                    elif i["name"] in ("username", "login", "loginfmt", "email"):
                        fields[i["name"]] = upn
            action = f["action"] or launch
            status, _, page = b.get_following(action, f["method"], urllib.parse.urlencode(fields).encode(),
                                              {"Content-Type": "application/x-www-form-urlencoded"})
        if not saml_form(page):
            raise SystemExit(f"sign-in: no SAML response reached (HTTP {status}): {page[:800]}")
        names = sorted(b.jar)
        if not any(n.startswith("ostiary_session_") for n in names):
            raise SystemExit(f"sign-in: no session cookie, cookies: {names}")
        cookie_lines.append(b.cookie_header())
    (out_dir / "ostiary-cookies.txt").write_text("".join(c + "\n" for c in cookie_lines))
    json.dump({
        "base": base, "tenantId": tenant, "appId": app["appId"], "servicePrincipalId": sp["id"], "userId": user["id"],
        "upn": upn, "launchPath": launch, "ssoUrl": sso.get(REDIRECT), "idpEntityId": root.get("entityID"),
        "spEntityId": args.sp_entity, "acs": args.acs, "sessions": len(cookie_lines),
        "cookieNames": sorted(c.split("=", 1)[0] for c in cookie_lines[0].split("; ")),
        "signInSeconds": round(time.monotonic() - t0, 2)}, sys.stdout, indent=2)
    print()
    return 0


def pem(der_b64: str) -> str:
    lines = [der_b64[i:i + 64] for i in range(0, len(der_b64), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


# =========================================================================== AuthnRequests


def instant(t: datetime.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def authn_query(sso_url: str, sp_entity: str, acs: str, request_id: str, now: str, relay: str) -> str:
    xml = (f'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
           f'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{request_id}" Version="2.0" '
           f'IssueInstant="{now}" Destination="{html.escape(sso_url)}" '
           f'AssertionConsumerServiceURL="{html.escape(acs)}" ProtocolBinding="{POST}">'
           f'<saml:Issuer>{html.escape(sp_entity)}</saml:Issuer>'
           f'<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>'
           f'</samlp:AuthnRequest>')
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = c.compress(xml.encode()) + c.flush()
    return urllib.parse.urlencode({"SAMLRequest": base64.b64encode(raw).decode(), "RelayState": relay})


def cmd_requests(args: argparse.Namespace) -> int:
    u = urllib.parse.urlsplit(args.sso_url)
    path = u.path + ("?" + u.query + "&" if u.query else "?")
    now = instant(datetime.datetime.now(datetime.timezone.utc))
    prefix = f"_b{secrets.token_hex(6)}"
    with open(args.out, "w") as f:
        for i in range(args.count):
            f.write(path + authn_query(args.sso_url, args.sp_entity, args.acs, f"{prefix}{i:08d}", now, "rs") + "\n")
    print(json.dumps({"count": args.count, "out": args.out, "bytes": os.path.getsize(args.out)}))
    return 0


# =========================================================================== check


def cmd_check(args: argparse.Namespace) -> int:
    out_dir = pathlib.Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    u = urllib.parse.urlsplit(args.url)
    b = Browser(f"{u.scheme}://{u.netloc}", args.ca)
    headers = {}
    if args.cookies:
        line = pathlib.Path(args.cookies).read_text().splitlines()[0]
        headers["Cookie"] = line
    target = u.path + (f"?{u.query}" if u.query else "")
    request_id = None
    if args.authn_sp_entity:
        request_id = f"_check{secrets.token_hex(8)}"
        q = authn_query(args.url, args.authn_sp_entity, args.authn_acs, request_id,
                        instant(datetime.datetime.now(datetime.timezone.utc)), "rs")
        target = u.path + ("?" + u.query + "&" if u.query else "?") + q
    t = time.perf_counter()
    status, h, page = b.request("GET", target, headers=headers)
    ms = (time.perf_counter() - t) * 1000
    (out_dir / f"{args.name}.page.html").write_text(page)
    facts: dict = {"name": args.name, "status": status, "ms": round(ms, 1), "page_bytes": len(page.encode()),
                   "content_type": h.get("Content-Type"), "problems": []}
    form = saml_form(page)
    if status != 200 or not form:
        facts["problems"].append(f"HTTP {status}, SAMLResponse form {'found' if form else 'missing'}: {page[:300]}")
    else:
        xml = base64.b64decode(form["SAMLResponse"])
        (out_dir / f"{args.name}.response.xml").write_bytes(xml)
        root = ET.fromstring(xml)
        a = root.find("saml:Assertion", NS)
        status_code = root.find("samlp:Status/samlp:StatusCode", NS)
        facts.update({
            "samlresponse_b64_bytes": len(form["SAMLResponse"]), "response_xml_bytes": len(xml),
            "form_action": form["action"], "relay_state": form["RelayState"],
            "destination": root.get("Destination"), "in_response_to": root.get("InResponseTo"),
            "status_code": status_code.get("Value") if status_code is not None else None,
            "response_signed": root.find("ds:Signature", NS) is not None,
            "assertion_signed": a is not None and a.find("ds:Signature", NS) is not None,
            "signature_method": [e.get("Algorithm") for e in root.iter(f"{{{NS['ds']}}}SignatureMethod")],
            "digest_method": [e.get("Algorithm") for e in root.iter(f"{{{NS['ds']}}}DigestMethod")],
            "attributes": len(a.findall("saml:AttributeStatement/saml:Attribute", NS)) if a is not None else 0,
            "name_id": (a.findtext("saml:Subject/saml:NameID", namespaces=NS) if a is not None else None),
        })
        if not facts["status_code"] or not facts["status_code"].endswith(":Success"):
            facts["problems"].append(f"status {facts['status_code']}")
        if not facts["assertion_signed"] or facts["signature_method"] != [RSA_SHA256]:
            facts["problems"].append(f"assertion signed {facts['assertion_signed']}, {facts['signature_method']}")
        if args.acs and (form["action"] != args.acs or root.get("Destination") != args.acs):
            facts["problems"].append(f"action/Destination {form['action']} / {root.get('Destination')} != {args.acs}")
        if request_id and root.get("InResponseTo") != request_id:
            facts["problems"].append(f"InResponseTo {root.get('InResponseTo')} != {request_id}")
        if not request_id and root.get("InResponseTo"):
            facts["problems"].append("IdP-initiated answer carries InResponseTo")
        xmlsec = shutil.which("xmlsec1")
        if xmlsec and args.cert:
            r = subprocess.run([xmlsec, "--verify", "--pubkey-cert-pem", args.cert, "--id-attr:ID",
                                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                                str(out_dir / f"{args.name}.response.xml")],
                               capture_output=True, text=True, timeout=60)
            facts["xmlsec1_verify"] = "OK" if r.returncode == 0 else (r.stderr.strip().splitlines() or ["failed"])[-1]
            if r.returncode != 0:
                facts["problems"].append(f"xmlsec1: {facts['xmlsec1_verify']}")
        else:
            facts["xmlsec1_verify"] = "not run (no xmlsec1)" if not xmlsec else "not run (no certificate)"
    (out_dir / f"{args.name}.check.json").write_text(json.dumps(facts, indent=2) + "\n")
    print(json.dumps(facts))
    return 1 if facts["problems"] else 0


# =========================================================================== claims for the peer


def cmd_claims(args: argparse.Namespace) -> int:
    root = ET.fromstring(pathlib.Path(args.xml).read_bytes())
    a = root.find("saml:Assertion", NS)
    nid = a.find("saml:Subject/saml:NameID", NS)
    attrs = []
    for at in a.findall("saml:AttributeStatement/saml:Attribute", NS):
        entry = {"name": at.get("Name"), "values": [v.text or "" for v in at.findall("saml:AttributeValue", NS)]}
        if at.get("NameFormat"):
            entry["nameFormat"] = at.get("NameFormat")
        attrs.append(entry)
    json.dump({"nameId": nid.text, "nameIdFormat": nid.get("Format"),
               "authnContextClassRef": a.findtext(".//saml:AuthnContextClassRef", namespaces=NS),
               "attributes": attrs}, sys.stdout, indent=2)
    print()
    return 0


# =========================================================================== report

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(path: pathlib.Path) -> dict:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from report import ms, parse_wrk as base_parse  # bench/lib/report.py

    out = base_parse(path)
    try:
        text = path.read_text()
    except OSError:
        return out
    if m := re.search(r"^\s+90(?:\.000)?%\s+(\S+)", text, re.M):
        out["p90"] = ms(m.group(1))
    if m := re.search(r"^Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", text, re.M):
        out["bytes_per_s"] = float(m.group(1)) * {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}[m.group(2)]
    if m := re.search(r"^saml-lua: (.*)$", text, re.M):
        out["lua"] = dict(kv.split("=", 1) for kv in m.group(1).split())
    return out


def cmd_report(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from report import fmt, parse_pidstat, read_env  # bench/lib/report.py

    run = pathlib.Path(args.run)
    meta = read_env(run / "meta.env")
    rows = []
    if (run / "runs.tsv").exists():
        for line in (run / "runs.tsv").read_text().splitlines():
            server, mode, c, rnd, wrk_file, pid_file = line.split("\t")
            r = {"server": server, "mode": mode, "c": int(c), "round": int(rnd)}
            r.update(parse_wrk(run / wrk_file))
            r["cpu"] = parse_pidstat(run / pid_file)
            r["per_core"] = r["rps"] / (r["cpu"] / 100.0) if r.get("rps") and r.get("cpu") else None
            rows.append(r)
    checks = {}
    for f in sorted(run.glob("*.check.json")):
        checks[f.name[: -len(".check.json")]] = json.loads(f.read_text())

    out: list[str] = []
    p = out.append
    p(f"SAML IdP benchmark: signed Response for a signed-in user, wrk -t{meta.get('threads', '2')} --latency, "
      f"{meta.get('duration', '?')} s per run after {meta.get('warmup', '?')} s warm-up; {meta.get('cores', '?')} "
      f"cores shared by server and load generator; all on 127.0.0.1, TLS with keep-alive.")
    p("launch = IdP-initiated GET /{tenant}/saml2/launch/{app} (peer: GET /launch); "
      "sp = SP-initiated GET /saml2?SAMLRequest=… (HTTP-Redirect), a new request ID each time.")
    p(f"Ostiary: {meta.get('sessions', '1')} SSO session(s) (cookies rotated per request); "
      "peer: samlify 2.13.1 on Node, one process, no session.")
    p("")
    hdr = (f"{'mode':<7} {'c':>3} {'server':<8} {'rnd':>3} {'req/s':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
           f"{'non-2xx':>7} {'sockerr':>7} {'CPU %':>6} {'req/s/core':>10} {'KiB/resp':>8}")
    p(hdr)
    p("-" * len(hdr))
    for r in rows:
        kib = r["bytes_per_s"] / r["rps"] / 1024 if r.get("bytes_per_s") and r.get("rps") else None
        r["kib_per_response"] = kib
        extra = ""
        lua = r.get("lua") or {}
        if lua.get("starved", "0") != "0":
            extra = f"  STARVED {lua['starved']} (ran out of AuthnRequests)"
        p(f"{r['mode']:<7} {r['c']:>3} {r['server']:<8} {r['round']:>3} {fmt(r['rps'], ',.0f'):>8} "
          f"{fmt(r['p50'], '.2f'):>7} {fmt(r.get('p90'), '.2f'):>7} {fmt(r['p99'], '.2f'):>7} {r['non2xx']:>7} "
          f"{r['errors']:>7} {fmt(r['cpu'], '.0f'):>6} {fmt(r['per_core'], ',.0f'):>10} {fmt(kib, '.1f'):>8}{extra}")
    p("")

    def mean(server, mode, c, key):
        v = [r[key] for r in rows if (r["server"], r["mode"], r["c"]) == (server, mode, c) and r.get(key) is not None]
        return statistics.mean(v) if v else None

    ratios = []
    keys = sorted({(r["mode"], r["c"]) for r in rows}, key=lambda k: (k[0] != "launch", k[1]))
    if any(r["server"] == "ostiary" for r in rows) and any(r["server"] == "peer" for r in rows):
        p("Ostiary / peer (mean over rounds):")
        for mode, c in keys:
            o, q = mean("ostiary", mode, c, "rps"), mean("peer", mode, c, "rps")
            oc, qc = mean("ostiary", mode, c, "per_core"), mean("peer", mode, c, "per_core")
            ratio = o / q if o and q else None
            core_ratio = oc / qc if oc and qc else None
            ratios.append({"mode": mode, "c": c, "ostiary_rps": o, "peer_rps": q, "ratio": ratio,
                           "ostiary_per_core": oc, "peer_per_core": qc, "per_core_ratio": core_ratio})
            p(f"  {mode:<6} c={c:<3} ostiary {fmt(o, ',.0f'):>7} req/s  peer {fmt(q, ',.0f'):>7} req/s  "
              f"ratio {fmt(ratio, '.2f')}x   per core of server CPU: {fmt(oc, ',.0f')} vs {fmt(qc, ',.0f')} "
              f"({fmt(core_ratio, '.2f')}x)")
        p("")
    if checks:
        p("Sample responses (one request each, before the load; signature checked with xmlsec1):")
        for name, c in checks.items():
            p(f"  {name:<16} HTTP {c.get('status')}  page {fmt(c.get('page_bytes'), ',d')} B  SAMLResponse "
              f"{fmt(c.get('samlresponse_b64_bytes'), ',d')} B base64 / {fmt(c.get('response_xml_bytes'), ',d')} B XML  "
              f"{c.get('attributes')} attributes  assertion signed {c.get('assertion_signed')}  "
              f"response signed {c.get('response_signed')}  xmlsec1 {c.get('xmlsec1_verify')}"
              + (f"  PROBLEMS {c['problems']}" if c.get("problems") else ""))
        p("")
    for k in ("ostiary_version", "peer_version", "wrk_version", "node_version", "sp_requests", "note"):
        if k in meta:
            p(f"{k}: {meta[k]}")
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    (run / "summary.txt").write_text(text)
    (run / "summary.json").write_text(json.dumps({"runs": rows, "ratios": ratios, "checks": checks, "meta": meta},
                                                 indent=2) + "\n")
    return 0


# =========================================================================== main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("setup")
    a.add_argument("base")
    a.add_argument("bootstrap")
    a.add_argument("ca")
    a.add_argument("--sp-entity", required=True)
    a.add_argument("--acs", required=True)
    a.add_argument("--sessions", type=int, default=1)
    a.add_argument("--out-dir", required=True)
    a.set_defaults(fn=cmd_setup)
    a = sub.add_parser("check")
    a.add_argument("url")
    a.add_argument("--name", required=True)
    a.add_argument("--out-dir", required=True)
    a.add_argument("--ca")
    a.add_argument("--cookies")
    a.add_argument("--cert")
    a.add_argument("--acs")
    a.add_argument("--authn-sp-entity")
    a.add_argument("--authn-acs")
    a.set_defaults(fn=cmd_check)
    a = sub.add_parser("claims")
    a.add_argument("xml")
    a.set_defaults(fn=cmd_claims)
    a = sub.add_parser("requests")
    a.add_argument("sso_url")
    a.add_argument("--sp-entity", required=True)
    a.add_argument("--acs", required=True)
    a.add_argument("--count", type=int, required=True)
    a.add_argument("--out", required=True)
    a.set_defaults(fn=cmd_requests)
    a = sub.add_parser("report")
    a.add_argument("run")
    a.set_defaults(fn=cmd_report)
    args = ap.parse_args()
    if getattr(args, "sessions", 1) < 1:
        ap.error("--sessions must be at least 1")
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
