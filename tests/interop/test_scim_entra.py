"""Inbound SCIM as Entra's provisioning service and the Microsoft reference server's Postman suite
drive it (shared/reference/entra-compat.md §8), plus ETags, Bulk, uniqueness, and cross-checks
through Graph: the SCIM user is the Graph user, `active=false` stops sign-in, changes are audited
with the SCIM client as initiator, write permissions and tenant isolation are enforced.

Every request shape here is one that a real client sends; expectations follow RFC 7644 and the
Entra doc (group PATCH ⇒ 204, filter with 0 results ⇒ 200 empty ListResponse, DELETE ⇒ 204,
404 as a SCIM Error). `SCIM_TARGET=peer` runs the SCIM-only tests against scim2-server.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import secrets
import subprocess
import uuid
from typing import Any

import pytest
import requests

from scim_support import (  # noqa: F401  (fixtures: scim_target, scim, made)
    BULK_REQUEST_URN,
    BULK_RESPONSE_URN,
    ENTERPRISE_URN,
    ERROR_URN,
    GROUP_URN,
    LIST_URN,
    PATCH_URN,
    USER_URN,
    Scim,
    ScimTarget,
    assert_scim_error,
    assert_scim_json,
    client_credentials_token,
    describe,
    email,
    entra_group,
    entra_user,
    graph_app_with_roles,
    ids,
    made,
    password_sign_in,
    poll,
    resources,
    scim,
    scim_target,
    unique,
)


def member_ids(group: dict[str, Any]) -> set[str]:
    return {m.get("value") for m in group.get("members") or []}


# =========================================================================== Entra's request shapes


def test_entra_user_lifecycle(scim: Scim, scim_target: ScimTarget, made) -> None:
    """POST (Entra's exact body) → GET → filter userName/externalId → PATCH email by value path +
    family name → DELETE 204 → GET 404 as a SCIM Error."""
    body = entra_user(scim_target.tenant_domain)
    r = scim.post("/Users", body, expect=201)
    assert_scim_json(r)
    user = r.json()
    made.track("Users", user["id"])
    uid = user["id"]
    assert USER_URN in user["schemas"], user
    assert user["userName"] == body["userName"] and user["externalId"] == body["externalId"], user
    assert user["active"] is True, user
    assert user["name"]["familyName"] == "familyName" and user["name"]["givenName"] == "givenName", user
    assert email(user) == body["emails"][0]["value"], user
    meta = user.get("meta") or {}
    assert meta.get("resourceType") == "User" and meta.get("created") and meta.get("lastModified"), meta
    assert meta.get("location", "").endswith(f"/Users/{uid}"), meta
    assert r.headers.get("Location") == meta["location"], "Location header must equal meta.location" + describe(r)

    got = scim.read("Users", uid)
    assert got["id"] == uid and got["userName"] == body["userName"], got

    listing = scim.query("Users", f'userName eq "{body["userName"]}"')
    assert listing["totalResults"] == 1 and ids(listing) == {uid}, listing
    assert listing.get("startIndex") == 1 and listing.get("itemsPerPage") == 1, listing
    listing = scim.query("Users", f'externalId eq "{body["externalId"]}"')
    assert ids(listing) == {uid}, listing

    new_mail = f"updated-{secrets.token_hex(4)}@mail.example.com"
    r = scim.patch_ops(
        "Users",
        uid,
        [
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": new_mail},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        ],
    )
    if not scim_target.is_peer:  # the peer answers 204 (an RFC 7644 §3.5.2 MAY)
        assert r.status_code == 200, "user PATCH must answer 200 with the resource" + describe(r)
        assert_scim_json(r)
        patched = r.json()
        assert email(patched) == new_mail and patched["name"]["familyName"] == "updatedFamilyName", patched
    got = scim.read("Users", uid)
    assert email(got) == new_mail and got["name"]["familyName"] == "updatedFamilyName", got
    assert len([e for e in got["emails"] if e.get("type") == "work"]) == 1, got["emails"]

    r = scim.delete(f"/Users/{uid}", expect=204)
    assert not r.content, "204 must have no body" + describe(r)
    assert_scim_error(scim.get(f"/Users/{uid}"), 404)


def test_entra_disable_with_string_false_and_capitalised_op(scim: Scim, scim_target: ScimTarget, made) -> None:
    """Quirk 1 + 2: `{"op":"Replace","path":"active","value":"False"}` (a string), then the
    flagged-mode form (`"op":"replace"`, boolean); the user must still be returned (soft delete)."""
    user = made.user(entra_user(scim_target.tenant_domain))
    r = scim.patch_ops("Users", user["id"], [{"op": "Replace", "path": "active", "value": "False"}])
    scim_target.peer_xfail(r.status_code == 400, 'rejects "False" as a boolean')
    assert scim.read("Users", user["id"])["active"] is False
    scim.patch_ops("Users", user["id"], [{"op": "replace", "path": "active", "value": True}])
    assert scim.read("Users", user["id"])["active"] is True
    scim.patch_ops("Users", user["id"], [{"op": "replace", "path": "active", "value": False}])
    listing = scim.query("Users", f'userName eq "{user["userName"]}"')
    assert ids(listing) == {user["id"]} and resources(listing)[0]["active"] is False, listing


def test_entra_pathless_replace_with_dotted_keys(scim: Scim, scim_target: ScimTarget, made) -> None:
    """Quirk 4 (flagged mode): one path-less Replace whose value object uses dotted keys and the
    full enterprise URN + `:employeeNumber` as a key."""
    user = made.user(entra_user(scim_target.tenant_domain))
    r = scim.patch_ops(
        "Users",
        user["id"],
        [
            {
                "op": "replace",
                "value": {
                    "displayName": "Babs Jensen",
                    "name.givenName": "Barbara",
                    "name.familyName": "Jensen",
                    f"{ENTERPRISE_URN}:employeeNumber": "701984",
                    f"{ENTERPRISE_URN}:department": "Tour Operations",
                },
            }
        ],
        expect=None,
    )
    scim_target.peer_xfail(r.status_code == 400, "does not accept dotted keys in a path-less replace")
    assert r.status_code in (200, 204), describe(r)
    got = scim.read("Users", user["id"])
    assert got["displayName"] == "Babs Jensen", got
    assert got["name"]["givenName"] == "Barbara" and got["name"]["familyName"] == "Jensen", got
    ext = got.get(ENTERPRISE_URN) or {}
    assert ext.get("employeeNumber") == "701984" and ext.get("department") == "Tour Operations", got
    assert got["userName"] == user["userName"] and got["externalId"] == user["externalId"], "other attributes kept"


def test_entra_single_valued_add_is_replace(scim: Scim, scim_target: ScimTarget, made) -> None:
    """Quirk 5: `{"op":"Add","path":"nickName","value":"Babs"}` on a single-valued attribute, twice:
    the second Add replaces the first value."""
    user = made.user(entra_user(scim_target.tenant_domain))
    scim.patch_ops("Users", user["id"], [{"op": "Add", "path": "nickName", "value": "Babs"}])
    assert scim.read("Users", user["id"]).get("nickName") == "Babs"
    scim.patch_ops("Users", user["id"], [{"op": "Add", "path": "nickName", "value": "Barbie"}])
    assert scim.read("Users", user["id"]).get("nickName") == "Barbie"
    scim.patch_ops("Users", user["id"], [{"op": "Add", "path": "title", "value": "Tour Guide"}])
    assert scim.read("Users", user["id"]).get("title") == "Tour Guide"


def test_entra_group_lifecycle(scim: Scim, scim_target: ScimTarget, made) -> None:
    """Group created with no members (Entra's body, with the ADSCIM Group URN), read and filtered
    with excludedAttributes=members, renamed, members added and removed (value-array form and RFC
    filter form) — every group PATCH ⇒ 204 — and deleted."""
    alice = made.user(entra_user(scim_target.tenant_domain, label="Alice"))
    bob = made.user(entra_user(scim_target.tenant_domain, label="Bob"))
    # scim2-server refuses the ADSCIM schema URN (test_entra_group_schema_urn_accepted).
    body = entra_group(adscim=not scim_target.is_peer)
    r = scim.post("/Groups", body, expect=201)
    assert_scim_json(r)
    group = r.json()
    made.track("Groups", group["id"])
    gid = group["id"]
    assert group["displayName"] == body["displayName"] and group["externalId"] == body["externalId"], group
    assert not group.get("members"), f"created with no members: {group}"
    assert r.headers.get("Location", "").endswith(f"/Groups/{gid}"), describe(r)

    got = scim.read("Groups", gid, excludedAttributes="members")
    assert "members" not in got and got["displayName"] == body["displayName"], got
    listing = scim.query("Groups", f'displayName eq "{body["displayName"]}"', excludedAttributes="members")
    assert ids(listing) == {gid} and "members" not in resources(listing)[0], listing

    def group_patch(ops: list[dict[str, Any]]) -> None:
        r = scim.patch_ops("Groups", gid, ops)
        if r.status_code == 204 or not scim_target.is_peer:  # 200 would be RFC-valid, but Entra expects 204
            assert r.status_code == 204, "group PATCH must answer 204 No Content (Entra)" + describe(r)
            assert not r.content, describe(r)

    renamed = f"{body['displayName']} renamed"
    group_patch([{"op": "Replace", "path": "displayName", "value": renamed}])
    assert scim.read("Groups", gid)["displayName"] == renamed

    group_patch([{"op": "Add", "path": "members", "value": [{"$ref": None, "value": alice["id"]}]}])
    group_patch([{"op": "Add", "path": "members", "value": [{"$ref": None, "value": bob["id"]}]}])
    assert member_ids(scim.read("Groups", gid)) == {alice["id"], bob["id"]}
    # Quirk 3: Remove with path "members" plus a value array (Entra's default mode); the peer
    # refuses it (test_entra_remove_members_with_value_array), so it gets the RFC form here.
    if scim_target.is_peer:
        group_patch([{"op": "remove", "path": f'members[value eq "{alice["id"]}"]'}])
    else:
        group_patch([{"op": "Remove", "path": "members", "value": [{"$ref": None, "value": alice["id"]}]}])
    assert member_ids(scim.read("Groups", gid)) == {bob["id"]}
    # The RFC form (Entra's flagged mode): a value filter in the path, no value.
    group_patch([{"op": "remove", "path": f'members[value eq "{bob["id"]}"]'}])
    assert member_ids(scim.read("Groups", gid)) == set()

    scim.delete(f"/Groups/{gid}", expect=204)
    assert_scim_error(scim.get(f"/Groups/{gid}"), 404)


def test_entra_group_schema_urn_accepted(scim: Scim, scim_target: ScimTarget, made) -> None:
    """Entra lists the ADSCIM Group URN in `schemas` of POST /Groups; it must not be refused."""
    r = scim.post("/Groups", entra_group())
    if r.status_code == 201:
        made.track("Groups", r.json()["id"])
    scim_target.peer_xfail(r.status_code == 400, "refuses the ADSCIM Group schema URN Entra sends")
    assert r.status_code == 201, describe(r)


def test_entra_remove_members_with_value_array(scim: Scim, scim_target: ScimTarget, made) -> None:
    """Quirk 3 alone: `{"op":"Remove","path":"members","value":[{"$ref":null,"value":id}]}` removes
    exactly the listed members."""
    a, b, c = (made.user(entra_user(scim_target.tenant_domain, label=n)) for n in ("A", "B", "C"))
    group = made.group(entra_group(adscim=not scim_target.is_peer))
    scim.patch_ops("Groups", group["id"], [{"op": "Add", "path": "members",
                                            "value": [{"value": a["id"]}, {"value": b["id"]}, {"value": c["id"]}]}])  # fmt: skip
    r = scim.patch_ops("Groups", group["id"], [{"op": "Remove", "path": "members", "value": [
        {"$ref": None, "value": a["id"]}, {"$ref": None, "value": c["id"]}]}], expect=None)  # fmt: skip
    scim_target.peer_xfail(r.status_code == 400, "refuses a remove operation that carries a value")
    assert r.status_code == 204, describe(r)
    assert member_ids(scim.read("Groups", group["id"])) == {b["id"]}


def test_filter_with_no_match_is_an_empty_list(scim: Scim) -> None:
    """Entra's Test Connection: a filter on a random value ⇒ 200 and an empty ListResponse, never 404."""
    for kind, attr in (("Users", "userName"), ("Users", "externalId"), ("Groups", "displayName")):
        listing = scim.query(kind, f'{attr} eq "{uuid.uuid4()}"')
        assert listing["totalResults"] == 0 and resources(listing) == [], listing
        assert listing["schemas"] == [LIST_URN], listing


def test_errors_are_scim_errors(scim: Scim, scim_target: ScimTarget) -> None:
    assert_scim_error(scim.get(f"/Users/{uuid.uuid4()}"), 404)
    assert_scim_error(scim.get(f"/Groups/{uuid.uuid4()}"), 404)
    assert_scim_error(scim.delete(f"/Users/{uuid.uuid4()}"), 404)
    r = scim.post("/Users", {"schemas": [USER_URN], "displayName": "no userName"})
    assert_scim_error(r, 400)
    r = scim.post("/Users", raw="{not json")
    assert_scim_error(r, 400)
    r = scim.get("/Users", params={"filter": 'userName eq "unterminated'})
    assert_scim_error(r, 400, "invalidFilter")


# =========================================================================== Postman quirks


def test_postman_capital_primary_and_string_active(scim: Scim, scim_target: ScimTarget, made) -> None:
    """The reference server's Postman suite: `"Primary": true` (capital P) in emails, `"active":
    "True"` (a string); both are stored as the booleans."""
    nick = unique("postman")
    body = {
        "schemas": [USER_URN],
        "userName": f"{nick}@{scim_target.tenant_domain}",
        "active": "True",
        "displayName": "BobIsAmazing",
        "externalId": str(uuid.uuid4()),
        "name": {"formatted": "Ryan Leenay", "familyName": "Leenay", "givenName": "Ryan"},
        "emails": [
            {"Primary": True, "type": "work", "value": f"{nick}@bob.example.com"},
            {"Primary": False, "type": "home", "value": f"{nick}-home@bob.example.com"},
        ],
    }
    r = scim.post("/Users", body)
    scim_target.peer_xfail(r.status_code == 400, 'rejects "active": "True"')
    assert r.status_code == 201, describe(r)
    user = r.json()
    made.track("Users", user["id"])
    got = scim.read("Users", user["id"])
    assert got["active"] is True, got
    work = [e for e in got["emails"] if e.get("type") == "work"]
    home = [e for e in got["emails"] if e.get("type") == "home"]
    assert work and work[0].get("primary") is True and work[0]["value"] == body["emails"][0]["value"], got["emails"]
    assert home and not home[0].get("primary"), got["emails"]
    r = scim.patch_ops("Users", user["id"], [{"op": "Replace", "path": "active", "value": "False"}], expect=None)
    scim_target.peer_xfail(r.status_code == 400, 'rejects "False" as a boolean')
    assert scim.read("Users", user["id"])["active"] is False


def test_postman_attributes_projection(scim: Scim, scim_target: ScimTarget, made) -> None:
    """`?attributes=userName,emails`: those plus id and schemas (returned "always"), nothing else."""
    user = made.user(entra_user(scim_target.tenant_domain))
    listing = scim.query("Users", f'userName eq "{user["userName"]}"', attributes="userName,emails")
    (one,) = resources(listing)
    assert one["id"] == user["id"] and one["userName"] == user["userName"] and email(one) == email(user), one
    assert not {"name", "displayName", "active", "externalId"} & set(one), f"not projected: {sorted(one)}"
    got = scim.read("Users", user["id"], attributes="userName,emails")
    assert not {"name", "active", "externalId"} & set(got), f"not projected: {sorted(got)}"
    listing = scim.query("Users", attributes="userName,emails", count=5)
    assert all("name" not in x for x in resources(listing)), listing


@pytest.fixture
def postman_users(scim_target: ScimTarget, made) -> dict[str, dict[str, Any]]:
    d = scim_target.tenant_domain
    tag = secrets.token_hex(4)

    def mk(local: str, mail_domain: str, family: str = "Employee") -> dict[str, Any]:
        return made.user({
            "schemas": [USER_URN],
            "userName": f"{local}{tag}@{d}",
            "name": {"familyName": family, "givenName": "Postman"},
            "emails": [{"type": "work", "primary": True, "value": f"{local}{tag}@{mail_domain}"}],
        })  # fmt: skip

    return {
        "com": mk("pmcom", "example.com"),
        "org": mk("pmorg", "example.org"),
        "net": mk("pmnet", "example.net"),
        "other": mk("pmoth", "example.com", family="Contractor"),
        "o": mk("O", "example.net", family="Contractor"),
    }


def _all_ids(scim: Scim, filter_: str) -> set[str] | requests.Response:
    """Every id the filter selects (following pages); the response itself when it is not a 200."""
    found: set[str] = set()
    start = 1
    while True:
        r = scim.get("/Users", params={"filter": filter_, "startIndex": start, "count": 200})
        if r.status_code != 200:
            return r
        page = r.json()
        found |= ids(page)
        n = len(resources(page))
        if n == 0 or start + n > page["totalResults"]:
            return found
        start += n


def _check_postman_filters(scim: Scim, u: dict[str, dict[str, Any]], filters: tuple[str, str, str],
                           lenient: bool) -> None:  # fmt: skip
    both, sw, gt = filters
    expectations = [
        (both, {u["com"]["id"], u["org"]["id"]}, {u["net"]["id"], u["other"]["id"]}),
        (sw, {u["o"]["id"]}, {u["com"]["id"], u["org"]["id"], u["net"]["id"]}),
        (gt, {x["id"] for x in u.values()}, set()),
    ]
    for flt, wanted, unwanted in expectations:
        got = _all_ids(scim, flt)
        if isinstance(got, requests.Response):
            if lenient and got.status_code == 400:
                assert_scim_error(got, 400, "invalidFilter")  # refusing is acceptable, never a 500
                continue
            raise AssertionError(f"filter {flt!r}" + describe(got))
        assert wanted <= got and not unwanted & got, f"filter {flt!r}: got {got}, wanted {wanted}, not {unwanted}"


def test_postman_filters_case_insensitive_names(scim: Scim, postman_users) -> None:
    """The Postman filters with RFC-quoted values: attribute names in any case (`name.FamilyName`,
    `emails.Value`, `meta.Created`), `and` + parenthesised `or`, `sw`, `gt` on a date with a
    7-digit fraction and an offset."""
    _check_postman_filters(scim, postman_users, (
        'name.FamilyName eq "Employee" and (emails.Value co "example.com" or emails.Value co "example.org")',
        'userName sw "O"',
        'meta.Created gt "2015-10-10T14:38:21.8617979-07:00"',
    ), lenient=False)  # fmt: skip


def test_postman_filters_verbatim(scim: Scim, postman_users) -> None:
    """The same filters exactly as the Postman collection sends them, values unquoted (not RFC 7644
    §3.4.2.2 grammar). The Microsoft reference server answers them; Microsoft's newer Playwright
    suite accepts 200 or 400 for `userName sw O`. So: the right results, or a 400 invalidFilter
    SCIM error — never a 500 or wrong results."""
    _check_postman_filters(scim, postman_users, (
        "name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)",
        "userName sw O",
        "meta.Created gt 2015-10-10T14:38:21.8617979-07:00",
    ), lenient=True)  # fmt: skip


# =========================================================================== ETags, Bulk, uniqueness


def test_etags(scim: Scim, scim_target: ScimTarget, made) -> None:
    """ServiceProviderConfig announces etag; GET returns ETag = meta.version; If-None-Match with it
    ⇒ 304; If-Match with a stale version on PATCH/PUT/DELETE ⇒ 412; with the current one ⇒ applied."""
    spc = scim.get("/ServiceProviderConfig", expect=200).json()
    assert spc.get("etag", {}).get("supported") is True, spc
    user = made.user(entra_user(scim_target.tenant_domain))
    r = scim.get(f"/Users/{user['id']}", expect=200)
    etag = r.headers.get("ETag")
    assert etag and etag == r.json()["meta"].get("version"), "ETag header must equal meta.version" + describe(r)
    r304 = scim.get(f"/Users/{user['id']}", headers={"If-None-Match": etag})
    assert r304.status_code == 304 and not r304.content, describe(r304)

    stale = 'W/"0-stale"'
    op = [{"op": "replace", "path": "displayName", "value": "Should Not Apply"}]
    r = scim.patch(f"/Users/{user['id']}", {"schemas": [PATCH_URN], "Operations": op}, headers={"If-Match": stale})
    assert r.status_code == 412, describe(r)
    r = scim.put(f"/Users/{user['id']}", {**{k: v for k, v in user.items() if k != "meta"}, "displayName": "X"},
                 headers={"If-Match": stale})  # fmt: skip
    assert r.status_code == 412, describe(r)
    assert scim.read("Users", user["id"]).get("displayName") != "Should Not Apply"

    r = scim.patch(f"/Users/{user['id']}", {"schemas": [PATCH_URN], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Applied"}]}, headers={"If-Match": etag})  # fmt: skip
    assert r.status_code in (200, 204), describe(r)
    r = scim.get(f"/Users/{user['id']}", expect=200)
    assert r.json()["displayName"] == "Applied" and r.headers.get("ETag") != etag, "the version must change"
    assert scim.get(f"/Users/{user['id']}", headers={"If-None-Match": etag}).status_code == 200
    r = scim.delete(f"/Users/{user['id']}", headers={"If-Match": etag})
    assert r.status_code == 412, describe(r)


def test_bulk_with_bulk_id_references(scim: Scim, scim_target: ScimTarget, made) -> None:
    """One /Bulk request creates two users and a group whose members reference them by
    `bulkId:…`; the response carries each operation's status and location."""
    spc = scim.get("/ServiceProviderConfig", expect=200).json()
    assert spc.get("bulk", {}).get("supported") is True and spc["bulk"].get("maxOperations", 0) >= 3, spc
    u1 = entra_user(scim_target.tenant_domain, label="Bulk1")
    u2 = entra_user(scim_target.tenant_domain, label="Bulk2")
    g = entra_group("Bulk Group", adscim=not scim_target.is_peer)
    g["members"] = [{"type": "User", "value": "bulkId:u1"}, {"type": "User", "value": "bulkId:u2"}]
    request = {
        "schemas": [BULK_REQUEST_URN],
        "failOnErrors": 1,
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "u1", "data": u1},
            {"method": "POST", "path": "/Users", "bulkId": "u2", "data": u2},
            {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": g},
        ],
    }
    r = scim.post("/Bulk", request, expect=200)
    assert_scim_json(r)
    out = r.json()
    assert BULK_RESPONSE_URN in out["schemas"], out
    ops = {op["bulkId"]: op for op in out["Operations"]}
    assert set(ops) == {"u1", "u2", "g1"}, out
    created = {}
    for bid, op in ops.items():
        assert str(op["status"]) == "201" and op["method"] == "POST" and op.get("location"), op
        created[bid] = op["location"].rstrip("/").rsplit("/", 1)[-1]
        made.track("Groups" if bid == "g1" else "Users", created[bid])
    group = scim.read("Groups", created["g1"])
    assert member_ids(group) == {created["u1"], created["u2"]}, group
    assert scim.read("Users", created["u1"])["userName"] == u1["userName"]


def test_bulk_fail_on_errors(scim: Scim, scim_target: ScimTarget, made) -> None:
    """failOnErrors=1: the first failing operation (a duplicate userName ⇒ 409 uniqueness) stops
    the request; the operation after it is not processed."""
    existing = made.user(entra_user(scim_target.tenant_domain))
    later = entra_user(scim_target.tenant_domain, label="NeverCreated")
    request = {
        "schemas": [BULK_REQUEST_URN],
        "failOnErrors": 1,
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": entra_user(
                scim_target.tenant_domain, userName=existing["userName"])},
            {"method": "POST", "path": "/Users", "bulkId": "later", "data": later},
        ],
    }  # fmt: skip
    r = scim.post("/Bulk", request, expect=200)
    out = r.json()
    first = out["Operations"][0]
    assert first.get("bulkId") == "dup" and str(first["status"]) == "409", out
    assert (first.get("response") or {}).get("scimType") == "uniqueness", out
    assert "later" not in {op.get("bulkId") for op in out["Operations"]}, f"processed after failOnErrors: {out}"
    assert scim.query("Users", f'userName eq "{later["userName"]}"')["totalResults"] == 0


