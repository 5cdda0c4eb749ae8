"""Readiness, the bootstrap file, discovery and JWKS (plain HTTP with the dev CA)."""

from __future__ import annotations

import pathlib
import os
import stat

from cryptography import x509

from conftest import BOOTSTRAP_KEYS, Interop


def test_healthz(http, base):
    r = http.get(f"{base}/healthz", timeout=10)
    assert r.status_code == 200


def test_bootstrap_file(bootstrap_path, bootstrap, base):
    assert set(bootstrap) == BOOTSTRAP_KEYS
    mode = stat.S_IMODE(os.stat(bootstrap_path).st_mode)
    assert mode == 0o600, f"bootstrap file mode is {oct(mode)}, expected 0o600"
    assert bootstrap["issuer"] == f"{base}/{bootstrap['tenantId']}/v2.0"
    assert bootstrap["adminUserPrincipalName"].endswith("@" + bootstrap["tenantDomain"])
    ca = x509.load_pem_x509_certificate(pathlib.Path(bootstrap["caCertificate"]).read_bytes())
    dev_ca = bootstrap_path.parent / "dev-ca.pem"
    if dev_ca.exists():
        assert x509.load_pem_x509_certificate(dev_ca.read_bytes()) == ca


def test_discovery_by_tenant_id(ctx: Interop):
    d = ctx.discovery()
    assert d["issuer"] == ctx.issuer
    assert d["token_endpoint"] == f"{ctx.base}/{ctx.tenant_id}/oauth2/v2.0/token"
    assert d["jwks_uri"] == f"{ctx.base}/{ctx.tenant_id}/discovery/v2.0/keys"
    # MSAL reads authorization_endpoint unconditionally (KeyError otherwise).
    assert d["authorization_endpoint"].startswith(f"{ctx.base}/{ctx.tenant_id}/")


def test_jwks_shape(ctx: Interop):
    keys = ctx.jwks()["keys"]
    assert keys, "empty JWKS"
    rsa = [k for k in keys if k.get("kty") == "RSA"]
    assert rsa, f"no RSA key in JWKS: {keys}"
    for k in rsa:
        assert k.get("kid") and k.get("n") and k.get("e") == "AQAB"
        assert "d" not in k and "p" not in k, "private key material in the JWKS"
