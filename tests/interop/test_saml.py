"""SAML 2.0: Ostiary's IdP against three real, unchanged SP libraries, through headless Chromium.

SPs (saml_support.py): pysaml2 (xmlsec1), python3-saml (strict, python xmlsec), samlify (Node,
browser/saml-sp.mjs), each a small web app on http://localhost:PORT configured from Ostiary's IdP
metadata, registered in Ostiary with importSamlMetadata of its own metadata. The browser
(browser/saml-login.mjs) opens the SP's /login, signs in on Ostiary's page and stops at the SP's
ACS page, which shows the SP library's verdict.

Plain-HTTP checks (requests, no browser) cover what a browser would never send: hand-made
AuthnRequests (unregistered ACS, unknown issuer, stale, replayed, XXE, entity expansion, deflate
bomb, oversized), signature-wrapping variants of a signed POST-binding AuthnRequest sent with a
live SSO session, tampered assertions fed to each SP library, and xmlsec1 verifying a response.
"""

from __future__ import annotations

import base64
import dataclasses
import pathlib
import re
import secrets
import time
from typing import Any, Iterator

import pytest
import requests
from lxml import etree

from conftest import HTTP_TIMEOUT, Browser, Interop, Loopback
from saml_support import (
    BINDING_POST,
    BINDING_REDIRECT,
    CLAIMS,
    EXC_C14N,
    MS_CLAIMS,
    NAMEID_EMAIL,
    NS,
    RSA_SHA256,
    SHA256,
    SP_CLASSES,
    SP_KINDS,
    IdpInfo,
    KeyPair,
    SamlAdmin,
    SamlApp,
    SamlBrowser,
    SamlUser,
    _xml_facts,
    assert_refused,
    authn_request,
    create_saml_user,
    deflate_b64,
    instant,
    make_key_pair,
    new_id,
    post_fields,
    post_reading_early_response,
    redirect_url,
    require_signxml,
    require_sp_library,
    response_xml,
    saml_form,
    sign_request,
    xmlsec1_verify,
)

BROWSER_TIMEOUT = pytest.mark.timeout(240)
HTTP_ONLY_TIMEOUT = pytest.mark.timeout(90)
SIGNING_OPTIONS = ("TokenOnly", "ResponseAndToken")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def admin(ctx: Interop, graph) -> Iterator[SamlAdmin]:
    a = SamlAdmin(graph, ctx.base, ctx.tenant_id)
    try:
        yield a
    finally:
        a.delete_created()


@pytest.fixture(scope="module")
def saml_user(ctx: Interop, graph) -> SamlUser:
    return create_saml_user(graph, ctx.tenant_domain, "samlalice")


@pytest.fixture(scope="module")
def saml_browser(ctx: Interop, tmp_path_factory: pytest.TempPathFactory) -> SamlBrowser:
    return SamlBrowser(
        Browser(ctx.ca, tmp_path_factory.mktemp("saml-browser")), ctx.base, tmp_path_factory.mktemp("saml-shots")
    )


@dataclasses.dataclass
class Bed:
    """One SP library instance registered as one Ostiary application."""

    kind: str
    sp: Any
    app: SamlApp
    idp: IdpInfo
    signing: str


class Beds:
    def __init__(self, admin: SamlAdmin, workdir: pathlib.Path) -> None:
        self.admin = admin
        self.workdir = workdir
        self.servers: list[Any] = []
        self.captured: dict[tuple[str, str], tuple[Bed, dict[str, Any]]] = {}

    def make(
        self,
        kind: str,
        assign: list[SamlUser],
        *,
        signing: str = "TokenOnly",
        signed_requests: bool = False,
        allow_unsolicited: bool = False,
        relay_state: str | None = None,
    ) -> Bed:
        require_sp_library(kind)
        sp = SP_CLASSES[kind](self.workdir / f"{kind}-{secrets.token_hex(3)}")
        self.servers.append(sp)
        app = self.admin.create_app(kind)
        idp = self.admin.metadata(app)
        response_signed = signing != "TokenOnly"
        if kind == "pysaml2":
            sp.configure(
                idp,
                want_response_signed=response_signed,
                authn_requests_signed=signed_requests,
                allow_unsolicited=allow_unsolicited,
            )
        elif kind == "python3-saml":
            sp.configure(idp, want_messages_signed=response_signed, authn_requests_signed=signed_requests)
        else:
            assert not signed_requests, "the samlify SP sends unsigned requests"
            sp.configure(idp, want_message_signed=response_signed)
        self.admin.import_metadata(app, sp.metadata_xml())
        assert app.entity_id == sp.entity_id, f"importSamlMetadata: entity ID {app.entity_id} != {sp.entity_id}"
        settings: dict[str, Any] = {"signingOption": signing}
        if relay_state is not None:
            settings["relayState"] = relay_state
        self.admin.patch(app, assignment_required=True, **settings)
        for user in assign:
            self.admin.assign(app, user)
        return Bed(kind, sp, app, idp, signing)

    def close(self) -> None:
        for sp in self.servers:
            try:
                sp.close()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass


@pytest.fixture(scope="module")
def beds(admin: SamlAdmin, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Beds]:
    b = Beds(admin, tmp_path_factory.mktemp("saml-sps"))
    try:
        yield b
    finally:
        b.close()


