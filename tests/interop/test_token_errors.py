"""Entra-shaped token endpoint errors, with plain requests (MSAL caches 400s for 60 s, see R10)."""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from conftest import Interop, post_token

ERROR_FIELDS = ("error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$")


def assert_entra_error(r: requests.Response, status: int, error: str, code: int) -> dict:
    assert r.status_code == status, f"HTTP {r.status_code}: {r.text}"
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    missing = [f for f in ERROR_FIELDS if f not in body]
    assert not missing, f"error response lacks {missing}: {body}"
    assert body["error"] == error, body
    assert body["error_description"].startswith(f"AADSTS{code}: "), body["error_description"]
    assert isinstance(body["error_codes"], list) and code in body["error_codes"], body
    assert TIMESTAMP.match(body["timestamp"]), body["timestamp"]
    uuid.UUID(body["trace_id"])
    uuid.UUID(body["correlation_id"])
    assert f"Trace ID: {body['trace_id']}" in body["error_description"]
    assert f"Correlation ID: {body['correlation_id']}" in body["error_description"]
    return body


def form(ctx: Interop, **overrides: str) -> dict[str, str]:
    data = {
        "grant_type": "client_credentials",
        "client_id": ctx.client_app_id,
        "client_secret": ctx.secret,
        "scope": ctx.scope,
    }
    data.update(overrides)
    return data


def test_wrong_secret(ctx: Interop):
    r = post_token(ctx.http, ctx.base, ctx.tenant_id, form(ctx, client_secret=ctx.secret + "x"))
    assert_entra_error(r, 401, "invalid_client", 7000215)


def test_wrong_secret_basic(ctx: Interop):
    data = form(ctx)
    del data["client_id"], data["client_secret"]
    r = post_token(ctx.http, ctx.base, ctx.tenant_id, data, auth=(ctx.client_app_id, "not-the-secret"))
    assert_entra_error(r, 401, "invalid_client", 7000215)


def test_unknown_client(ctx: Interop):
    r = post_token(ctx.http, ctx.base, ctx.tenant_id, form(ctx, client_id=str(uuid.uuid4())))
    assert_entra_error(r, 400, "unauthorized_client", 700016)


@pytest.mark.parametrize("tenant", ["guid", "domain"])
def test_unknown_tenant(ctx: Interop, tenant: str):
    name = str(uuid.uuid4()) if tenant == "guid" else f"nope-{uuid.uuid4().hex[:8]}.example"
    r = post_token(ctx.http, ctx.base, name, form(ctx))
    assert_entra_error(r, 400, "invalid_request", 90002)


def test_scope_without_default_suffix(ctx: Interop):
    """client_credentials needs '<resource>/.default'; a named permission is AADSTS70011."""
    r = post_token(ctx.http, ctx.base, ctx.tenant_id, form(ctx, scope=f"{ctx.identifier_uri}/{ctx.role_value}"))
    assert_entra_error(r, 400, "invalid_scope", 70011)


def test_client_request_id_is_correlation_id(ctx: Interop):
    cid = str(uuid.uuid4())
    r = post_token(
        ctx.http,
        ctx.base,
        ctx.tenant_id,
        form(ctx, client_secret="wrong"),
        headers={"client-request-id": cid},
    )
    body = assert_entra_error(r, 401, "invalid_client", 7000215)
    assert body["correlation_id"] == cid
