#!/usr/bin/env python3
"""Sign-in benchmark helper for bench/signin.sh (standard library only).

  signin_load.py setup BASE BOOTSTRAP_JSON CA_PEM [--users N] > signin-setup.json
      Through the Graph-shaped API: a resource app exposing the delegated scope Orders.Read, a
      confidential web client (redirect URI, password), service principals, tenant-wide admin
      consent (POST /v1.0/oauth2PermissionGrants, AllPrincipals) so no consent page ever shows,
      and N member users with known passwords.

  signin_load.py load SETUP_JSON [--vus 8] [--duration 20] [--out FILE]
  signin_load.py load SETUP_JSON --flows 64 --emit-refresh-tokens FILE [--vus 8]
      N virtual users, each on its own keep-alive TLS connection (opened before the window), run complete browser sign-ins in
      a loop, each with a fresh cookie jar and a fresh PKCE (S256) pair:
        GET  /{tenant}/oauth2/v2.0/authorize        -> 302 /{tenant}/login?flow=... (ostiary_browser)
        GET  /{tenant}/login?flow=...               -> 200, hidden inputs flow + csrf
        POST /{tenant}/login (flow, csrf, username, password)
                                                    -> 302 REDIRECT?code=...&state=... (session cookie)
        POST /{tenant}/oauth2/v2.0/token  authorization_code + code_verifier + client secret -> 200
      Virtual user i signs in users i, i+N, i+2N, ... so one user never signs in twice at once.
      With --duration, only flows that complete inside the window count (as wrk does); with --flows,
      exactly that many flows run and every refresh token is written to the file, one per line
      (each an independent refresh-token family). Prints a JSON summary (and writes it to --out).

  signin_load.py treecpu ROOT_PID SECONDS
      CPU used by ROOT_PID and all its descendants over SECONDS (from /proc; 100 = one core),
      plus the whole machine's busy share. For PostgreSQL, whose work is spread over backends.

  signin_load.py report RUN_DIR
      The final table of a bench/signin.sh run (summary.txt, summary.json).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import http.client
import json
import os
import pathlib
import re
import secrets
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

TIMEOUT = 30
REDIRECT_URI = "https://bench-app.invalid/cb"
SCOPE_VALUE = "Orders.Read"
CONSENT_SCOPE = f"{SCOPE_VALUE} openid profile offline_access"
HIDDEN_RE = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')


# =========================================================================== setup


def cmd_setup(args: argparse.Namespace) -> int:
    base = args.base.rstrip("/")
    boot = json.load(open(args.bootstrap))
    tls = ssl.create_default_context(cafile=args.ca)
    tenant = boot["tenantId"]

    def request(method, url, body=None, headers=None, form=False, expect=(200, 201, 204)):
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
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raise SystemExit(f"{method} {url}: HTTP {e.code}: {e.read()[:1000]!r}") from None
        if status not in expect:
            raise SystemExit(f"{method} {url}: unexpected HTTP {status}: {raw[:1000]!r}")
        return json.loads(raw) if raw else None

    tok = request(
        "POST",
        f"{base}/{tenant}/oauth2/v2.0/token",
        {
            "grant_type": "client_credentials",
            "client_id": boot["clientId"],
            "client_secret": boot["clientSecret"],
            "scope": "https://graph.microsoft.com/.default",
        },
        form=True,
    )
    auth = {"Authorization": f"Bearer {tok['access_token']}"}

    def graph(method, path, body=None, expect=(200, 201, 204)):
        return request(method, f"{base}/v1.0{path}", body, auth, expect=expect)

    suffix = secrets.token_hex(4)
    uri = f"api://bench-orders-{suffix}"
    api = graph(
        "POST",
        "/applications",
        {
            "displayName": f"Bench Orders API {suffix}",
            "identifierUris": [uri],
            "api": {
                "oauth2PermissionScopes": [
                    {
                        "id": str(uuid.uuid4()),
                        "value": SCOPE_VALUE,
                        "type": "User",
                        "isEnabled": True,
                        "adminConsentDisplayName": "Read orders",
                        "adminConsentDescription": "Read all orders",
                        "userConsentDisplayName": "Read your orders",
                        "userConsentDescription": "Read your orders",
                    }
                ]
            },
        },
    )
    api_sp = graph("POST", "/servicePrincipals", {"appId": api["appId"]})
    client = graph(
        "POST",
        "/applications",
        {"displayName": f"Bench Web {suffix}", "web": {"redirectUris": [REDIRECT_URI]}},
    )
    pw = graph(
        "POST", f"/applications/{client['id']}/addPassword", {"passwordCredential": {"displayName": "bench"}}
    )
    client_sp = graph("POST", "/servicePrincipals", {"appId": client["appId"]})
    graph(
        "POST",
        "/oauth2PermissionGrants",
        {"clientId": client_sp["id"], "consentType": "AllPrincipals", "resourceId": api_sp["id"], "scope": CONSENT_SCOPE},
        expect=(201,),
    )
    users = []
    for i in range(args.users):
        nick = f"bench{i:03d}-{suffix}"
        upn = f"{nick}@{boot['tenantDomain']}"
        password = f"Bench-{secrets.token_urlsafe(12)}-7q!"
        graph(
            "POST",
            "/users",
            {
                "accountEnabled": True,
                "displayName": f"Bench User {i}",
                "mailNickname": nick,
                "userPrincipalName": upn,
                "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": False},
            },
            expect=(201,),
        )
        users.append({"upn": upn, "password": password})
    json.dump(
        {
            "base": base,
            "ca": os.path.abspath(args.ca),
            "tenantId": tenant,
            "clientId": client["appId"],
            "clientSecret": pw["secretText"],
            "redirectUri": REDIRECT_URI,
            "scope": f"{uri}/{SCOPE_VALUE} openid profile offline_access",
            "resourceAppId": api["appId"],
            "users": users,
        },
        sys.stdout,
        indent=2,
    )
    print()
    return 0


# =========================================================================== load


class FlowError(Exception):
    def __init__(self, stage: str, kind: str, detail: str = "") -> None:
        super().__init__(f"{stage}: {kind} {detail}".strip())
        self.stage, self.kind, self.detail = stage, kind, detail


class Conn:
    """One keep-alive HTTPS connection (a browser's), reopened after any error."""

    def __init__(self, host: str, port: int, ctx: ssl.SSLContext) -> None:
        self.host, self.port, self.ctx = host, port, ctx
        self.c: http.client.HTTPSConnection | None = None

    def connect(self) -> None:
        """Opens the connection now (TCP + TLS handshake), so that the first flow does not pay for it."""
        self.c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=TIMEOUT)
        try:
            self.c.connect()
        except OSError:
            self.close()

    def request(self, stage: str, method: str, path: str, body: bytes | None = None, headers=None):
        if self.c is None:
            self.c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=TIMEOUT)
        hdrs = {"Accept": "text/html,application/json", "User-Agent": "ostiary-bench-signin/1"}
        hdrs.update(headers or {})
        try:
            self.c.request(method, path, body=body, headers=hdrs)
            r = self.c.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise FlowError(stage, "io", type(e).__name__) from None
        if r.will_close:
            self.close()
        return r.status, r.headers, data

    def close(self) -> None:
        if self.c is not None:
            try:
                self.c.close()
            except OSError:
                pass
            self.c = None