def sign_in(
    saml_browser: SamlBrowser, bed: Bed, user: SamlUser, relay: str, binding: str = "redirect"
) -> dict[str, Any]:
    """One SP-initiated sign-in in a fresh browser; returns the SP's verdict (with the request sent)."""
    before = len(bed.sp.issued)
    out = saml_browser.run([{"url": bed.sp.login_url(relay, binding), "until": bed.sp.acs}], user)
    rnd = out["rounds"][0]
    assert rnd["signInShown"], f"no sign-in page in a fresh browser: {rnd['steps']}"
    result = rnd["result"]
    issued = bed.sp.issued[before:]
    assert len(issued) == 1, issued
    result["_issued"] = issued[0]
    result["_seconds"] = out["seconds"]
    return result


def expected_attributes(ctx: Interop, user: SamlUser) -> dict[str, list[str]]:
    return {
        f"{CLAIMS}/name": [user.upn],
        f"{CLAIMS}/emailaddress": [user.mail],
        f"{CLAIMS}/givenname": [user.given_name],
        f"{CLAIMS}/surname": [user.surname],
        f"{MS_CLAIMS}/objectidentifier": [user.id],
        f"{MS_CLAIMS}/tenantid": [ctx.tenant_id],
        f"{MS_CLAIMS}/displayname": [user.display_name],
    }


def check_accepted(
    ctx: Interop, bed: Bed, result: dict[str, Any], user: SamlUser, *, relay: str | None, request_id: str | None
) -> dict[str, Any]:
    """The SP accepted the response and saw what Ostiary should have said; returns XML facts."""
    assert result.get("ok"), f"{bed.kind} rejected the response: {result.get('error')}"
    assert result["nameId"] == user.upn, result
    assert result["audience"] == [bed.sp.entity_id], result
    assert result["inResponseTo"] == request_id, result
    assert result["relayState"] == relay, result
    assert result["issuer"] == bed.idp.entity_id == f"{ctx.base}/{ctx.tenant_id}/", result
    attrs = result["attributes"]
    for name, values in expected_attributes(ctx, user).items():
        assert attrs.get(name) == values, f"attribute {name}: {attrs.get(name)!r} != {values!r} (all: {attrs})"
    facts = _xml_facts(response_xml(result["samlResponse"]))
    assert facts["destination"] == bed.sp.acs, facts
    assert facts["recipient"] == bed.sp.acs, facts
    assert facts["confirmationInResponseTo"] == request_id, facts
    assert facts["authnStatements"] == 1, facts
    assert facts["signatureMethods"] == [RSA_SHA256], facts
    assert facts["c14nMethods"] == [EXC_C14N], facts
    assert facts["digestMethods"] == [SHA256], facts
    return facts


# --------------------------------------------------------------------------- IdP metadata