def test_uniqueness_conflict(scim: Scim, scim_target: ScimTarget, made) -> None:
    user = made.user(entra_user(scim_target.tenant_domain))
    again = entra_user(scim_target.tenant_domain, userName=user["userName"])
    assert_scim_error(scim.post("/Users", again), 409, "uniqueness")
    # userName is caseExact=false (RFC 7643 §4.1.1): a case variant is the same name.
    again["userName"] = user["userName"].upper()
    r = scim.post("/Users", again)
    if r.status_code == 201:
        made.track("Users", r.json()["id"])
    scim_target.peer_xfail(r.status_code == 201, "compares userName case-sensitively")
    assert_scim_error(r, 409, "uniqueness")


# =========================================================================== Ostiary: Graph, sign-in, audit


@pytest.fixture(scope="module")
def graph_(scim_target: ScimTarget, request: pytest.FixtureRequest) -> Any:
    scim_target.require_ostiary("Graph cross-checks")
    return request.getfixturevalue("graph")


def test_scim_user_is_the_graph_user(scim: Scim, scim_target: ScimTarget, graph_, made) -> None:
    body = entra_user(scim_target.tenant_domain, displayName="Scim Graph User")
    body["name"] = {"givenName": "Scim", "familyName": "Graphson", "formatted": "Scim Graphson"}
    user = made.user(body)
    g = graph_.get(f"/users/{user['id']}")
    expected = {
        "id": user["id"],
        "userPrincipalName": body["userName"],
        "accountEnabled": True,
        "displayName": "Scim Graph User",
        "givenName": "Scim",
        "surname": "Graphson",
        "mail": body["emails"][0]["value"],
    }
    actual = {k: g.get(k) for k in expected}
    assert actual == expected, f"Graph view of the SCIM user differs:\n got      {actual}\n expected {expected}"
    listed = graph_.get("/users", params={"$filter": f"userPrincipalName eq '{body['userName']}'"})
    assert [u["id"] for u in listed["value"]] == [user["id"]], listed

    scim.patch_ops("Users", user["id"], [{"op": "Replace", "path": "active", "value": "False"},
                                         {"op": "Replace", "path": "name.familyName", "value": "Renamed"}])  # fmt: skip
    g = graph_.get(f"/users/{user['id']}")
    assert g["accountEnabled"] is False and g["surname"] == "Renamed", g

    # And the other way: a Graph change shows in SCIM.
    graph_.call("PATCH", f"/users/{user['id']}", expect=204, json={"accountEnabled": True, "givenName": "Fromgraph"})
    got = scim.read("Users", user["id"])
    assert got["active"] is True and got["name"]["givenName"] == "Fromgraph", got
    assert got["externalId"] == body["externalId"], "externalId kept across Graph updates"