def pkce_pair() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def take_cookies(jar: dict[str, str], headers) -> None:
    for sc in headers.get_all("Set-Cookie") or []:
        first = sc.split(";", 1)[0]
        name, _, value = first.partition("=")
        if not name:
            continue
        if value == "" or re.search(r";\s*Max-Age=0\b", sc, re.I):
            jar.pop(name.strip(), None)
        else:
            jar[name.strip()] = value.strip()


def cookie_header(jar: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}


def one_flow(conn: Conn, s: dict, user: dict) -> tuple[dict[str, float], dict]:
    """One complete sign-in; returns per-stage seconds and the token response."""
    tenant = s["tenantId"]
    jar: dict[str, str] = {}
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(12)
    stages: dict[str, float] = {}

    q = urllib.parse.urlencode(
        {
            "client_id": s["clientId"],
            "response_type": "code",
            "redirect_uri": s["redirectUri"],
            "scope": s["scope"],
            "state": state,
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "response_mode": "query",
        }
    )
    t = time.perf_counter()
    status, headers, body = conn.request("authorize", "GET", f"/{tenant}/oauth2/v2.0/authorize?{q}")
    stages["authorize"] = time.perf_counter() - t
    if status != 302:
        raise FlowError("authorize", f"http{status}", body[:200].decode("utf-8", "replace"))
    take_cookies(jar, headers)
    loc = headers.get("Location") or ""
    if not loc.startswith(f"/{tenant}/login?"):
        raise FlowError("authorize", "unexpected-redirect", loc[:200])

    t = time.perf_counter()
    status, headers, body = conn.request("login-page", "GET", loc, headers=cookie_header(jar))
    stages["login_page"] = time.perf_counter() - t
    if status != 200:
        raise FlowError("login-page", f"http{status}", body[:200].decode("utf-8", "replace"))
    take_cookies(jar, headers)
    fields = {k: html.unescape(v) for k, v in HIDDEN_RE.findall(body.decode("utf-8", "replace"))}
    if "flow" not in fields or "csrf" not in fields:
        raise FlowError("login-page", "no-form")

    form = urllib.parse.urlencode(
        {"flow": fields["flow"], "csrf": fields["csrf"], "username": user["upn"], "password": user["password"]}
    ).encode()
    t = time.perf_counter()
    status, headers, body = conn.request(
        "login-post",
        "POST",
        f"/{tenant}/login",
        form,
        {"Content-Type": "application/x-www-form-urlencoded", **cookie_header(jar)},
    )
    stages["login_post"] = time.perf_counter() - t
    if status != 302:
        text = body.decode("utf-8", "replace")
        m = re.search(r'class="error"[^>]*>([^<]*)', text) or re.search(r"(AADSTS\d+[^<]{0,160})", text)
        raise FlowError("login-post", f"http{status}", html.unescape(m.group(1)) if m else text[:200])
    take_cookies(jar, headers)
    if not any(k.startswith("ostiary_session_") for k in jar):
        raise FlowError("login-post", "no-session-cookie")
    loc = headers.get("Location") or ""
    if not loc.startswith(s["redirectUri"] + "?"):
        raise FlowError("login-post", "unexpected-redirect", loc[:200])
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
    if params.get("state") != state or not params.get("code"):
        raise FlowError("login-post", "bad-authorization-response", str(sorted(params))[:200])

    form = urllib.parse.urlencode(
        {
            "grant_type": "authorization_code",
            "client_id": s["clientId"],
            "client_secret": s["clientSecret"],
            "code": params["code"],
            "redirect_uri": s["redirectUri"],
            "code_verifier": verifier,
        }
    ).encode()
    t = time.perf_counter()
    status, headers, body = conn.request(
        "token", "POST", f"/{tenant}/oauth2/v2.0/token", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    stages["token"] = time.perf_counter() - t
    if status != 200:
        raise FlowError("token", f"http{status}", body[:300].decode("utf-8", "replace"))
    tokens = json.loads(body)
    if not (tokens.get("access_token") and tokens.get("id_token") and tokens.get("refresh_token")):
        raise FlowError("token", "missing-tokens", str(sorted(tokens))[:200])
    return stages, tokens


def pct(sorted_vals: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def dist_ms(vals: list[float]) -> dict:
    v = sorted(x * 1000.0 for x in vals)
    r = lambda x: None if x is None else round(x, 1)  # noqa: E731
    return {
        "n": len(v),
        "p50": r(pct(v, 50)),
        "p95": r(pct(v, 95)),
        "p99": r(pct(v, 99)),
        "mean": r(sum(v) / len(v)) if v else None,
        "max": r(v[-1]) if v else None,
    }


def cmd_load(args: argparse.Namespace) -> int:
    s = json.load(open(args.setup))
    users = s["users"]
    if not users:
        raise SystemExit("no users in the setup file")
    if args.vus > len(users):
        print(f"warning: {args.vus} virtual users share {len(users)} users: one user may sign in twice at once",
              file=sys.stderr)
    u = urllib.parse.urlsplit(s["base"])
    ctx = ssl.create_default_context(cafile=s["ca"])
    lock = threading.Lock()
    totals: list[float] = []
    stage_times: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    samples: list[str] = []
    refresh_tokens: list[str] = []
    unfinished = [0]
    remaining = [args.flows or 0]
    start = threading.Barrier(args.vus + 1)
    window: dict[str, float] = {}

    def vu(i: int) -> None:
        conn = Conn(u.hostname, u.port or 443, ctx)
        mine = users[i::args.vus] or [users[i % len(users)]]
        n = 0
        conn.connect()  # outside the measured window, as wrk does
        start.wait()
        deadline = window["deadline"]
        while True:
            if args.flows:
                with lock:
                    if remaining[0] <= 0:
                        break
                    remaining[0] -= 1
            elif time.perf_counter() >= deadline:
                break
            user = mine[n % len(mine)]
            n += 1
            t0 = time.perf_counter()
            try:
                stages, tokens = one_flow(conn, s, user)
            except FlowError as e:
                with lock:
                    key = f"{e.stage}:{e.kind}"
                    errors[key] = errors.get(key, 0) + 1
                    if len(samples) < 10:
                        samples.append(f"{key} {e.detail}".strip())
                if args.flows:
                    with lock:
                        remaining[0] += 1  # retry: the file must hold exactly --flows tokens
                    if sum(errors.values()) > args.flows:
                        break
                continue
            t1 = time.perf_counter()
            with lock:
                if not args.flows and t1 > deadline:
                    unfinished[0] += 1
                    continue
                totals.append(t1 - t0)
                for k, v in stages.items():
                    stage_times.setdefault(k, []).append(v)
                if args.flows:
                    refresh_tokens.append(tokens["refresh_token"])
        conn.close()

    threads = [threading.Thread(target=vu, args=(i,), daemon=True, name=f"vu{i}") for i in range(args.vus)]
    for t in threads:
        t.start()
    cpu0 = time.process_time()
    window["start"] = time.perf_counter()
    window["deadline"] = window["start"] + (args.duration if not args.flows else 1e9)
    start.wait()
    limit = time.monotonic() + (args.duration if not args.flows else 0) + TIMEOUT * 4 + 60
    for t in threads:
        t.join(max(0.1, limit - time.monotonic()))
    ended = time.perf_counter()
    cpu = time.process_time() - cpu0
    elapsed = (min(ended, window["deadline"]) if not args.flows else ended) - window["start"]

    completed = len(totals)
    summary = {
        "vus": args.vus,
        "users": len(users),
        "mode": "flows" if args.flows else "duration",
        "duration_s": round(elapsed, 3),
        "completed": completed,
        "signins_per_s": round(completed / elapsed, 2) if elapsed > 0 else None,
        "flow_ms": dist_ms(totals),
        "stage_ms": {k: dist_ms(v) for k, v in stage_times.items()},
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "error_samples": samples,
        "unfinished_at_deadline": unfinished[0],
        "loadgen_cpu_pct": round(100.0 * cpu / (ended - window["start"]), 1),
        "stuck_threads": sum(t.is_alive() for t in threads),
    }
    if args.emit_refresh_tokens:
        pathlib.Path(args.emit_refresh_tokens).write_text("".join(f"{t}\n" for t in refresh_tokens))
        summary["refresh_tokens_written"] = len(refresh_tokens)
    text = json.dumps(summary, indent=2)
    if args.out:
        pathlib.Path(args.out).write_text(text + "\n")
    print(text)
    if args.flows and len(refresh_tokens) < args.flows:
        print(f"error: only {len(refresh_tokens)} of {args.flows} sign-ins succeeded", file=sys.stderr)
        return 1
    return 0


# =========================================================================== CPU of a process tree


def _proc_ticks(pid: int) -> int | None:
    try:
        raw = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def _tree(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            raw = pathlib.Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        ppid = int(raw[raw.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = set(), [root]
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.add(p)
        todo.extend(children.get(p, []))
    return out


def _machine() -> tuple[int, int]:
    cols = [int(x) for x in pathlib.Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = cols[3] + cols[4]
    return sum(cols[:8]) - idle, sum(cols[:8])


def cmd_treecpu(args: argparse.Namespace) -> int:
    hz = os.sysconf("SC_CLK_TCK")
    before = {p: _proc_ticks(p) for p in _tree(args.pid)}
    m0 = _machine()
    t0 = time.monotonic()
    time.sleep(args.seconds)
    after = {p: _proc_ticks(p) for p in _tree(args.pid)}
    m1 = _machine()
    dt = time.monotonic() - t0
    used = 0
    for p, t in after.items():
        if t is None:
            continue
        used += t - (before.get(p) or 0)
    busy, total = m1[0] - m0[0], m1[1] - m0[1]
    print(json.dumps({
        "root_pid": args.pid,
        "processes": len(after),
        "cpu_pct": round(100.0 * used / hz / dt, 1),
        "machine_busy_pct": round(100.0 * os.cpu_count() * busy / total, 1) if total else None,
        "seconds": round(dt, 2),
    }))
    return 0


# =========================================================================== report


def cmd_report(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from report import fmt, parse_pidstat, parse_wrk, read_env  # bench/lib/report.py

    run = pathlib.Path(args.run)
    meta = read_env(run / "meta.env")

    def load_json(name):
        try:
            return json.loads((run / name).read_text())
        except (OSError, ValueError):
            return None

    hashb = load_json("bench-hash.json") or {}
    limit = hashb.get("hash_limit_per_s")
    stores = [x for x in meta.get("stores", "sqlite postgres").split() if (run / x).is_dir()]
    out: list[str] = []
    p = out.append
    p(f"Sign-in benchmark: {meta.get('vus', '?')} virtual users, {meta.get('duration', '?')} s per run after "
      f"{meta.get('warmup', '?')} s warm-up; {meta.get('cores', '?')} cores shared by server, load generators "
      f"(and PostgreSQL); all on 127.0.0.1, TLS with keep-alive.")
    if hashb:
        p(f"Argon2id hash limit (ostiary bench-hash, m={hashb.get('memory_kib')} KiB t={hashb.get('iterations')} "
          f"p={hashb.get('parallelism')}): {hashb.get('ms_per_hash')} ms per hash on one core, "
          f"{hashb.get('cores')} cores -> {limit} sign-ins/s at most.")
    p("")

    result = {"meta": meta, "bench_hash": hashb, "stores": {}}
    # 1 + 2: sign-in, alone and with client_credentials alongside; cc alone as the reference.
    hdr = (f"{'store':<9} {'run':<12} {'sign-ins/s':>10} {'ratio':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
           f"{'errors':>6} {'srv CPU%':>8} {'db CPU%':>7} | {'cc req/s':>8} {'cc p50':>7} {'cc p99':>7} {'non2xx':>6}")
    p("Password sign-in end to end (authorize -> login page -> credentials -> code -> token), flows per second:")
    p(hdr)
    p("-" * len(hdr))
    for store in stores:
        d = run / store
        res = result["stores"].setdefault(store, {})
        for name, label in (("cc-alone", "cc alone"), ("signin-alone", "sign-in"), ("signin-cc", "sign-in + cc")):
            sj = load_json(f"{store}/{name}.signin.json") if name != "cc-alone" else None
            wrk = parse_wrk(d / f"{name}.cc.wrk.txt") if (d / f"{name}.cc.wrk.txt").exists() else None
            cpu = parse_pidstat(d / f"{name}.pidstat")
            db = load_json(f"{store}/{name}.dbcpu.json")
            if sj is None and wrk is None:
                continue
            rate = sj.get("signins_per_s") if sj else None
            ratio = rate / limit if rate and limit else None
            row = {"signin": sj, "cc": wrk, "server_cpu_pct": cpu, "db_cpu": db, "ratio_to_hash_limit": ratio}
            res[name] = row
            fl = (sj or {}).get("flow_ms", {})
            p(f"{store:<9} {label:<12} {fmt(rate, '.2f'):>10} {fmt(ratio, '.2f'):>6} {fmt(fl.get('p50'), '.0f'):>8} "
              f"{fmt(fl.get('p95'), '.0f'):>8} {fmt(fl.get('p99'), '.0f'):>8} {fmt((sj or {}).get('errors'), 'd'):>6} "
              f"{fmt(cpu, '.0f'):>8} {fmt((db or {}).get('cpu_pct'), '.0f'):>7} | "
              f"{fmt((wrk or {}).get('rps'), ',.0f'):>8} {fmt((wrk or {}).get('p50'), '.2f'):>7} "
              f"{fmt((wrk or {}).get('p99'), '.2f'):>7} {fmt((wrk or {}).get('non2xx'), 'd'):>6}")
    p("")
    p("Stage p50 / p99 ms (sign-in alone): authorize, login page, credentials POST (Argon2id), code redemption:")
    for store in stores:
        sj = load_json(f"{store}/signin-alone.signin.json")
        if not sj:
            continue
        st = sj.get("stage_ms", {})
        bits = [f"{k} {fmt(st.get(k, {}).get('p50'), '.1f')} / {fmt(st.get(k, {}).get('p99'), '.1f')}"
                for k in ("authorize", "login_page", "login_post", "token")]
        p(f"  {store:<9} " + "; ".join(bits) + f"; load generator CPU {fmt(sj.get('loadgen_cpu_pct'), '.0f')}%")
    p("")

    # 3: refresh rotation.
    hdr = (f"{'store':<9} {'rotations/s':>11} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} {'sockerr':>7} "
           f"{'srv CPU%':>8} {'/s per core':>11} {'db CPU%':>7} {'/s per core (srv+db)':>20}")
    p(f"Refresh-token grant with rotation (wrk -t{meta.get('refresh_threads', '?')} -c{meta.get('refresh_conns', '?')}, "
      f"{meta.get('refresh_tokens', '?')} independent families, one request in flight per token):")
    p(hdr)
    p("-" * len(hdr))
    for store in stores:
        d = run / store
        if not (d / "refresh.wrk.txt").exists():
            continue
        w = parse_wrk(d / "refresh.wrk.txt")
        cpu = parse_pidstat(d / "refresh.pidstat")
        db = load_json(f"{store}/refresh.dbcpu.json")
        lua = {}
        if m := re.search(r"^refresh-lua: (.*)$", (d / "refresh.wrk.txt").read_text(), re.M):
            lua = dict(kv.split("=", 1) for kv in m.group(1).split())
        per_core = w["rps"] / (cpu / 100.0) if w["rps"] and cpu else None
        dbcpu = (db or {}).get("cpu_pct")
        per_core_all = w["rps"] / ((cpu + dbcpu) / 100.0) if w["rps"] and cpu and dbcpu is not None else None
        result["stores"].setdefault(store, {})["refresh"] = {
            "wrk": w, "server_cpu_pct": cpu, "per_core": per_core, "db_cpu": db, "per_core_with_db": per_core_all,
            "lua": lua,
        }
        p(f"{store:<9} {fmt(w['rps'], ',.0f'):>11} {fmt(w['p50'], '.2f'):>7} {fmt(w['p99'], '.2f'):>7} "
          f"{w['non2xx']:>7} {w['errors']:>7} {fmt(cpu, '.0f'):>8} {fmt(per_core, ',.0f'):>11} "
          f"{fmt(dbcpu, '.0f'):>7} {fmt(per_core_all, ',.0f'):>20}")
        if lua:
            p(f"          lua: {' '.join(f'{k}={v}' for k, v in lua.items())}")
    p("")
    p("Targets: sign-ins/s >= 0.9 x hash limit; client_credentials p99 < 20 ms alongside sign-in; "
      ">= 1,000 refresh rotations/s per core of server CPU.")
    for k in ("ostiary_version", "wrk_version", "python_version", "note"):
        if k in meta:
            p(f"{k}: {meta[k]}")
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    (run / "summary.txt").write_text(text)
    (run / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


# =========================================================================== main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("setup")
    a.add_argument("base")
    a.add_argument("bootstrap")
    a.add_argument("ca")
    a.add_argument("--users", type=int, default=20)
    a.set_defaults(fn=cmd_setup)
    a = sub.add_parser("load")
    a.add_argument("setup")
    a.add_argument("--vus", type=int, default=8)
    a.add_argument("--duration", type=float, default=20.0)
    a.add_argument("--flows", type=int, default=0, help="run exactly this many flows instead of --duration")
    a.add_argument("--emit-refresh-tokens", metavar="FILE")
    a.add_argument("--out")
    a.set_defaults(fn=cmd_load)
    a = sub.add_parser("treecpu")
    a.add_argument("pid", type=int)
    a.add_argument("seconds", type=float)
    a.set_defaults(fn=cmd_treecpu)
    a = sub.add_parser("report")
    a.add_argument("run")
    a.set_defaults(fn=cmd_report)
    args = ap.parse_args()
    if getattr(args, "emit_refresh_tokens", None) and not args.flows:
        args.flows = 64
    if getattr(args, "vus", 1) < 1:
        ap.error("--vus must be at least 1")
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