@HTTP_ONLY_TIMEOUT
def test_idp_metadata(ctx, admin):
    """The federation metadata names the tenant's entity ID, the SSO and SLO endpoints (Redirect
    and POST) and the app's token-signing certificate; an unknown app is a 404."""
    app = admin.create_app("metadata")
    idp = admin.metadata(app)
    endpoint = f"{ctx.base}/{ctx.tenant_id}/saml2"
    assert idp.entity_id == f"{ctx.base}/{ctx.tenant_id}/", idp.entity_id
    assert idp.sso == {BINDING_REDIRECT: endpoint, BINDING_POST: endpoint}, idp.sso
    assert idp.slo.get(BINDING_REDIRECT) == endpoint, idp.slo
    assert idp.cert_b64 == "".join(app.signing_cert_b64.split()), "metadata certificate is not the app's"
    assert idp.want_authn_requests_signed is False
    url = f"{ctx.base}/{ctx.tenant_id}/federationmetadata/2007-06/federationmetadata.xml"
    r = ctx.http.get(url, params={"appid": "00000000-0000-0000-0000-00000000beef"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 404, f"{r.status_code}: {r.text[:500]}"


# --------------------------------------------------------------------------- SP-initiated SSO


def capture(ctx, beds: Beds, saml_browser, saml_user, kind: str, signing: str) -> tuple[Bed, dict[str, Any]]:
    """An accepted SP-initiated sign-in for (kind, signing), done once per module."""
    key = (kind, signing)
    if key not in beds.captured:
        bed = beds.make(kind, [saml_user], signing=signing)
        relay = f"rs-{kind}-{secrets.token_hex(4)}"
        result = sign_in(saml_browser, bed, saml_user, relay)
        facts = check_accepted(ctx, bed, result, saml_user, relay=relay, request_id=result["_issued"]["id"])
        result["_facts"] = facts
        beds.captured[key] = (bed, result)
    return beds.captured[key]


@BROWSER_TIMEOUT
@pytest.mark.parametrize("signing", SIGNING_OPTIONS)
@pytest.mark.parametrize("kind", SP_KINDS)
def test_sp_initiated_sso_redirect(ctx, beds, saml_browser, saml_user, kind, signing):
    bed, result = capture(ctx, beds, saml_browser, saml_user, kind, signing)
    facts = result["_facts"]
    assert result["_issued"]["binding"] == "redirect"
    assert facts["assertionSigned"], facts
    assert facts["responseSigned"] == (signing == "ResponseAndToken"), facts
    if kind in ("pysaml2", "python3-saml"):
        assert result["nameIdFormat"] == NAMEID_EMAIL, result
    assert bed.sp.results()[-1]["ok"]


@BROWSER_TIMEOUT
def test_post_binding_authn_request(ctx, beds, saml_browser, saml_user):
    """pysaml2 sends the AuthnRequest as an auto-submitting HTML form (HTTP-POST binding)."""
    bed = beds.make("pysaml2", [saml_user])
    relay = f"rs-post-{secrets.token_hex(4)}"
    result = sign_in(saml_browser, bed, saml_user, relay, binding="post")
    assert result["_issued"]["binding"] == "post"
    assert f'action="{bed.idp.sso[BINDING_POST]}"' in result["_issued"]["html"]
    check_accepted(ctx, bed, result, saml_user, relay=relay, request_id=result["_issued"]["id"])


@BROWSER_TIMEOUT
@pytest.mark.parametrize("kind", ["pysaml2", "python3-saml"])
def test_signed_authn_requests(ctx, admin, beds, saml_browser, saml_user, kind):
    """AuthnRequestsSigned in the SP metadata makes importSamlMetadata require signed requests:
    the SP's signed Redirect-binding request works, an unsigned one (or one whose signed query was
    altered) is refused with an error page."""
    bed = beds.make(kind, [saml_user], signed_requests=True)
    sp_obj = admin.service_principal(bed.app)
    settings = sp_obj.get("samlSingleSignOnSettings") or {}
    assert settings.get("requireSignedRequests") is True, sp_obj
    certs = ["".join(c.split()) for c in settings.get("requestSigningCertificates") or []]
    assert bed.sp.keys.cert_b64 in certs, f"the SP's signing certificate was not imported: {settings}"
    assert admin.metadata(bed.app).want_authn_requests_signed, "IdP metadata should say WantAuthnRequestsSigned"

    relay = f"rs-signed-{secrets.token_hex(4)}"
    result = sign_in(saml_browser, bed, saml_user, relay)
    sent = result["_issued"]["url"]
    assert "Signature=" in sent and "SigAlg=" in sent, f"{kind} did not sign its request: {sent[:300]}"
    check_accepted(ctx, bed, result, saml_user, relay=relay, request_id=result["_issued"]["id"])

    http = ctx.http
    unsigned = authn_request(bed.app.entity_id, admin.endpoint, acs=bed.sp.acs)
    assert_refused(http.get(redirect_url(admin.endpoint, unsigned, "rs"), timeout=HTTP_TIMEOUT), "AADSTS76021")
    assert_refused(http.post(admin.endpoint, data=post_fields(unsigned, "rs"), timeout=HTTP_TIMEOUT), "AADSTS76021")

    # A fresh signed request (not sent by the browser): intact it reaches the sign-in page; with
    # the signed RelayState changed it is refused.
    r = requests.get(bed.sp.login_url("rs-fresh"), allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert r.status_code == 302, r.text
    location = r.headers["Location"]
    assert "RelayState=rs-fresh" in location, location
    altered = http.get(location.replace("RelayState=rs-fresh", "RelayState=rs-evil"), timeout=HTTP_TIMEOUT)
    assert_refused(altered, "AADSTS75016")
    ok = http.get(location, timeout=HTTP_TIMEOUT)
    assert ok.status_code == 200 and 'name="password"' in ok.text, (
        f"signed request refused: {ok.status_code} {ok.text[:1000]}"
    )


@BROWSER_TIMEOUT
def test_idp_initiated_sso(ctx, admin, beds, saml_browser, saml_user):
    """/saml2/launch/{appId} signs in and posts an unsolicited response (no InResponseTo) with the
    configured relay state to pysaml2 (allow_unsolicited)."""
    relay = f"https://app.example/landing-{secrets.token_hex(3)}"
    bed = beds.make("pysaml2", [saml_user], allow_unsolicited=True, relay_state=relay)
    out = saml_browser.run([{"url": bed.app.launch_url(ctx.base, ctx.tenant_id), "until": bed.sp.acs}], saml_user)
    rnd = out["rounds"][0]
    assert rnd["signInShown"], rnd
    result = rnd["result"]
    check_accepted(ctx, bed, result, saml_user, relay=relay, request_id=None)


@BROWSER_TIMEOUT
def test_sso_session_across_sps(ctx, beds, saml_browser, saml_user):
    """After signing in to one SP, the other two sign in within the same browser without a password."""
    order = ["pysaml2", "python3-saml", "samlify"]
    bs = [beds.make(kind, [saml_user]) for kind in order]
    rounds = [{"url": b.sp.login_url(f"rs-{b.kind}"), "until": b.sp.acs} for b in bs]
    out = saml_browser.run(rounds, saml_user)
    shown = [r["signInShown"] for r in out["rounds"]]
    assert shown == [True, False, False], f"sign-in pages per SP {order}: {shown}"
    for b, rnd in zip(bs, out["rounds"], strict=True):
        check_accepted(ctx, b, rnd["result"], saml_user, relay=f"rs-{b.kind}", request_id=b.sp.issued[-1]["id"])


@BROWSER_TIMEOUT
def test_single_logout(ctx, beds, saml_browser, saml_user):
    """pysaml2 global_logout (HTTP-Redirect): Ostiary ends the session and answers a LogoutResponse
    pysaml2 accepts; the next sign-in asks for the password again."""
    bed = beds.make("pysaml2", [saml_user])
    rounds = [
        {"url": bed.sp.login_url("rs-1"), "until": bed.sp.acs},
        {"url": f"{bed.sp.base}/logout", "until": bed.sp.slo},
        {"url": bed.sp.login_url("rs-2"), "until": bed.sp.acs},
    ]
    out = saml_browser.run(rounds, saml_user)
    first, logout, again = out["rounds"]
    assert first["signInShown"] and first["result"]["ok"], first
    res = logout["result"]
    assert res.get("ok"), f"pysaml2 did not accept the LogoutResponse: {res}"
    assert res["issuer"] == bed.idp.entity_id, res
    assert res["signedRedirect"], "the LogoutResponse should carry a Redirect-binding signature"
    assert res["loggedIn"] is False, res
    logout_sent = [i for i in bed.sp.issued if i.get("logout")]
    assert logout_sent and "SAMLRequest=" in logout_sent[-1]["url"], bed.sp.issued
    assert again["signInShown"], f"after single logout the sign-in page should show again: {again['steps']}"
    assert again["result"]["ok"], again


@BROWSER_TIMEOUT
def test_single_logout_front_channel(ctx, beds, saml_browser, saml_user):
    """Two pysaml2 SPs in one SSO session: logging out of the first makes Ostiary's sign-out page
    send the second a signed LogoutRequest (front channel, HTTP-Redirect) that pysaml2 verifies
    and answers; the first gets its LogoutResponse."""
    a = beds.make("pysaml2", [saml_user])
    b = beds.make("pysaml2", [saml_user])
    out = saml_browser.run(
        [
            {"url": a.sp.login_url("rs-a"), "until": a.sp.acs},
            {"url": b.sp.login_url("rs-b"), "until": b.sp.acs},
            {"url": f"{a.sp.base}/logout", "until": a.sp.slo, "followContinue": False},
        ],
        saml_user,
    )
    assert [r["signInShown"] for r in out["rounds"]] == [True, False, False], out["rounds"]
    assert out["rounds"][2]["result"]["ok"], out["rounds"][2]["result"]
    deadline = time.monotonic() + 10
    got: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not got:
        got = [r for r in b.sp.results() if r.get("logoutRequest")]
        time.sleep(0.2)
    assert got, f"no LogoutRequest reached the second SP: {b.sp.results()}"
    req = got[0]
    assert req["ok"], req
    assert req["signedRedirect"], req
    assert req["nameId"] == saml_user.upn and req["issuer"] == b.idp.entity_id, req
    assert req["loggedIn"] is False, req


@BROWSER_TIMEOUT
def test_sso_session_post_binding_request(ctx, beds, saml_browser, saml_user):
    """After a sign-in to one SP, a second SP sending its AuthnRequest with HTTP-POST (a cross-site
    form post from http://localhost) should be signed in from the SSO session as well."""
    a = beds.make("pysaml2", [saml_user])
    b = beds.make("pysaml2", [saml_user])
    out = saml_browser.run(
        [
            {"url": a.sp.login_url("rs-a"), "until": a.sp.acs},
            {"url": b.sp.login_url("rs-b", "post"), "until": b.sp.acs},
        ],
        saml_user,
    )
    assert out["rounds"][1]["result"]["ok"], out["rounds"][1]
    assert [r["signInShown"] for r in out["rounds"]] == [True, False], out["rounds"][1]["navigations"]


@BROWSER_TIMEOUT
def test_assignment_required(ctx, graph, beds, saml_browser, saml_user):
    """appRoleAssignmentRequired: an unassigned user ends on Ostiary's AADSTS50105 page and no
    response reaches the ACS."""
    other = create_saml_user(graph, ctx.tenant_domain, "samlbob")
    bed = beds.make("pysaml2", [saml_user])  # only alice is assigned
    out = saml_browser.run(
        [{"url": bed.sp.login_url("rs-x"), "until": bed.sp.acs, "expectError": "AADSTS50105"}], other
    )
    rnd = out["rounds"][0]
    assert rnd["error"]["code"] == "AADSTS50105", rnd
    assert not rnd["acsReached"], rnd["navigations"]
    assert bed.sp.results() == [], bed.sp.results()


@BROWSER_TIMEOUT
def test_claims_policy(ctx, admin, beds, saml_browser, saml_user):
    """claimsPolicy: NameID from `mail`, a constant custom claim, seen by python3-saml."""
    bed = beds.make("python3-saml", [saml_user])
    admin.claims_policy(
        bed.app,
        {
            "claims": [
                {
                    "@odata.type": "#microsoft.graph.samlNameIdClaim",
                    "nameIdFormat": "emailAddress",
                    "configurations": [{"attribute": {"source": "user", "id": "mail"}}],
                },
                {
                    "@odata.type": "#microsoft.graph.customClaim",
                    "name": "department",
                    "namespace": "http://schemas.interop.example/claims",
                    "configurations": [{"attribute": {"source": "constant", "id": "Interop QA"}}],
                },
            ]
        },
    )
    result = sign_in(saml_browser, bed, saml_user, "rs-claims")
    assert result.get("ok"), result
    assert result["nameId"] == saml_user.mail, result
    assert result["attributes"].get("http://schemas.interop.example/claims/department") == ["Interop QA"], result[
        "attributes"
    ]


# --------------------------------------------------------------------------- signatures: SPs and xmlsec1


def tamper_name_id(b64: str, new_value: str) -> str:
    xml = response_xml(b64).decode()
    tampered, n = re.subn(
        r"(<(?:saml2?:)?NameID\b[^>]*>)([^<]+)(</)", lambda m: m.group(1) + new_value + m.group(3), xml
    )
    assert n == 1, f"expected one NameID, found {n}"
    return base64.b64encode(tampered.encode()).decode()


@BROWSER_TIMEOUT
@pytest.mark.parametrize("signing", SIGNING_OPTIONS)
@pytest.mark.parametrize("kind", SP_KINDS)
def test_tampered_assertion_rejected(ctx, beds, saml_browser, saml_user, kind, signing):
    """A captured response verifies in the SP library; with the NameID changed it is rejected."""
    bed, result = capture(ctx, beds, saml_browser, saml_user, kind, signing)
    b64, rid = result["samlResponse"], result["inResponseTo"]
    control = bed.sp.parse(b64, rid, result["relayState"])
    assert control.get("ok"), f"{kind} no longer accepts the captured response: {control}"
    evil = tamper_name_id(b64, "mallory@evil.example")
    verdict = bed.sp.parse(evil, rid, result["relayState"])
    assert not verdict.get("ok"), f"{kind} accepted a tampered assertion: {verdict}"
    assert re.search(r"signature|digest|verif", verdict.get("error", ""), re.I), verdict


@BROWSER_TIMEOUT
@pytest.mark.parametrize("signing", SIGNING_OPTIONS)
def test_xmlsec1_verifies_response(ctx, beds, saml_browser, saml_user, tmp_path, signing):
    """xmlsec1, given only the certificate from the IdP metadata, verifies the captured response
    (the outermost signature: the Response's for ResponseAndToken, else the Assertion's), and the
    assertion signature alone; a tampered copy fails."""
    bed, result = capture(ctx, beds, saml_browser, saml_user, "pysaml2", signing)
    xml = response_xml(result["samlResponse"])
    ids = ("urn:oasis:names:tc:SAML:2.0:protocol:Response", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion")
    ok = xmlsec1_verify(xml, bed.idp.cert_pem, tmp_path, ids)
    assert ok.returncode == 0, f"xmlsec1 --verify failed:\n{ok.stdout}\n{ok.stderr}"
    assert "OK" in ok.stdout + ok.stderr

    root = etree.fromstring(xml)
    assertion = root.find("saml:Assertion", NS)
    alone = etree.tostring(assertion)
    only = xmlsec1_verify(alone, bed.idp.cert_pem, tmp_path, ids[1:])
    assert only.returncode == 0, f"xmlsec1 --verify of the Assertion failed:\n{only.stdout}\n{only.stderr}"

    bad = xmlsec1_verify(
        response_xml(tamper_name_id(result["samlResponse"], "x@evil.example")), bed.idp.cert_pem, tmp_path, ids
    )
    assert bad.returncode != 0, "xmlsec1 verified a tampered response"


# --------------------------------------------------------------------------- plain-HTTP request checks


@dataclasses.dataclass
class RawSp:
    """An application registered from hand-written SP metadata (no SP library behind it)."""

    app: SamlApp
    entity_id: str
    acs: list[str]
    keys: KeyPair


def raw_metadata(entity_id: str, acs: list[str], keys: KeyPair, signed: bool) -> str:
    default = ' isDefault="true"'
    endpoints = "".join(
        f'<md:AssertionConsumerService Binding="{BINDING_POST}" Location="{u}" index="{i}"{default if i == 0 else ""}/>'
        for i, u in enumerate(acs)
    )
    return (
        f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">'
        f'<md:SPSSODescriptor AuthnRequestsSigned="{str(signed).lower()}" WantAssertionsSigned="true" '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data>'
        f"<ds:X509Certificate>{keys.cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        f"<md:NameIDFormat>{NAMEID_EMAIL}</md:NameIDFormat>{endpoints}"
        "</md:SPSSODescriptor></md:EntityDescriptor>"
    )


def make_raw_sp(admin: SamlAdmin, workdir: pathlib.Path, acs: list[str], signed: bool) -> RawSp:
    entity_id = f"urn:interop:saml:raw-{secrets.token_hex(4)}"
    keys = make_key_pair(workdir, f"raw-{secrets.token_hex(3)}")
    app = admin.create_app("raw")
    admin.import_metadata(app, raw_metadata(entity_id, acs, keys, signed))
    assert app.entity_id == entity_id
    return RawSp(app, entity_id, acs, keys)


@pytest.fixture(scope="module")
def raw_sp(admin, tmp_path_factory) -> RawSp:
    acs = ["http://localhost:9/acs", "http://localhost:9/acs2"]  # never posted to: these tests stop at Ostiary
    return make_raw_sp(admin, tmp_path_factory.mktemp("raw-sp"), acs, signed=False)


def is_sign_in_page(r: requests.Response) -> bool:
    return r.status_code == 200 and 'name="password"' in r.text


@HTTP_ONLY_TIMEOUT
def test_valid_hand_made_request(ctx, admin, raw_sp):
    """The baseline for the checks below: a hand-made request reaches the sign-in page, by
    Redirect and by POST, by ACS URL and by ACS index."""
    http = ctx.http
    for acs in raw_sp.acs:
        xml = authn_request(raw_sp.entity_id, admin.endpoint, acs=acs)
        r = http.get(redirect_url(admin.endpoint, xml, "rs"), timeout=HTTP_TIMEOUT)
        assert is_sign_in_page(r), f"{r.status_code}: {r.text[:1500]}"
    r = http.post(
        admin.endpoint, data=post_fields(authn_request(raw_sp.entity_id, admin.endpoint), "rs"), timeout=HTTP_TIMEOUT
    )
    assert is_sign_in_page(r), f"{r.status_code}: {r.text[:1500]}"


REQUEST_CASES = {
    "unregistered ACS URL": (dict(acs="http://localhost:9/evil"), "AADSTS50011"),
    "unknown issuer (wrong audience)": (dict(issuer="urn:interop:saml:nobody"), "AADSTS700016"),
    "expired (IssueInstant 1 hour old)": (dict(issue_instant=instant(-3600)), "AADSTS75005"),
    "IssueInstant 1 hour ahead": (dict(issue_instant=instant(3600)), "AADSTS75005"),
    "Destination of another IdP": (dict(destination="https://login.microsoftonline.com/common/saml2"), "AADSTS75005"),
}


@HTTP_ONLY_TIMEOUT
@pytest.mark.parametrize("binding", ["redirect", "post"])
@pytest.mark.parametrize("case", list(REQUEST_CASES))
def test_request_refused(ctx, admin, raw_sp, case, binding):
    overrides, code = REQUEST_CASES[case]
    kw = dict(acs=raw_sp.acs[0])
    kw.update({k: v for k, v in overrides.items() if k not in ("issuer", "destination")})
    xml = authn_request(overrides.get("issuer", raw_sp.entity_id), overrides.get("destination", admin.endpoint), **kw)
    if binding == "redirect":
        r = ctx.http.get(redirect_url(admin.endpoint, xml, "rs"), timeout=HTTP_TIMEOUT)
    else:
        r = ctx.http.post(admin.endpoint, data=post_fields(xml, "rs"), timeout=HTTP_TIMEOUT)
    assert_refused(r, code)


@HTTP_ONLY_TIMEOUT
@pytest.mark.parametrize("binding", ["redirect", "post"])
def test_replayed_request(ctx, admin, raw_sp, binding):
    xml = authn_request(raw_sp.entity_id, admin.endpoint, acs=raw_sp.acs[0], req_id=new_id())

    def send() -> requests.Response:
        if binding == "redirect":
            return ctx.http.get(redirect_url(admin.endpoint, xml, "rs"), timeout=HTTP_TIMEOUT)
        return ctx.http.post(admin.endpoint, data=post_fields(xml, "rs"), timeout=HTTP_TIMEOUT)

    first = send()
    assert is_sign_in_page(first), f"{first.status_code}: {first.text[:1500]}"
    assert_refused(send(), "AADSTS75005")


XML_ATTACKS = {
    "XXE file": (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        "&xxe;",
    ),
    "XXE parameter entity": (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % ext SYSTEM "file:///etc/passwd"> %ext;]>',
        "",
    ),
    "billion laughs": (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
        + "]>",
        "&j;",
    ),
    "external DTD": ('<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">', ""),
}


@HTTP_ONLY_TIMEOUT
@pytest.mark.parametrize("binding", ["redirect", "post"])
@pytest.mark.parametrize("attack", list(XML_ATTACKS))
def test_xml_attacks_refused(ctx, admin, raw_sp, attack, binding):
    prolog, issuer_suffix = XML_ATTACKS[attack]
    xml = authn_request(raw_sp.entity_id + issuer_suffix, admin.endpoint, acs=raw_sp.acs[0], prolog=prolog)
    started = time.monotonic()
    if binding == "redirect":
        r = ctx.http.get(redirect_url(admin.endpoint, xml, "rs"), timeout=HTTP_TIMEOUT)
    else:
        r = ctx.http.post(admin.endpoint, data=post_fields(xml, "rs"), timeout=HTTP_TIMEOUT)
    elapsed = time.monotonic() - started
    assert_refused(r, "AADSTS75005")
    assert re.search(r"(entity declarations|DTDs) are not allowed", r.text), r.text[:1500]
    assert "root:" not in r.text and "aaaaaaaaaaaaaaaaaaaa" not in r.text, r.text[:2000]
    assert elapsed < 5, f"{attack}: {elapsed:.1f} s"
    assert ctx.http.get(f"{ctx.base}/healthz", timeout=HTTP_TIMEOUT).status_code == 200


@HTTP_ONLY_TIMEOUT
@pytest.mark.parametrize(
    "bomb",
    ["60 MiB of zeros", "40 MiB of zeros (under the 64 KiB query limit)", "40 MiB comment in a valid request"],
)
def test_deflate_bomb_refused(ctx, admin, raw_sp, bomb):
    """DEFLATE bombs on the Redirect binding are refused fast. 60 MiB of zeros deflate to a query
    of about 80 KiB, past the server's URI limit (HTTP 414 before any decoding, or 400); the
    40 MiB ones fit in the query limit, so the bounded inflater itself must stop them (400)."""
    if bomb.startswith("60"):
        data = b"\0" * (60 * 1024 * 1024)
    elif "zeros" in bomb:
        data = b"\0" * (40 * 1024 * 1024)
    else:
        head = authn_request(raw_sp.entity_id, admin.endpoint, acs=raw_sp.acs[0]).encode()
        data = head[: -len(b"</samlp:AuthnRequest>")] + b"<!--" + b"0" * (40 * 1024 * 1024) + b"-->"
    query = requests.utils.quote(deflate_b64(data), safe="")
    started = time.monotonic()
    r = ctx.http.get(f"{admin.endpoint}?SAMLRequest={query}&RelayState=rs", timeout=HTTP_TIMEOUT)
    elapsed = time.monotonic() - started
    if bomb.startswith("60"):
        assert r.status_code in (400, 414), f"{r.status_code}: {r.text[:1000]}"
        assert saml_form(r.text) is None
    else:
        assert len(query) < 64 * 1024, len(query)
        assert_refused(r, "AADSTS75005")
    assert elapsed < 3, f"{bomb}: refused only after {elapsed:.1f} s"
    assert ctx.http.get(f"{ctx.base}/healthz", timeout=HTTP_TIMEOUT).status_code == 200


@HTTP_ONLY_TIMEOUT
@pytest.mark.parametrize("size_kib", [300, 1024])
def test_oversized_post_request_refused(ctx, admin, raw_sp, size_kib):
    """A POST-binding SAMLRequest past the message limit (256 KiB of XML: 400) or the form limit
    (1 MiB: 413) is refused with an error page, not parsed. The client reads the server's early
    answer (see post_reading_early_response)."""
    pad = "<x>" + "A" * (size_kib * 1024) + "</x>"
    xml = authn_request(raw_sp.entity_id, admin.endpoint, acs=raw_sp.acs[0], extensions=pad)
    started = time.monotonic()
    status, body, _ = post_reading_early_response(admin.endpoint, post_fields(xml, "rs"), ctx.ca)
    assert status in (400, 413), f"{status}: {body[:1000]}"
    assert saml_form(body) is None
    if status == 400:
        assert "AADSTS" in body, body[:1000]
    assert time.monotonic() - started < 5


@HTTP_ONLY_TIMEOUT
def test_oversized_redirect_request_refused(ctx, admin, raw_sp):
    """A Redirect-binding request padded with 256 KiB of random hex (its query stays above 64 KiB
    after compression) is refused before it is inflated and parsed."""
    pad = "<x>" + secrets.token_hex(128 * 1024) + "</x>"
    xml = authn_request(raw_sp.entity_id, admin.endpoint, acs=raw_sp.acs[0], extensions=pad)
    r = ctx.http.get(redirect_url(admin.endpoint, xml, "rs"), timeout=HTTP_TIMEOUT)
    assert r.status_code in (400, 414), f"{r.status_code}: {r.text[:1000]}"
    assert saml_form(r.text) is None
    if r.status_code == 400:
        assert "AADSTS" in r.text, r.text[:1000]


# --------------------------------------------------------------------------- signature wrapping


@dataclasses.dataclass
class SignedSetup:
    sp: RawSp
    cookies: dict[str, str]
    loopback: Loopback


@pytest.fixture(scope="module")
def signed_setup(ctx, admin, saml_browser, saml_user, tmp_path_factory) -> Iterator[SignedSetup]:
    """An app whose metadata says AuthnRequestsSigned (two ACS on a loopback server, index 0 and
    1), and a live SSO session for the assigned user (IdP-initiated sign-in in the browser)."""
    require_signxml()
    lb = Loopback()
    try:
        raw = make_raw_sp(admin, tmp_path_factory.mktemp("signed-sp"), [lb.uri("/acs"), lb.uri("/acs2")], signed=True)
        admin.patch(raw.app, assignment_required=True)
        admin.assign(raw.app, saml_user)
        out = saml_browser.run(
            [{"url": raw.app.launch_url(ctx.base, ctx.tenant_id), "until": lb.uri("/acs"), "result": False}],
            saml_user,
            cookies=True,
        )
        got = lb.wait("/acs")
        assert got.method == "POST" and "SAMLResponse" in got.form, got
        cookies = {c["name"]: c["value"] for c in out["cookies"]}
        assert any(n.startswith("ostiary_session") for n in cookies), f"no session cookie: {sorted(cookies)}"
        yield SignedSetup(raw, cookies, lb)
    finally:
        lb.close()


def signed(setup: SignedSetup, endpoint: str, acs: str, req_id: str | None = None) -> tuple[str, bytes]:
    rid = req_id or new_id()
    xml = authn_request(setup.sp.entity_id, endpoint, acs=acs, req_id=rid, signature_placeholder=True)
    return rid, sign_request(xml, setup.sp.keys, rid)


def strip_decl(xml: bytes) -> str:
    return re.sub(rb"^<\?xml[^>]*\?>\s*", b"", xml).decode()


def split_signature(xml: bytes) -> tuple[str, str]:
    """(the signed element without its ds:Signature, the ds:Signature) as strings."""
    root = etree.fromstring(xml)
    sig = root.find("ds:Signature", NS)
    sig_text = etree.tostring(sig).decode()
    root.remove(sig)
    return etree.tostring(root).decode(), sig_text


def wrap_variants(setup: SignedSetup, endpoint: str) -> dict[str, bytes]:
    acs1, acs2 = setup.sp.acs
    out: dict[str, bytes] = {}
    # (a) the signed request (ACS 0) inside samlp:Extensions of a new, unsigned root asking for ACS 1
    _, inner = signed(setup, endpoint, acs1)
    out["signed request in Extensions"] = authn_request(
        setup.sp.entity_id, endpoint, acs=acs2, extensions=strip_decl(inner)
    ).encode()
    # (b) the same, the root taking the signed request's ID, and its signature moved to the root
    rid, inner = signed(setup, endpoint, acs1)
    body, sig = split_signature(inner)
    wrapped = authn_request(setup.sp.entity_id, endpoint, acs=acs2, req_id=rid, extensions=body)
    out["duplicate ID"] = wrapped.replace("</saml:Issuer>", "</saml:Issuer>" + sig, 1).encode()
    # (c) the root's signature is valid but its Reference points at another element (the original
    #     request, carried in Extensions under its own ID)
    rid, inner = signed(setup, endpoint, acs1)
    body, sig = split_signature(inner)
    wrapped = authn_request(setup.sp.entity_id, endpoint, acs=acs2, req_id=new_id(), extensions=body)
    out["Reference to another element"] = wrapped.replace("</saml:Issuer>", "</saml:Issuer>" + sig, 1).encode()
    # (d) the ACS changed after signing
    _, good = signed(setup, endpoint, acs1)
    out["ACS changed after signing"] = good.replace(acs1.encode(), acs2.encode())
    # (e) unsigned, (f) signed with a key the app does not know
    out["unsigned"] = authn_request(setup.sp.entity_id, endpoint, acs=acs2).encode()
    stranger = make_key_pair(pathlib.Path(setup.sp.keys.key_path).parent, f"stranger-{secrets.token_hex(3)}")
    rid = new_id()
    xml = authn_request(setup.sp.entity_id, endpoint, acs=acs2, req_id=rid, signature_placeholder=True)
    out["signed by an unknown key"] = sign_request(xml, stranger, rid)
    return out


@HTTP_ONLY_TIMEOUT
def test_signed_post_request_with_session(ctx, admin, signed_setup):
    """The control for the wrapping tests: a correctly signed POST-binding request in the live
    session gets a SAMLResponse form for the ACS it names (by URL, and the second one too)."""
    for acs in signed_setup.sp.acs:
        _, xml = signed(signed_setup, admin.endpoint, acs)
        r = ctx.http.post(
            admin.endpoint, data=post_fields(xml, "rs"), cookies=signed_setup.cookies, timeout=HTTP_TIMEOUT
        )
        form = saml_form(r.text)
        assert r.status_code == 200 and form, f"{r.status_code}: {r.text[:1500]}"
        assert form["action"] == acs, form["action"]
        assert form.get("RelayState") == "rs"


WRAPPING_EXPECTED = {
    # variant: (AADSTS code, what the error page says, does xmlsec1 alone accept the signature?)
    "signed request in Extensions": ("AADSTS76021", "not signed", True),
    "duplicate ID": ("AADSTS75016", "not unique", False),
    "Reference to another element": ("AADSTS75016", "Reference does not point at the signed element", True),
    "ACS changed after signing": ("AADSTS75016", "digest mismatch", False),
    "unsigned": ("AADSTS76021", "not signed", False),
    "signed by an unknown key": ("AADSTS75016", "does not verify with any trusted certificate", False),
}


@HTTP_ONLY_TIMEOUT
@pytest.mark.parametrize("variant", list(WRAPPING_EXPECTED))
def test_signature_wrapping_refused(ctx, admin, signed_setup, variant, tmp_path):
    """Each variant would get a SAMLResponse for ACS 1 in the live session if the server trusted
    it. Two of them carry a signature that is cryptographically valid (xmlsec1 accepts it): only
    the check of what the signature covers refuses them."""
    code, says, xmlsec_fooled = WRAPPING_EXPECTED[variant]
    xml = wrap_variants(signed_setup, admin.endpoint)[variant]
    r = ctx.http.post(admin.endpoint, data=post_fields(xml, "rs"), cookies=signed_setup.cookies, timeout=HTTP_TIMEOUT)
    assert_refused(r, code)
    assert says in r.text.replace("&#39;", "'"), r.text[:1500]
    if xmlsec_fooled:
        v = xmlsec1_verify(
            xml, signed_setup.sp.keys.cert_pem, tmp_path, ("urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest",)
        )
        assert v.returncode == 0, f"the {variant} signature should be valid on its own:\n{v.stderr}"