def test_graph_user_is_visible_over_scim(scim: Scim, scim_target: ScimTarget, graph_, request) -> None:
    directory = request.getfixturevalue("directory")
    u = directory.create_user("scimview")
    listing = scim.query("Users", f'userName eq "{u.upn}"')
    assert ids(listing) == {u.id}, listing
    one = resources(listing)[0]
    assert one["active"] is True and one.get("displayName") == u.display_name, one
    graph_.call("DELETE", f"/users/{u.id}", expect=204)
    assert_scim_error(scim.get(f"/Users/{u.id}"), 404)


@pytest.mark.timeout(180)
def test_scim_disable_blocks_sign_in(scim: Scim, scim_target: ScimTarget, graph_, request, made) -> None:
    """A user created over SCIM (password set through Graph) signs in; after SCIM `active` "False"
    the same sign-in is refused and logged as AADSTS50057 (user disabled)."""
    directory = request.getfixturevalue("directory")
    ctx = request.getfixturevalue("ctx")
    from conftest import make_password

    user = made.user(entra_user(scim_target.tenant_domain, label="SignIn"))
    password = make_password()
    graph_.call("PATCH", f"/users/{user['id']}", expect=204,
                json={"passwordProfile": {"password": password, "forceChangePasswordNextSignIn": False}})  # fmt: skip
    redirect = f"http://localhost:{secrets.randbelow(20000) + 20000}/cb"
    app = directory.create_app("SCIM SignIn", web=[redirect])
    ok = password_sign_in(ctx.base, ctx.ca, ctx.tenant_id, app.app_id, redirect, user["userName"], password)
    assert ok.got_code or "consent" in ok.text.lower(), f"enabled user could not sign in: {ok.status} {ok.page_text}"

    scim.patch_ops("Users", user["id"], [{"op": "Replace", "path": "active", "value": "False"}])
    refused = password_sign_in(ctx.base, ctx.ca, ctx.tenant_id, app.app_id, redirect, user["userName"], password)
    assert not refused.got_code and refused.status != 302, f"disabled user signed in: {refused.location}"
    assert "disabled" in refused.page_text.lower(), refused.page_text
    assert graph_.get(f"/users/{user['id']}")["accountEnabled"] is False

    def logged() -> list[dict[str, Any]]:
        flt = f"userPrincipalName eq '{user['userName'].lower()}' and status/errorCode eq 50057"
        return graph_.get("/auditLogs/signIns", params={"$filter": flt})["value"]

    poll(logged, timeout=20, what="a sign-in record with errorCode 50057")


