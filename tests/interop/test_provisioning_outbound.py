"""Outbound provisioning (Ostiary as Entra's provisioning service) into a real SCIM server: the
peer `scim2-server` from this venv, behind a failure-injecting reverse proxy of the test's own.

Configured through the Entra-shaped Graph endpoints of the service principal:
  PUT  /v1.0/servicePrincipals/{id}/synchronization/secrets   BaseAddress + SecretToken
  POST /v1.0/servicePrincipals/{id}/synchronization/jobs      {"templateId": "scim"}
  POST …/jobs/{jobId}/start | pause | restart,  GET …/jobs/{jobId} (status, quarantine)
  GET  /v1.0/auditLogs/provisioning                            provisioningObjectSummary records
The job is created with Ostiary's extension `ostiaryConfiguration.retry` (a short backoff, so that
persistent errors quarantine it in seconds rather than ~8 minutes). The module skips (with the
request and the answer) while these endpoints do not exist.

Phases: 3 users + a group with members assigned → they appear with Entra's default mappings;
surname change, disable, unassign, member removal → the target follows; a 429 burst
(`Retry-After: 1`) then a 500 burst → every change still arrives and the provisioning log has the
failed attempts too; 500 forever → the job is quarantined, `restart` recovers it; a 401 from the
target quarantines at once.

The proxy forwards Entra's default-mode requests as they are, except two that scim2-server (strict
RFC, scim2-models) refuses and that a real Entra-facing target accepts: a member `remove` with a
value array (what Ostiary sends, like Entra) is rewritten to the RFC filter form
`members[value eq "…"]`, and the non-URN ADSCIM group schema in `schemas`, if sent, is dropped
(scim2-models only composes `urn:` schemas). Both are recorded (`proxy.adapted`, printed at the end).
"""

from __future__ import annotations

import collections
import dataclasses
import http.client
import json
import os
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from scim_support import MS_GROUP_URN, PeerScimServer, poll

SYNC_TIMEOUT_S = float(os.environ.get("OSTIARY_TEST_SYNC_TIMEOUT_S", "120"))
QUARANTINE_TIMEOUT_S = float(os.environ.get("OSTIARY_TEST_QUARANTINE_TIMEOUT_S", "240"))
DEFAULT_ACCESS = "00000000-0000-0000-0000-000000000000"
RESET_ALL = {"criteria": {"resetScope": "Watermark, Escrows, QuarantineState"}}


# --------------------------------------------------------------------------- the proxy


@dataclasses.dataclass
class Hit:
    at: float
    method: str
    path: str
    status: int
    injected: bool
    body: str


