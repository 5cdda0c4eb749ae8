#!/usr/bin/env bash
# SCIM benchmark: Ostiary's inbound SCIM 2.0 server vs the peer scim2-server (PyPI, Python, in
# memory) in the same run on the same machine, both on 127.0.0.1. See bench/README.md ("SCIM").
#
#   (a) bulk create throughput: users/s through /Bulk (SCIM_BULK_OPS operations per request) and
#       through single POST /Users with wrk (SCIM_POST_CONNS connections, unique userNames)
#   (b) filter latency percentiles (`userName eq`, `externalId eq`, random existing users) with the
#       tenant loaded with SCIM_USERS users via Bulk
#   (c) the same against the peer, reported as ratios
#   (d) outbound full cycle (SCIM_OUTBOUND=1): SCIM_OUTBOUND_USERS users provisioned by Ostiary into
#       a fresh scim2-server, timed until the target holds them all (skips while the
#       synchronization endpoints are missing)
#
# Environment (defaults in brackets):
#   SCIM_USERS [20000]          users loaded through /Bulk into each server (100000, 1000000: knobs)
#   SCIM_PEER_USERS [SCIM_USERS] users for the peer (it filters by scanning in Python)
#   SCIM_BULK_OPS [1000]        operations per /Bulk request (capped by the server's maxOperations
#                               and maxPayloadSize from /ServiceProviderConfig)
#   SCIM_BULK_CLIENTS [1]       concurrent /Bulk clients while loading
#   SCIM_POST_CONNS [16]        wrk connections for single POST /Users
#   SCIM_FILTER_CONNS ["1 16"]  wrk connections for the filter runs
#   SCIM_DURATION [10]          seconds per wrk run
#   SCIM_OUTBOUND [0]           1: also run (d)
#   SCIM_OUTBOUND_USERS [100000]
#   SCIM_OUTBOUND_TIMEOUT [3600] seconds to wait for the full cycle
#   SCIM_RATE_LIMIT [off]       off: lift Graph's per-app throttle (which SCIM shares); default: keep it
#   SCIM_SKIP_OSTIARY / SCIM_SKIP_PEER [0]
#   BENCH_OUT                   results directory [bench/results/scim-<UTC timestamp>]
#   OSTIARY_BIN                 prebuilt ostiary binary (default: cargo build --release -p ostiary)
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/lib/common.sh
. "$BENCH_DIR/../scripts/lib/common.sh"

USERS="${SCIM_USERS:-20000}"
PEER_USERS="${SCIM_PEER_USERS:-$USERS}"
BULK_OPS="${SCIM_BULK_OPS:-1000}"
BULK_CLIENTS="${SCIM_BULK_CLIENTS:-1}"
POST_CONNS="${SCIM_POST_CONNS:-16}"
read -r -a FILTER_CONNS <<<"${SCIM_FILTER_CONNS:-1 16}"
DURATION="${SCIM_DURATION:-10}"
OUTBOUND="${SCIM_OUTBOUND:-0}"
OUTBOUND_USERS="${SCIM_OUTBOUND_USERS:-100000}"
OUTBOUND_TIMEOUT="${SCIM_OUTBOUND_TIMEOUT:-3600}"
SKIP_OSTIARY="${SCIM_SKIP_OSTIARY:-0}"
SKIP_PEER="${SCIM_SKIP_PEER:-0}"
OUT="${BENCH_OUT:-$BENCH_DIR/results/scim-$(date -u +%Y%m%dT%H%M%SZ)}"
REQUIREMENTS="$OSTIARY_ROOT/tests/interop/requirements.txt"

for v in USERS PEER_USERS BULK_OPS BULK_CLIENTS POST_CONNS DURATION OUTBOUND_USERS OUTBOUND_TIMEOUT; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "SCIM_$v must be a whole number"
done
((USERS >= 1 && PEER_USERS >= 1 && BULK_OPS >= 1 && DURATION >= 1)) || die "sizes and durations must be ≥ 1"
if [[ "$SKIP_OSTIARY" == 1 && "$SKIP_PEER" == 1 ]]; then die "nothing to measure"; fi