def test_scim_changes_are_audited(scim: Scim, scim_target: ScimTarget, graph_, made) -> None:
    """Directory audits record SCIM changes with initiatedBy.app = the SCIM client."""
    since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    user = made.user(entra_user(scim_target.tenant_domain, label="Audited"))
    scim.patch_ops("Users", user["id"], [{"op": "Replace", "path": "displayName", "value": "Audited Renamed"}])
    group = made.group(entra_group("Audited"))
    scim.patch_ops("Groups", group["id"], [{"op": "Add", "path": "members", "value": [{"value": user["id"]}]}])
    scim.delete(f"/Users/{user['id']}", expect=204)

    def records() -> list[dict[str, Any]]:
        flt = f"initiatedBy/app/appId eq '{scim_target.client_app_id}' and activityDateTime ge {since}"
        got = graph_.get("/auditLogs/directoryAudits", params={"$filter": flt, "$top": "999"})["value"]
        mine = [a for a in got if any(t.get("id") in (user["id"], group["id"]) for t in a.get("targetResources", []))]
        activities = {a.get("activityDisplayName") for a in mine}
        if {"Add user", "Update user", "Add group", "Add member to group", "Delete user"} <= activities:
            return mine
        raise AssertionError(f"audit activities for the SCIM changes so far: {sorted(activities)}")

    mine = poll(records, timeout=20, what="directory audits of the SCIM changes")
    for a in mine:
        app = (a.get("initiatedBy") or {}).get("app") or {}
        assert app.get("appId") == scim_target.client_app_id, a
        assert a.get("result") == "success", a
        assert a.get("loggedByService") == "Account Provisioning", a  # as Entra logs provisioning writes


