"""openid-client v6 (a strict, spec-following OIDC relying party) against Ostiary.

browser/oidc-client.mjs does discovery on the tenant issuer, the code flow with PKCE S256 + state +
nonce (the browser signs in), authorizationCodeGrant with ID-token signature checks against
jwks_uri, refreshTokenGrant, fetchUserInfo (sub must match), RP-initiated logout followed in the
same browser to the registered post-logout URI, and a fresh /authorize that must ask to sign in.
"""

from __future__ import annotations

import jwt

from conftest import Browser, Directory, Interop, User, free_port, run_oidc_client


def test_openid_client_code_flow_refresh_userinfo_logout(
    ctx: Interop, directory: Directory, user: User, browser: Browser, tmp_path
):
    port = free_port()
    redirect = f"http://localhost:{port}/cb"
    post_logout = f"http://localhost:{port}/signed-out"
    client = directory.create_app("openid-client RP", web=[redirect, post_logout], secret=True)
    assert client.secret
    out = run_oidc_client(browser, ctx.issuer, client.app_id, client.secret, user, port, str(tmp_path))

    d = out["discovery"]
    assert d["issuer"] == ctx.issuer
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "end_session_endpoint", "jwks_uri"):
        assert d[key].startswith(f"{ctx.base}/"), (key, d[key])

    assert {"code", "state"} <= set(out["authorizationResponseKeys"]), out["authorizationResponseKeys"]

    tokens = out["tokens"]
    assert tokens["token_type"] == "bearer" and tokens["has_refresh_token"], tokens
    claims = tokens["id_token_claims"]
    expected = {
        "iss": ctx.issuer,
        "aud": client.app_id,
        "tid": ctx.tenant_id,
        "oid": user.id,
        "preferred_username": user.upn,
        "name": user.display_name,
        "ver": "2.0",
    }
    assert {k: claims.get(k) for k in expected} == expected, claims
    assert claims.get("nonce") and claims.get("sub") and isinstance(claims.get("auth_time"), int), claims
    # Independently of openid-client: the same ID token verifies with PyJWT against the JWKS.
    assert ctx.verify(tokens["id_token"], audience=client.app_id)["sub"] == claims["sub"]
    assert jwt.get_unverified_header(tokens["id_token"])["alg"] == "RS256"

    assert out["userinfo"]["sub"] == claims["sub"], out["userinfo"]
    assert out["userinfo"].get("name") == user.display_name, out["userinfo"]
    assert out["refresh"]["access_token_changed"], out["refresh"]
    assert out["userinfoAfterRefresh"]["sub"] == claims["sub"]
    refreshed_id = out["refresh"].get("id_token_claims")
    if refreshed_id is not None:
        assert refreshed_id["sub"] == claims["sub"] and refreshed_id["aud"] == client.app_id, refreshed_id

    assert out["endSessionUrl"].startswith(d["end_session_endpoint"])
    assert out["logout"]["url"].startswith(post_logout), out["logout"]
    assert out["afterLogout"]["signInShown"] and not out["afterLogout"]["redirectedWithoutSignIn"], out["afterLogout"]