class FailingProxy:
    """A threaded stdlib reverse proxy on 127.0.0.1 in front of the peer. `fail_next(n, status)`
    answers the next n requests itself (429 carries `Retry-After`), `fail_forever(status)` every
    request until `heal()`. Every request is recorded in `hits`."""

    HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
           "transfer-encoding", "upgrade", "host", "content-length"}  # fmt: skip

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.lock = threading.Lock()
        self.plan: collections.deque[tuple[int, str | None]] = collections.deque()
        self.forever: tuple[int, str | None] | None = None
        self.hits: list[Hit] = []
        self.adapted: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.handle(self, body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="scim-proxy", daemon=True)  # fmt: skip
        self.thread.start()

    # ---- control
    def fail_next(self, n: int, status: int, retry_after: str | None = None) -> None:
        with self.lock:
            self.plan.extend([(status, retry_after)] * n)

    def fail_forever(self, status: int) -> None:
        with self.lock:
            self.forever = (status, None)

    def heal(self) -> None:
        with self.lock:
            self.forever = None
            self.plan.clear()

    def pending_failures(self) -> int:
        with self.lock:
            return len(self.plan)

    def mark(self) -> int:
        with self.lock:
            return len(self.hits)

    def since(self, mark: int) -> list[Hit]:
        with self.lock:
            return list(self.hits[mark:])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- serving
    def _adapt(self, method: str, body: bytes) -> bytes:
        if not body:
            return body
        try:
            doc = json.loads(body)
        except ValueError:
            return body
        changed = False
        if isinstance(doc, dict) and MS_GROUP_URN in (doc.get("schemas") or []):
            doc["schemas"] = [s for s in doc["schemas"] if s != MS_GROUP_URN]
            changed = True
            self.adapted.append(f"{method}: dropped {MS_GROUP_URN} from schemas")
        if method == "PATCH" and isinstance(doc, dict):
            ops = []
            for op in doc.get("Operations") or []:
                if (str(op.get("op", "")).lower() == "remove" and str(op.get("path", "")).lower() == "members"
                        and isinstance(op.get("value"), list)):  # fmt: skip
                    for m in op["value"]:
                        ops.append({"op": "remove", "path": f'members[value eq "{m.get("value")}"]'})
                    changed = True
                    self.adapted.append("PATCH: member remove with a value array → RFC filter form")
                else:
                    ops.append(op)
            if changed:
                doc["Operations"] = ops
        return json.dumps(doc).encode() if changed else body

    def handle(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        with self.lock:
            inject = self.forever or (self.plan.popleft() if self.plan else None)
        text = body.decode("utf-8", "replace")[:2000]
        if inject:
            status, retry_after = inject
            payload = json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                                  "status": str(status), "detail": "injected by the test proxy"}).encode()  # fmt: skip
            h.send_response(status)
            h.send_header("Content-Type", "application/scim+json")
            h.send_header("Content-Length", str(len(payload)))
            if status == 429:
                h.send_header("Retry-After", retry_after or "1")
            h.end_headers()
            h.wfile.write(payload)
            with self.lock:
                self.hits.append(Hit(time.time(), h.command, h.path, status, True, text))
            return
        forwarded = self._adapt(h.command, body)
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() not in self.HOP}
            headers["Content-Length"] = str(len(forwarded))
            conn.request(h.command, h.path, body=forwarded or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            h.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in self.HOP:
                    h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            status = resp.status
        except OSError as e:
            status = 502
            msg = str(e).encode()
            h.send_response(502)
            h.send_header("Content-Length", str(len(msg)))
            h.end_headers()
            h.wfile.write(msg)
        finally:
            conn.close()
        with self.lock:
            self.hits.append(Hit(time.time(), h.command, h.path, status, False, text))


# --------------------------------------------------------------------------- the world


@dataclasses.dataclass
class Person:
    id: str
    upn: str
    nickname: str
    given: str
    surname: str
    mail: str
    assignment: str | None = None


@dataclasses.dataclass
class World:
    graph: Any
    sp_id: str
    job_id: str
    peer: PeerScimServer
    proxy: FailingProxy
    users: list[Person]
    group_id: str
    group_name: str
    fast_retry: bool = False

    # ---- Graph side
    def job(self) -> dict[str, Any]:
        return self.graph.get(f"/servicePrincipals/{self.sp_id}/synchronization/jobs/{self.job_id}")

    def job_action(self, action: str, body: Any = None) -> None:
        self.graph.call("POST", f"/servicePrincipals/{self.sp_id}/synchronization/jobs/{self.job_id}/{action}",
                        expect=(200, 204), json=body)  # fmt: skip

    def provisioning_logs(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = self.graph.get("/auditLogs/provisioning", params={"$top": "999"})
        while True:
            out += [x for x in page.get("value", []) if (x.get("servicePrincipal") or {}).get("id") == self.sp_id]
            nxt = page.get("@odata.nextLink")
            if not nxt:
                return out
            r = self.graph.http.get(nxt, headers=self.graph.headers, timeout=30)
            assert r.status_code == 200, r.text[:500]
            page = r.json()

    # ---- target side (straight to the peer, not through the proxy)
    def target(self, kind: str, flt: str) -> list[dict[str, Any]]:
        import requests

        r = requests.get(f"{self.peer.url}/{kind}", params={"filter": flt}, headers=self.peer.headers, timeout=10)
        assert r.status_code == 200, r.text[:500]
        return r.json().get("Resources") or []

    def target_user(self, p: Person) -> dict[str, Any] | None:
        found = self.target("Users", f'userName eq "{p.upn}"')
        return found[0] if found else None

    def target_group(self) -> dict[str, Any] | None:
        found = self.target("Groups", f'displayName eq "{self.group_name}"')
        return found[0] if found else None

    def describe(self) -> str:
        job = {}
        try:
            job = self.job()
        except AssertionError as e:
            job = {"error": str(e)[:500]}
        hits = [(h.method, h.path, h.status, "injected" if h.injected else "") for h in self.proxy.hits[-25:]]
        return f"\n  job: {json.dumps(job)[:1500]}\n  last target requests: {hits}"


def quarantine_of(job: dict[str, Any]) -> Any:
    """The quarantine of a job view: Entra's `status.code == "Quarantine"` + `status.quarantine`,
    or the core's top-level / `health.quarantine` (the Graph shape is tentative)."""
    status = job.get("status") or {}
    for q in (status.get("quarantine"), job.get("quarantine"), (job.get("health") or {}).get("quarantine")):
        if q:
            return q
    return "Quarantine" if status.get("code") == "Quarantine" else None


# Ostiary's job has a retry policy (`ostiaryConfiguration.retry`: baseMs, capMs, quarantineAfter;
# default 1000 ms, 600000 ms, 10). With the default, 10 consecutive 500s take ~8 minutes of backoff;
# the test job gets a short one.
FAST_RETRY = {"retry": {"baseMs": 200, "capMs": 2000, "quarantineAfter": 5}}


def _endpoints_missing(r: Any) -> bool:
    return r.status_code == 404 or (r.status_code == 400 and "Resource not found for the segment" in r.text)


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    graph = request.getfixturevalue("graph")
    directory = request.getfixturevalue("directory")
    ctx = request.getfixturevalue("ctx")
    app = directory.create_app("SCIM Target App")
    probe = graph.http.get(f"{graph.root}/servicePrincipals/{app.sp_id}/synchronization/jobs",
                           headers=graph.headers, timeout=30)  # fmt: skip
    if _endpoints_missing(probe):
        pytest.skip(f"outbound provisioning endpoints not there yet: GET …/synchronization/jobs → "
                    f"HTTP {probe.status_code} {probe.text[:200]}")  # fmt: skip

    token = secrets.token_urlsafe(24)
    peer = PeerScimServer(token=token, log=tmp_path_factory.mktemp("outbound") / "scim2-server.log")
    proxy = FailingProxy(peer.port)
    request.addfinalizer(peer.stop)
    request.addfinalizer(proxy.close)

    base_address = f"http://127.0.0.1:{proxy.port}/v2"
    graph.call("PUT", f"/servicePrincipals/{app.sp_id}/synchronization/secrets", expect=(200, 204),
               json={"value": [{"key": "BaseAddress", "value": base_address}, {"key": "SecretToken", "value": token}]})  # fmt: skip
    job = graph.post(f"/servicePrincipals/{app.sp_id}/synchronization/jobs",
                     {"templateId": "scim", "ostiaryConfiguration": FAST_RETRY})  # fmt: skip
    assert job.get("id"), job

    tag = secrets.token_hex(3)
    users: list[Person] = []
    for i, (given, surname) in enumerate((("Ada", "Lovelace"), ("Grace", "Hopper"), ("Alan", "Turing"))):
        nick = f"prov{i}{tag}"
        upn = f"{nick}@{ctx.tenant_domain}"
        mail = f"{nick}@mail.example.com"
        body = graph.post("/users", {
            "accountEnabled": True, "displayName": f"{given} {surname}", "givenName": given, "surname": surname,
            "mailNickname": nick, "userPrincipalName": upn, "mail": mail, "jobTitle": "Engineer",
            "passwordProfile": {"password": f"Prov-{secrets.token_urlsafe(12)}-7q!",
                                "forceChangePasswordNextSignIn": False},
        })  # fmt: skip
        users.append(Person(body["id"], upn, nick, given, surname, mail))
    group_name = f"Provisioned Group {tag}"
    group = graph.post("/groups", {"displayName": group_name, "mailEnabled": False, "mailNickname": f"pg{tag}",
                                   "securityEnabled": True})  # fmt: skip
    for p in users[:2]:
        graph.post(f"/groups/{group['id']}/members/$ref", {"@odata.id": f"{graph.root}/directoryObjects/{p.id}"},
                   expect=204)  # fmt: skip
    for principal in [p.id for p in users] + [group["id"]]:
        a = graph.post(f"/servicePrincipals/{app.sp_id}/appRoleAssignedTo",
                       {"principalId": principal, "resourceId": app.sp_id, "appRoleId": DEFAULT_ACCESS})  # fmt: skip
        for p in users:
            if p.id == principal:
                p.assignment = a["id"]
    w = World(graph, app.sp_id, job["id"], peer, proxy, users, group["id"], group_name)
    w.fast_retry = (job.get("ostiaryConfiguration") or {}).get("retry") == FAST_RETRY["retry"]
    w.job_action("start")
    return w


def _eventually(w: World, check: Any, what: str, timeout: float = SYNC_TIMEOUT_S) -> Any:
    try:
        return poll(check, timeout=timeout, interval=1.0, what=what)
    except AssertionError as e:
        raise AssertionError(f"{what}: {e}{w.describe()}") from None


def _assert_mapped(w: World, p: Person, t: dict[str, Any] | None, active: bool = True) -> bool:
    """Entra's default user mappings (entra-compat §8)."""
    assert t is not None, f"{p.upn} not in the target yet"
    work = [e.get("value") for e in t.get("emails") or [] if e.get("type") == "work"]
    got = {"userName": t.get("userName"), "active": t.get("active"), "externalId": t.get("externalId"),
           "displayName": t.get("displayName"), "givenName": (t.get("name") or {}).get("givenName"),
           "familyName": (t.get("name") or {}).get("familyName"), "work email": work[:1], "title": t.get("title")}  # fmt: skip
    want = {"userName": p.upn, "active": active, "externalId": p.nickname, "displayName": f"{p.given} {p.surname}",
            "givenName": p.given, "familyName": p.surname, "work email": [p.mail], "title": got["title"]}  # fmt: skip
    assert got == want, f"{p.upn} in the target:\n got  {got}\n want {want}"
    return True


# --------------------------------------------------------------------------- the phases


@pytest.mark.timeout(SYNC_TIMEOUT_S + 60)
def test_initial_cycle_provisions_users_and_group(world: World) -> None:
    w = world

    def all_there() -> bool:
        for p in w.users:
            _assert_mapped(w, p, w.target_user(p))
        g = w.target_group()
        assert g is not None, "group not in the target yet"
        members = {m.get("value") for m in g.get("members") or []}
        want = {w.target_user(p)["id"] for p in w.users[:2]}
        assert g.get("externalId") == w.group_id and members == want, f"group in the target: {g} (want members {want})"
        return True

    _eventually(w, all_there, "the assigned users and the group provisioned")
    assert not quarantine_of(w.job()), w.describe()


@pytest.mark.timeout(SYNC_TIMEOUT_S + 60)
def test_changes_follow(world: World) -> None:
    w = world
    ada, grace, alan = w.users
    w.graph.call("PATCH", f"/users/{ada.id}", expect=204, json={"surname": "Byron", "displayName": "Ada Byron"})
    ada.surname = "Byron"
    w.graph.call("PATCH", f"/users/{grace.id}", expect=204, json={"accountEnabled": False})
    w.graph.call("DELETE", f"/servicePrincipals/{w.sp_id}/appRoleAssignedTo/{alan.assignment}", expect=204)
    w.graph.call("DELETE", f"/groups/{w.group_id}/members/{grace.id}/$ref", expect=204)

    def followed() -> bool:
        _assert_mapped(w, ada, w.target_user(ada))
        _assert_mapped(w, grace, w.target_user(grace), active=False)
        gone = w.target_user(alan)
        assert gone is None or gone.get("active") is False, f"unassigned user still active in the target: {gone}"
        g = w.target_group()
        assert g is not None and {m.get("value") for m in g.get("members") or []} == {w.target_user(ada)["id"]}, g
        return True

    _eventually(w, followed, "surname change, disable, unassignment and member removal in the target")


@pytest.mark.timeout(2 * SYNC_TIMEOUT_S + 90)
def test_throttling_and_errors_lose_nothing(world: World) -> None:
    w = world
    ada = w.users[0]
    mark = w.proxy.mark()
    w.proxy.fail_next(3, 429, retry_after="1")
    w.graph.call("PATCH", f"/users/{ada.id}", expect=204, json={"givenName": "Augusta", "displayName": "Augusta Byron"})
    ada.given = "Augusta"
    _eventually(w, lambda: w.proxy.pending_failures() == 0, "the 429 burst consumed")
    w.proxy.fail_next(3, 500)
    w.graph.call("PATCH", f"/users/{ada.id}", expect=204, json={"jobTitle": "Analyst"})
    _eventually(w, lambda: _assert_mapped(w, ada, w.target_user(ada)) and w.target_user(ada).get("title") == "Analyst",
                "every change delivered after the 429 and 500 bursts")  # fmt: skip
    hits = w.proxy.since(mark)
    injected = collections.Counter(h.status for h in hits if h.injected)
    assert injected == {429: 3, 500: 3}, f"injected failures actually served: {injected}"
    throttled = [h for h in hits if h.injected and h.status == 429]
    after = [h for h in hits if h.at > throttled[0].at and not h.injected]
    assert after and after[0].at - throttled[0].at >= 0.9, "Retry-After: 1 was not honoured"

    def logged() -> list[dict[str, Any]]:
        recs = [x for x in w.provisioning_logs() if (x.get("sourceIdentity") or {}).get("id") == ada.id]
        statuses = collections.Counter((x.get("provisioningStatusInfo") or {}).get("status") for x in recs)
        actions = {x.get("provisioningAction") for x in recs}
        assert statuses.get("failure", 0) >= 1 and statuses.get("success", 0) >= 2 and {"create", "update"} <= actions, (
            f"provisioning records for {ada.upn}: {statuses}, actions {actions}"
        )
        return recs

    recs = _eventually(w, logged, "provisioning records for every action incl. the failed attempts", timeout=30)
    failures = json.dumps([x for x in recs if (x.get("provisioningStatusInfo") or {}).get("status") == "failure"])
    assert "429" in failures or "500" in failures, f"the failure records name no HTTP status: {failures[:2000]}"
    everyone = {(x.get("sourceIdentity") or {}).get("id") for x in w.provisioning_logs()}
    assert {p.id for p in w.users} | {w.group_id} <= everyone, f"objects without provisioning records: {everyone}"


@pytest.mark.timeout(QUARANTINE_TIMEOUT_S + SYNC_TIMEOUT_S + 90)
def test_persistent_errors_quarantine_and_restart_recovers(world: World) -> None:
    w = world
    ada = w.users[0]
    w.proxy.fail_forever(500)
    w.graph.call("PATCH", f"/users/{ada.id}", expect=204, json={"jobTitle": "Quarantined Analyst"})

    def quarantined() -> Any:
        job = w.job()
        q = quarantine_of(job)
        assert q, f"not quarantined: {json.dumps(job)[:800]}"
        return q

    try:
        poll(quarantined, timeout=QUARANTINE_TIMEOUT_S, interval=2.0, what="quarantine")
    except AssertionError as e:
        raise AssertionError(
            f"not quarantined after {QUARANTINE_TIMEOUT_S:.0f} s of HTTP 500 ({e}); shorter retry policy "
            f"applied: {w.fast_retry}. With the default policy (10 consecutive failures, 1 s base backoff "
            "doubling with full jitter) that takes ~8 min on average (OSTIARY_TEST_QUARANTINE_TIMEOUT_S raises "
            "this wait)."
            + w.describe()
        ) from None
    w.proxy.heal()
    w.job_action("restart", RESET_ALL)
    _eventually(w, lambda: not quarantine_of(w.job()), "the job leaves quarantine")
    _eventually(w, lambda: (w.target_user(ada) or {}).get("title") == "Quarantined Analyst",
                "the change made during the outage delivered after restart")  # fmt: skip


@pytest.mark.timeout(2 * SYNC_TIMEOUT_S + 60)
def test_auth_failure_quarantines_at_once_and_restart_recovers(world: World) -> None:
    w = world
    ada = w.users[0]
    w.proxy.fail_forever(401)
    w.graph.call("PATCH", f"/users/{ada.id}", expect=204, json={"jobTitle": "Locked Out"})
    _eventually(w, lambda: quarantine_of(w.job()), "quarantine after a 401")
    w.proxy.heal()
    w.job_action("restart", RESET_ALL)
    _eventually(w, lambda: (w.target_user(ada) or {}).get("title") == "Locked Out", "delivery after restart")
    adapted = collections.Counter(w.proxy.adapted)
    print(f"proxy adaptations for scim2-server: {dict(adapted)}")