def test_token_without_write_permission_is_403(scim: Scim, scim_target: ScimTarget, graph_, request, made) -> None:
    directory = request.getfixturevalue("directory")
    ctx = request.getfixturevalue("ctx")
    reader, _ = graph_app_with_roles(graph_, directory, "SCIM Reader", ["User.Read.All", "Group.Read.All"])
    token = client_credentials_token(ctx.http, ctx.base, ctx.tenant_id, reader.app_id, reader.secret)
    ro = Scim(scim_target, token=token)
    existing = made.user(entra_user(scim_target.tenant_domain))
    assert_scim_error(ro.post("/Users", entra_user(scim_target.tenant_domain)), 403)
    assert_scim_error(ro.patch_ops("Users", existing["id"], [{"op": "replace", "path": "active", "value": False}],
                                   expect=None), 403)  # fmt: skip
    assert_scim_error(ro.delete(f"/Users/{existing['id']}"), 403)
    assert_scim_error(ro.post("/Groups", entra_group()), 403)
    assert scim.read("Users", existing["id"])["active"] is True, "a refused write changed nothing"

    # The interop client holds no Graph permission at all.
    none_token = client_credentials_token(ctx.http, ctx.base, ctx.tenant_id, ctx.client_app_id, ctx.secret)
    bare = Scim(scim_target, token=none_token)
    assert_scim_error(bare.post("/Users", entra_user(scim_target.tenant_domain)), 403)
    # No token at all: 401 with a bearer challenge.
    r = scim.http.get(f"{scim_target.url}/Users", timeout=30)
    assert r.status_code == 401 and "bearer" in r.headers.get("WWW-Authenticate", "").lower(), describe(r)