mkdir -p "$OUT"
WORK="$(mktemp -d /tmp/ostiary-scim-bench.XXXXXX)"
WRAPPERS=()
AUX_PIDS=()
# Everything a server may take: loading at a pessimistic 50 users/s plus the wrk runs.
SERVER_TIMEOUT=$((1200 + (USERS + PEER_USERS) / 50 + (${#FILTER_CONNS[@]} * 2 + 2) * (DURATION + 30)))
if [[ "$OUTBOUND" == 1 ]]; then SERVER_TIMEOUT=$((SERVER_TIMEOUT + OUTBOUND_TIMEOUT + OUTBOUND_USERS / 50)); fi

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${AUX_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${WRAPPERS[@]}"; do stop_wrapped "$pid" 5; done
    cp "$WORK"/*.log "$OUT"/ 2>/dev/null || true
    rm -rf "$WORK"
    if ((rc != 0)); then echo "bench: FAILED (exit $rc); partial results and logs in $OUT" >&2; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

meta() { printf '%s=%s\n' "$1" "$2" >>"$OUT/meta.env"; }

# ------------------------------------------------------------------ prerequisites
apt_ensure wrk:wrk pidstat:sysstat curl:curl
# scim2-server for the peer, at the version tests/interop/requirements.txt pins, in a venv kept
# outside the work tree (keyed by the pins).
pins="$(grep -E '^(scim2-server|scim2-models)==' "$REQUIREMENTS" | sort | tr '\n' ' ')"
[[ -n "$pins" ]] || die "no scim2-server pin in $REQUIREMENTS"
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/ostiary-bench/scim-venv-$(printf '%s' "$pins" | sha256sum | cut -c1-12)"
if [[ ! -x "$VENV/bin/scim2-server" ]]; then
    log "creating $VENV ($pins)"
    python3 -m venv --clear "$VENV"
    # shellcheck disable=SC2086  # the pins are separate words
    PIP_DISABLE_PIP_VERSION_CHECK=1 timeout 600 "$VENV/bin/pip" install -q $pins </dev/null
fi
: >"$OUT/meta.env"
meta users "$USERS"
meta peer_users "$PEER_USERS"
meta bulk_ops "$BULK_OPS"
meta bulk_clients "$BULK_CLIENTS"
meta post_conns "$POST_CONNS"
meta filter_conns "${FILTER_CONNS[*]}"
meta duration "$DURATION"
meta cores "$(nproc)"
meta wrk_version "$(wrk -v 2>&1 | head -n1 | awk '{print $2}')"
meta peer_version "$pins"

# ------------------------------------------------------------------ the driver (stdlib only)
cat >"$WORK/scim_bench.py" <<'PY'
"""SCIM bench driver: load (Bulk), check, token, outbound, report. Standard library only."""
import concurrent.futures
import http.client
import json
import os
import pathlib
import ssl
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.environ["BENCH_LIB"])
from report import parse_pidstat, parse_wrk  # noqa: E402  (bench/lib/report.py)

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"


class Conn:
    """One keep-alive connection to a SCIM base URL (https with a CA file, or http)."""

    def __init__(self, base, token, ca=None):
        u = urllib.parse.urlsplit(base)
        self.path = u.path.rstrip("/")
        if u.scheme == "https":
            ctx = ssl.create_default_context(cafile=ca)
            self.c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=600)
        else:
            self.c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        self.h = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json",
                  "Accept": "application/scim+json"}

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        self.c.request(method, self.path + path, body=data, headers=self.h)
        r = self.c.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None), len(data or b"")


def user(prefix, i, domain):
    name = f"{prefix}-{i}@{domain}"
    return {"schemas": [USER_URN], "userName": name, "externalId": f"{prefix}-ext-{i}", "active": True,
            "displayName": f"Bench User {i}", "name": {"givenName": "Bench", "familyName": f"User{i}"},
            "emails": [{"primary": True, "type": "work", "value": f"{prefix}-{i}@mail.example.com"}]}


def cmd_load(base, token, ca, n, ops, clients, prefix, domain):
    """Create users prefix-0 … prefix-(n-1) through /Bulk; prints a JSON result line."""
    n, ops, clients = int(n), int(ops), int(clients)
    c = Conn(base, token, ca or None)
    st, spc, _ = c.call("GET", "/ServiceProviderConfig")
    assert st == 200, f"ServiceProviderConfig: HTTP {st} {spc}"
    bulk = spc.get("bulk") or {}
    assert bulk.get("supported"), f"Bulk not supported: {bulk}"
    max_ops = int(bulk.get("maxOperations") or ops)
    max_bytes = int(bulk.get("maxPayloadSize") or 1 << 30)
    one = len(json.dumps({"method": "POST", "path": "/Users", "bulkId": "b99999999",
                          "data": user(prefix, 9999999, domain)})) + 2
    batch = max(1, min(ops, max_ops, (max_bytes - 200) // one))
    chunks = [(s, min(n, s + batch)) for s in range(0, n, batch)]
    lock = threading.Lock()
    stats = {"created": 0, "failed": 0, "requests": 0, "bytes": 0, "latencies": [], "errors": {}}
    local = threading.local()

    def run(chunk):
        if not hasattr(local, "c"):
            local.c = Conn(base, token, ca or None)
        s, e = chunk
        req = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": e - s + 1,
               "Operations": [{"method": "POST", "path": "/Users", "bulkId": f"b{i}", "data": user(prefix, i, domain)}
                              for i in range(s, e)]}
        t0 = time.monotonic()
        st, out, size = local.c.call("POST", "/Bulk", req)
        dt = time.monotonic() - t0
        ok = bad = 0
        errs = {}
        if st == 200:
            for op in out.get("Operations") or []:
                if str(op.get("status")) == "201":
                    ok += 1
                else:
                    bad += 1
                    k = str(op.get("status"))
                    errs[k] = errs.get(k, 0) + 1
        else:
            bad = e - s
            errs[f"http{st}"] = e - s
        with lock:
            stats["created"] += ok
            stats["failed"] += bad
            stats["requests"] += 1
            stats["bytes"] += size
            stats["latencies"].append(dt)
            for k, v in errs.items():
                stats["errors"][k] = stats["errors"].get(k, 0) + v

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, chunks))
    secs = time.monotonic() - t0
    lat = sorted(stats.pop("latencies"))
    print(json.dumps({**stats, "users": n, "batch": batch, "clients": clients, "seconds": round(secs, 3),
                      "users_per_s": round(stats["created"] / secs, 1) if secs else None,
                      "request_p50_s": round(lat[len(lat) // 2], 3) if lat else None,
                      "request_max_s": round(lat[-1], 3) if lat else None}))


def cmd_check(base, token, ca, prefix, domain, n):
    """The filters the wrk runs will send find exactly one user each (spot check)."""
    c = Conn(base, token, ca or None)
    n = int(n)
    for i in {0, n // 2, n - 1}:
        for attr, val in (("userName", f"{prefix}-{i}@{domain}"), ("externalId", f"{prefix}-ext-{i}")):
            q = urllib.parse.quote(f'{attr} eq "{val}"')
            st, out, _ = c.call("GET", f"/Users?filter={q}")
            assert st == 200 and out.get("totalResults") == 1, f"{attr} eq {val}: HTTP {st} {str(out)[:300]}"
    st, out, _ = c.call("GET", "/Users?count=1")
    print(json.dumps({"totalResults": out.get("totalResults")}))


def cmd_token(base, bootstrap):
    print(json.dumps(graph_token(base, bootstrap)))


def graph_token(base, bootstrap):
    b = json.load(open(bootstrap))
    ctx = ssl.create_default_context(cafile=b["caCertificate"])
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": b["clientId"],
                                   "client_secret": b["clientSecret"],
                                   "scope": "https://graph.microsoft.com/.default"})
    c.request("POST", f"/{b['tenantId']}/oauth2/v2.0/token", body=body,
              headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    out = json.loads(r.read())
    assert r.status == 200, out
    return {"token": out["access_token"], "tenantId": b["tenantId"], "domain": b["tenantDomain"]}


def cmd_outbound(base, bootstrap, target_url, target_token, n, timeout):
    """(d) Outbound full cycle: an app whose provisioning (scope: all users) points at the target;
    start the job and time until the target holds n users. Tentative Entra-shaped endpoints."""
    b = json.load(open(bootstrap))
    tok = graph_token(base, bootstrap)["token"]
    ctx = ssl.create_default_context(cafile=b["caCertificate"])
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=60)

    def graph(method, path, body=None):
        c.request(method, "/v1.0" + path, body=json.dumps(body) if body is not None else None,
                  headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/json"})
        r = c.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None)

    st, app = graph("POST", "/applications", {"displayName": "SCIM bench target"})
    assert st == 201, app
    st, sp = graph("POST", "/servicePrincipals", {"appId": app["appId"]})
    assert st == 201, sp
    st, out = graph("GET", f"/servicePrincipals/{sp['id']}/synchronization/jobs")
    if st != 200:
        print(json.dumps({"skipped": f"synchronization endpoints not there yet: HTTP {st} {str(out)[:200]}"}))
        return
    st, out = graph("PUT", f"/servicePrincipals/{sp['id']}/synchronization/secrets", {"value": [
        {"key": "BaseAddress", "value": target_url}, {"key": "SecretToken", "value": target_token}]})
    assert st in (200, 204), out
    st, job = graph("POST", f"/servicePrincipals/{sp['id']}/synchronization/jobs", {
        "templateId": "scim", "synchronizationJobSettings": [{"name": "SyncAll", "value": "true"}]})
    assert st == 201, job
    # Every user of the tenant is in scope (SyncAll): wait for all of them, not just n.
    _, listing, _ = Conn(f"{base}/scim/v2/{b['tenantId']}", tok, b["caCertificate"]).call("GET", "/Users?count=0")
    n = max(int(n), int(listing.get("totalResults", 0)))
    t0 = time.monotonic()
    st, out = graph("POST", f"/servicePrincipals/{sp['id']}/synchronization/jobs/{job['id']}/start")
    assert st in (200, 204), out
    tc = Conn(target_url, target_token)
    have, samples = 0, []
    while time.monotonic() - t0 < float(timeout):
        _, res, _ = tc.call("GET", "/Users?count=0")
        have = res.get("totalResults", 0)
        samples.append((round(time.monotonic() - t0, 1), have))
        if have >= int(n):
            break
        time.sleep(2)
    secs = time.monotonic() - t0
    st, status = graph("GET", f"/servicePrincipals/{sp['id']}/synchronization/jobs/{job['id']}")
    print(json.dumps({"users": int(n), "in_target": have, "seconds": round(secs, 1),
                      "users_per_s": round(have / secs, 1) if secs else None, "done": have >= int(n),
                      "job_status": (status or {}).get("status"), "samples": samples[-20:]}))


def cmd_report(out_dir):
    out = pathlib.Path(out_dir)
    res = {}
    for f in sorted(out.glob("*.load.json")):
        res[f.name[:-len(".load.json")]] = json.loads(f.read_text())
    runs = []
    for line in (out / "runs.tsv").read_text().splitlines() if (out / "runs.tsv").exists() else []:
        server, kind, c, wrk_file, pid_file = line.split("\t")
        w = parse_wrk(out / wrk_file)
        runs.append({"server": server, "kind": kind, "c": int(c), **w, "cpu": parse_pidstat(out / pid_file)})
    lines = ["SCIM benchmark  (" + ", ".join(l for l in (out / "meta.env").read_text().split("\n") if l) + ")", ""]
    lines.append(f"{'server':<8} {'what':<28} {'users/s':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU%':>6} {'errors':>7}")

    def row(server, what, ups=None, rps=None, p50=None, p99=None, cpu=None, err=None):
        f = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"
        lines.append(f"{server:<8} {what:<28} {f(ups):>9} {f(rps):>9} {f(p50, 2):>8} {f(p99, 2):>8} {f(cpu, 0):>6} {'-' if err is None else err:>7}")

    bad_runs = [x for x in runs if x["requests"] and (x["non2xx"] + x["errors"]) > 0.01 * x["requests"]]

    for server in ("ostiary", "peer"):
        if f"{server}" in res:
            r = res[server]
            row(server, f"bulk load {r['users']} ({r['batch']}/req)", r["users_per_s"], r["requests"] / r["seconds"],
                (r["request_p50_s"] or 0) * 1000, None, None, r["failed"])
        for x in runs:
            if x["server"] == server:
                what = "single POST /Users" if x["kind"] == "post" else f"filter {x['kind']} eq"
                ups = x["rps"] if x["kind"] == "post" else None
                row(server, f"{what} c={x['c']}", ups, x["rps"], x["p50"], x["p99"], x["cpu"], x["non2xx"] + x["errors"])
    ratios = {}
    if "ostiary" in res and "peer" in res and res["peer"]["users_per_s"]:
        ratios["bulk users/s"] = res["ostiary"]["users_per_s"] / res["peer"]["users_per_s"]
    for x in runs:
        if x["server"] != "ostiary":
            continue
        for y in runs:
            if y["server"] == "peer" and y["kind"] == x["kind"] and y["c"] == x["c"] and x not in bad_runs \
                    and y not in bad_runs:
                if x["rps"] and y["rps"]:
                    ratios[f"{x['kind']} c={x['c']} req/s"] = x["rps"] / y["rps"]
                if x["p99"] and y["p99"]:
                    ratios[f"{x['kind']} c={x['c']} p99 (peer ÷ ostiary)"] = y["p99"] / x["p99"]
    for x in bad_runs:
        lines.append(f"WARNING: {x['server']} {x['kind']} c={x['c']}: {x['non2xx'] + x['errors']} of {x['requests']} "
                     "requests failed (non-2xx or socket errors): its figures measure errors, not the server")
    if ratios:
        lines += ["", "Ostiary ÷ peer:"] + [f"  {k:<40} {v:8.2f}×" for k, v in ratios.items()]
    if (out / "outbound.json").exists():
        lines += ["", "outbound full cycle: " + (out / "outbound.json").read_text().strip()]
    text = "\n".join(lines)
    print(text)
    (out / "summary.txt").write_text(text + "\n")
    (out / "summary.json").write_text(json.dumps({"loads": res, "runs": runs, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
PY
driver() { BENCH_LIB="$BENCH_DIR/lib" timeout --kill-after=10 "$SERVER_TIMEOUT" python3 "$WORK/scim_bench.py" "$@"; }

# wrk scripts: unique users per request (per-thread id from setup()), random existing users.
cat >"$WORK/post.lua" <<'LUA'
local threads = {}
function setup(thread)
    table.insert(threads, thread)
    thread:set("tid", #threads)
end
function init(args)
    prefix, domain, base, n = args[1], args[2], args[3], 0
end
function request()
    n = n + 1
    local name = string.format("%s-t%d-%d@%s", prefix, tid, n, domain)
    local body = string.format('{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s",'
        .. '"externalId":"%s-x","active":true,"name":{"givenName":"Post","familyName":"User"},'
        .. '"emails":[{"primary":true,"type":"work","value":"%s"}]}', name, name, name)
    return wrk.format("POST", base .. "/Users", nil, body)
end
LUA
cat >"$WORK/filter.lua" <<'LUA'
local threads = {}
function setup(thread)
    table.insert(threads, thread)
    thread:set("tid", #threads)
end
local function enc(s)
    return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end
function init(args)
    attr, prefix, domain, base, users = args[1], args[2], args[3], args[4], tonumber(args[5])
    math.randomseed(os.time() * 1000 + tid)
end
function request()
    local i = math.random(0, users - 1)
    local v
    if attr == "userName" then v = string.format("%s-%d@%s", prefix, i, domain) else v = string.format("%s-ext-%d", prefix, i) end
    return wrk.format("GET", base .. "/Users?filter=" .. enc(attr .. ' eq "' .. v .. '"'))
end
LUA

: >"$OUT/runs.tsv"
declare -A URL TOKEN CA PID DOMAIN NUSERS PATHP
SERVERS=()

# ------------------------------------------------------------------ servers
if [[ "$SKIP_OSTIARY" != 1 ]]; then
    ostiary_build_release
    meta ostiary_version "$("$(ostiary_bin)" --version 2>/dev/null | head -n1 || echo unknown) ($(git -C "$OSTIARY_ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit'))"
    port="$(free_port)"
    data="$WORK/ostiary-data"
    # SCIM shares Graph's per-(tenant, app) throttle (default 2,000 burst, 100/s sustained): a
    # benchmark from one app would measure 429s, so the run lifts it (SCIM_RATE_LIMIT=default keeps it).
    if [[ "${SCIM_RATE_LIMIT:-off}" == default ]]; then
        : >"$WORK/ostiary.toml"
    else
        printf '[graph_rate_limit]\nburst = 1000000000\nper_second = 1000000000.0\n' >"$WORK/ostiary.toml"
    fi
    meta graph_rate_limit "${SCIM_RATE_LIMIT:-off}"
    log "starting ostiary on 127.0.0.1:$port (SQLite, $data)"
    OSTIARY_SERVE_TIMEOUT="$SERVER_TIMEOUT" ostiary_start "$data" "$port" "$WORK/ostiary.log" --config "$WORK/ostiary.toml"
    WRAPPERS+=("$OSTIARY_WRAPPER_PID")
    ostiary_wait_ready "$data" "$port" "$OSTIARY_WRAPPER_PID" "$WORK/ostiary.log" 120 || die "ostiary did not become ready"
    OSTIARY_DATA="$data"
    OSTIARY_BASE="https://127.0.0.1:$port"
    tok_json="$(driver token "$OSTIARY_BASE" "$data/bootstrap-credentials.json")"
    tid="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tenantId"])' "$tok_json")"
    URL[ostiary]="$OSTIARY_BASE/scim/v2/$tid"
    PATHP[ostiary]="/scim/v2/$tid"
    TOKEN[ostiary]="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["token"])' "$tok_json")"
    DOMAIN[ostiary]="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["domain"])' "$tok_json")"
    CA[ostiary]="$data/dev-ca.pem"
    PID[ostiary]="$(child_pid "$OSTIARY_WRAPPER_PID")"
    NUSERS[ostiary]="$USERS"
    code="$(curl -s -o /dev/null -w '%{http_code}' --cacert "${CA[ostiary]}" -H "Authorization: Bearer ${TOKEN[ostiary]}" \
        "${URL[ostiary]}/ServiceProviderConfig" || true)"
    if [[ "$code" == 200 ]]; then
        SERVERS+=(ostiary)
    else
        warn "ostiary serves no SCIM yet (GET ${URL[ostiary]}/ServiceProviderConfig → $code): peer only"
        meta ostiary_scim "absent (HTTP $code)"
    fi
fi

start_peer() { # NAME PORT TOKEN LOG
    (exec timeout --kill-after=10 "$SERVER_TIMEOUT" "$VENV/bin/scim2-server" --hostname 127.0.0.1 --port "$2" \
        --bearer-token "$3") </dev/null >"$4" 2>&1 &
    WRAPPERS+=("$!")
    local wrapper="$!" deadline=$(($(date +%s) + 30))
    until curl -fsS -o /dev/null --max-time 2 -H "Authorization: Bearer $3" "http://127.0.0.1:$2/v2/ServiceProviderConfig" 2>/dev/null; do
        kill -0 "$wrapper" 2>/dev/null || { cat "$4" >&2; die "$1 exited"; }
        (($(date +%s) < deadline)) || die "$1 not ready"
        sleep 0.05
    done
    PEER_WRAPPER="$wrapper"
}

if [[ "$SKIP_PEER" != 1 ]]; then
    port="$(free_port)"
    tok="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
    log "starting peer scim2-server on 127.0.0.1:$port"
    start_peer peer "$port" "$tok" "$WORK/peer.log"
    URL[peer]="http://127.0.0.1:$port/v2"
    PATHP[peer]="/v2"
    TOKEN[peer]="$tok"
    DOMAIN[peer]="example.com"
    CA[peer]=""
    PID[peer]="$(child_pid "$PEER_WRAPPER")"
    NUSERS[peer]="$PEER_USERS"
    SERVERS+=(peer)
fi
((${#SERVERS[@]} > 0)) || die "no SCIM server to measure"

# ------------------------------------------------------------------ (a) bulk load, then (b) filters
PREFIX="bench$(date +%s)"
wrk_run() { # SERVER KIND C LUA ARGS...
    local server="$1" kind="$2" c="$3" lua="$4" t=2 base
    shift 4
    base="$server-$kind-c$c"
    if ((c < t)); then t="$c"; fi
    log "measure $server $kind c=$c (${DURATION}s)"
    timeout $((DURATION + 15)) pidstat -u -p "${PID[$server]}" 1 "$DURATION" >"$OUT/$base.pidstat" 2>&1 </dev/null &
    local ps=$!
    AUX_PIDS+=("$ps")
    timeout --kill-after=5 $((DURATION + 30)) wrk -t"$t" -c"$c" -d"${DURATION}s" --timeout 10s --latency \
        -H "Authorization: Bearer ${TOKEN[$server]}" -H "Content-Type: application/scim+json" \
        -H "Accept: application/scim+json" -s "$lua" "${URL[$server]}" -- "$@" >"$OUT/$base.wrk.txt" 2>&1 </dev/null &
    AUX_PIDS+=("$!")
    wait "$!" || warn "wrk exited non-zero for $base (see $OUT/$base.wrk.txt)"
    wait "$ps" 2>/dev/null || true
    printf '%s\t%s\t%s\t%s\t%s\n' "$server" "$kind" "$c" "$base.wrk.txt" "$base.pidstat" >>"$OUT/runs.tsv"
    grep -E 'Requests/sec|Non-2xx' "$OUT/$base.wrk.txt" | sed 's/^/    /' >&2 || true
}

for server in "${SERVERS[@]}"; do
    log "$server: bulk-loading ${NUSERS[$server]} users (${BULK_OPS} ops/request, $BULK_CLIENTS client(s))"
    driver load "${URL[$server]}" "${TOKEN[$server]}" "${CA[$server]}" "${NUSERS[$server]}" "$BULK_OPS" "$BULK_CLIENTS" \
        "$PREFIX" "${DOMAIN[$server]}" | tee "$OUT/$server.load.json" >&2
    driver check "${URL[$server]}" "${TOKEN[$server]}" "${CA[$server]}" "$PREFIX" "${DOMAIN[$server]}" "${NUSERS[$server]}" >&2
done
for server in "${SERVERS[@]}"; do
    for c in "${FILTER_CONNS[@]}"; do
        for attr in userName externalId; do
            wrk_run "$server" "$attr" "$c" "$WORK/filter.lua" "$attr" "$PREFIX" "${DOMAIN[$server]}" "${PATHP[$server]}" "${NUSERS[$server]}"
        done
    done
done
# Single POSTs last: they add users, which must not change the filter runs' tenant size.
for server in "${SERVERS[@]}"; do
    wrk_run "$server" post "$POST_CONNS" "$WORK/post.lua" "${PREFIX}p" "${DOMAIN[$server]}" "${PATHP[$server]}"
done

# ------------------------------------------------------------------ (d) outbound full cycle
if [[ "$OUTBOUND" == 1 && " ${SERVERS[*]} " != *" ostiary "* ]]; then
    warn "SCIM_OUTBOUND=1 needs Ostiary with SCIM: skipped"
elif [[ "$OUTBOUND" == 1 ]]; then
    port="$(free_port)"
    tok="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
    log "outbound: a fresh scim2-server on 127.0.0.1:$port as the target; $OUTBOUND_USERS users in Ostiary"
    start_peer target "$port" "$tok" "$WORK/outbound-target.log"
    have="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("created", 0))' "$OUT/ostiary.load.json" 2>/dev/null || echo 0)"
    if ((have < OUTBOUND_USERS)); then
        driver load "${URL[ostiary]}" "${TOKEN[ostiary]}" "${CA[ostiary]}" $((OUTBOUND_USERS - have)) "$BULK_OPS" "$BULK_CLIENTS" \
            "${PREFIX}o" "${DOMAIN[ostiary]}" >"$OUT/outbound-load.json"
    fi
    driver outbound "$OSTIARY_BASE" "$OSTIARY_DATA/bootstrap-credentials.json" "http://127.0.0.1:$port/v2" "$tok" \
        "$OUTBOUND_USERS" "$OUTBOUND_TIMEOUT" | tee "$OUT/outbound.json" >&2
fi

echo
driver report "$OUT"
echo
echo "results: $OUT"