def _server_database_url(data_dir: pathlib.Path) -> str | None:
    """The `--database-url` of the running `ostiary serve --data-dir DATA_DIR` (scripts/test passes
    the throwaway PostgreSQL's URL there), read from its command line in /proc."""
    for cmdline in pathlib.Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "serve" in args and "--data-dir" in args and "--database-url" in args:
            i = args.index("--data-dir")
            if i + 1 < len(args) and pathlib.Path(args[i + 1]).resolve() == data_dir.resolve():
                j = args.index("--database-url")
                return args[j + 1] if j + 1 < len(args) else None
    return None


def _other_tenant(bootstrap_path: pathlib.Path, name: str) -> dict[str, Any]:
    """`ostiary tenant create` against the running server's store: SQLite in its data dir, or the
    PostgreSQL URL of $OSTIARY_DATABASE_URL / the server's own command line. Skips when the store
    cannot be reached from here."""
    data_dir = bootstrap_path.parent
    target_dir = os.environ.get("CARGO_TARGET_DIR") or str(pathlib.Path(__file__).resolve().parents[2] / "target")
    binary = os.environ.get("OSTIARY_BIN") or f"{target_dir}/release/ostiary"
    cmd = [binary, "tenant", "create", "--data-dir", str(data_dir), "--name", name, "-o", "json"]
    db_url = os.environ.get("OSTIARY_DATABASE_URL") or _server_database_url(data_dir)
    if db_url:
        cmd += ["--database-url", db_url]
    elif not (data_dir / "ostiary.db").exists():
        pytest.skip("the server's store is not SQLite in its data dir and OSTIARY_DATABASE_URL is not set: "
                    "cannot create a second tenant from the test")  # fmt: skip
    if not pathlib.Path(binary).exists():
        pytest.skip(f"no ostiary binary at {binary} to create a second tenant")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout[proc.stdout.index("{"):])


def test_other_tenant_token_cannot_reach_this_tenant(scim: Scim, scim_target: ScimTarget, graph_, request,
                                                     made) -> None:  # fmt: skip
    ctx = request.getfixturevalue("ctx")
    other = _other_tenant(request.getfixturevalue("bootstrap_path"), unique("scimiso"))
    token = client_credentials_token(ctx.http, ctx.base, other["tenantId"], other["clientId"], other["clientSecret"])
    mine = made.user(entra_user(scim_target.tenant_domain))

    # Their token works on their own SCIM base (positive control) and does not see our user there.
    theirs = Scim(scim_target, token=token, url=f"{ctx.base}/scim/v2/{other['tenantId']}")
    assert theirs.query("Users", f'userName eq "{mine["userName"]}"')["totalResults"] == 0
    assert_scim_error(theirs.get(f"/Users/{mine['id']}"), 404)

    # Their token on our base: refused, whatever the verb.
    intruder = Scim(scim_target, token=token)
    for r in (
        intruder.get("/Users"),
        intruder.get(f"/Users/{mine['id']}"),
        intruder.patch_ops("Users", mine["id"], [{"op": "replace", "path": "active", "value": False}], expect=None),
        intruder.delete(f"/Users/{mine['id']}"),
    ):
        assert r.status_code in (401, 403), "another tenant's token must be refused" + describe(r)
        assert ERROR_URN in r.json().get("schemas", []), describe(r)
    assert scim.read("Users", mine["id"])["active"] is True
