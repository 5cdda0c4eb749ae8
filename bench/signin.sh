#!/usr/bin/env bash
# Sign-in benchmark: browser password sign-in end to end (authorize -> login page -> credentials ->
# code -> token) under load, against the Argon2id hash limit; client_credentials alongside it; and
# the refresh-token grant with rotation. On SQLite and on PostgreSQL, over TLS on 127.0.0.1.
# See bench/README.md. Everything is bounded by `timeout` and cleaned up on exit.
#
# Environment (defaults in brackets):
#   BENCH_DURATION [20]          seconds per measured run
#   BENCH_USERS [8]              concurrent virtual users of the sign-in load generator
#   BENCH_WARMUP [3]             warm-up seconds (sign-in, client_credentials, refresh) per store
#   BENCH_DIRECTORY_USERS [20]   users created in the directory (at least BENCH_USERS)
#   BENCH_STORES ["sqlite postgres"]
#   BENCH_CC_CONNS [4]           wrk -c for client_credentials (wrk -t1)
#   BENCH_REFRESH_TOKENS [64]    sign-ins done beforehand, one refresh-token family each
#   BENCH_REFRESH_CONNS [16]     wrk -c for the refresh grant
#   BENCH_REFRESH_THREADS [2]    wrk -t for the refresh grant
#   BENCH_HASH_COUNT [10]        hashes timed by `ostiary bench-hash` (0: skip)
#   BENCH_OUT                    results directory [bench/results/signin-<UTC timestamp>]
#   OSTIARY_BIN                  prebuilt ostiary binary (default: cargo build --release -p ostiary)
#   CARGO_TARGET_DIR             honoured for the release binary path
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/lib/common.sh
. "$BENCH_DIR/../scripts/lib/common.sh"

DURATION="${BENCH_DURATION:-20}"
VUS="${BENCH_USERS:-8}"
WARMUP="${BENCH_WARMUP:-3}"
DIR_USERS="${BENCH_DIRECTORY_USERS:-20}"
read -r -a STORES <<<"${BENCH_STORES:-sqlite postgres}"
CC_CONNS="${BENCH_CC_CONNS:-4}"
RT_COUNT="${BENCH_REFRESH_TOKENS:-64}"
RT_CONNS="${BENCH_REFRESH_CONNS:-16}"
RT_THREADS="${BENCH_REFRESH_THREADS:-2}"
HASH_COUNT="${BENCH_HASH_COUNT:-10}"
OUT="${BENCH_OUT:-$BENCH_DIR/results/signin-$(date -u +%Y%m%dT%H%M%SZ)}"
LOAD="$BENCH_DIR/lib/signin_load.py"

for v in DURATION VUS WARMUP DIR_USERS CC_CONNS RT_COUNT RT_CONNS RT_THREADS HASH_COUNT; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number"
done
((DURATION >= 1 && VUS >= 1 && CC_CONNS >= 1 && RT_THREADS >= 1)) || die "durations, users and connections must be at least 1"
((RT_CONNS >= RT_THREADS)) || die "BENCH_REFRESH_CONNS must be at least BENCH_REFRESH_THREADS"
# Every refresh connection needs a token of its own even after two runs lost their in-flight ones.
((RT_COUNT >= 3 * RT_CONNS)) || die "BENCH_REFRESH_TOKENS must be at least 3 x BENCH_REFRESH_CONNS"
((DIR_USERS >= VUS)) || DIR_USERS="$VUS"
for s in "${STORES[@]}"; do [[ "$s" == sqlite || "$s" == postgres ]] || die "BENCH_STORES: sqlite and/or postgres"; done
((${#STORES[@]} > 0)) || die "nothing to measure"
# The server outlives every run of one store: setup, warm-ups, 4 measured runs, sign-ins for tokens.
SERVER_TIMEOUT=$((900 + 4 * (DURATION + 30) + 3 * (WARMUP + 30) + RT_COUNT * 2))

mkdir -p "$OUT"
WORK="$(mktemp -d /tmp/ostiary-bench-signin.XXXXXX)"
export OSTIARY_PG_STATE="$WORK/pg-state" # our own throwaway cluster, never the one of a test run
WRAPPERS=()  # `timeout` wrappers of the servers
AUX_PIDS=()  # pidstat / wrk / load generator in flight
PG_STARTED=0

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${AUX_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${WRAPPERS[@]}"; do
        stop_wrapped "$pid" 5
    done
    if ((PG_STARTED)); then
        timeout 60 "$OSTIARY_ROOT/scripts/pg-throwaway" stop >/dev/null 2>&1 || warn "could not stop the PostgreSQL cluster"
    fi
    cp "$WORK"/*.log "$OUT"/ 2>/dev/null || true
    rm -rf "$WORK"
    if ((rc != 0)); then
        echo "bench: FAILED (exit $rc); partial results and server logs in $OUT" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

meta() { printf '%s=%s\n' "$1" "$2" >>"$OUT/meta.env"; }
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$1" "$2"; }

# ------------------------------------------------------------------ prerequisites
apt_ensure wrk:wrk pidstat:sysstat curl:curl
ostiary_build_release
BIN="$(ostiary_bin)"
: >"$OUT/meta.env"
meta duration "$DURATION"
meta warmup "$WARMUP"
meta vus "$VUS"
meta directory_users "$DIR_USERS"
meta cc_conns "$CC_CONNS"
meta refresh_tokens "$RT_COUNT"
meta refresh_conns "$RT_CONNS"
meta refresh_threads "$RT_THREADS"
meta stores "${STORES[*]}"
meta cores "$(nproc)"
meta wrk_version "$(wrk -v 2>&1 | head -n1 | awk '{print $2}')"
meta python_version "$(python3 --version 2>&1 | awk '{print $2}')"
meta ostiary_version "$("$BIN" --version 2>/dev/null | head -n1 || echo unknown) ($(git -C "$OSTIARY_ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit'))"

# ------------------------------------------------------------------ the hash limit (quiet machine)
if ((HASH_COUNT > 0)); then
    log "ostiary bench-hash --count $HASH_COUNT (Argon2id at the server's parameters)"
    timeout $((HASH_COUNT * 10 + 60)) "$BIN" bench-hash --count "$HASH_COUNT" --data-dir "$WORK/hash-data" \
        </dev/null >"$OUT/bench-hash.json" 2>"$WORK/bench-hash.log" || die "bench-hash failed: $(cat "$WORK/bench-hash.log")"
    sed 's/^/    /' "$OUT/bench-hash.json" >&2
fi

# ------------------------------------------------------------------ helpers
bg() { # run in the background under timeout, remember the PID in BG_PID
    "$@" &
    BG_PID=$!
    AUX_PIDS+=("$BG_PID")
}

# measure STORE NAME WHAT: one measured run of DURATION seconds with pidstat (and the database's CPU).
#   WHAT: signin | cc | signin+cc | refresh
measure() {
    local store="$1" name="$2" what="$3" d="$OUT/$1" pids=() rc=0 pid
    log "[$store] $name (${DURATION}s)"
    bg timeout $((DURATION + 15)) pidstat -u -p "$OPID" 1 "$DURATION" >"$d/$name.pidstat" 2>&1 </dev/null
    pids+=("$BG_PID")
    if [[ -n "$PG_ROOT" ]]; then
        bg timeout $((DURATION + 15)) python3 "$LOAD" treecpu "$PG_ROOT" "$DURATION" >"$d/$name.dbcpu.json" 2>&1 </dev/null
        pids+=("$BG_PID")
    fi
    if [[ "$what" == cc || "$what" == signin+cc ]]; then
        bg timeout --kill-after=5 $((DURATION + 20)) wrk -t1 -c"$CC_CONNS" -d"${DURATION}s" --timeout 10s --latency \
            -s "$WORK/cc.lua" "$TOKEN_URL" >"$d/$name.cc.wrk.txt" 2>&1 </dev/null
        pids+=("$BG_PID")
    fi
    if [[ "$what" == signin || "$what" == signin+cc ]]; then
        bg timeout --kill-after=5 $((DURATION + 200)) python3 "$LOAD" load "$WORK/signin-setup.json" \
            --vus "$VUS" --duration "$DURATION" --out "$d/$name.signin.json" >/dev/null 2>"$d/$name.signin.log" </dev/null
        pids+=("$BG_PID")
    fi
    if [[ "$what" == refresh ]]; then
        bg timeout --kill-after=5 $((DURATION + 20)) wrk -t"$RT_THREADS" -c"$RT_CONNS" -d"${DURATION}s" --timeout 10s \
            --latency -s "$BENCH_DIR/lib/refresh.lua" "$TOKEN_URL" -- "$WORK/refresh-measure.conf" \
            >"$d/$name.wrk.txt" 2>&1 </dev/null
        pids+=("$BG_PID")
    fi
    for pid in "${pids[@]}"; do
        wait "$pid" || rc=1
    done
    ((rc == 0)) || warn "[$store] $name: a load generator exited non-zero (see $d/$name.*)"
    if [[ -f "$d/$name.signin.json" ]]; then
        python3 - "$d/$name.signin.json" >&2 <<'EOF' || true
import json, sys
s = json.load(open(sys.argv[1]))
f = s["flow_ms"]
print(f"    sign-ins/s {s['signins_per_s']}  flow p50/p99 {f['p50']}/{f['p99']} ms  errors {s['errors']} {s['errors_by_kind'] or ''}")
EOF
    fi
    grep -hE 'Requests/sec|Non-2xx|refresh-lua|Socket errors' "$d/$name".*wrk.txt 2>/dev/null | sed 's/^/    /' >&2 || true
}

run_store() {
    local store="$1" d="$OUT/$1" port data url="" extra=()
    mkdir -p "$d"
    PG_ROOT=""
    if [[ "$store" == postgres ]]; then
        log "starting a throwaway PostgreSQL cluster"
        PG_STARTED=1
        url="$(timeout 300 "$OSTIARY_ROOT/scripts/pg-throwaway" start)" || die "pg-throwaway start failed"
        local pgdata
        pgdata="$(timeout 30 "$OSTIARY_ROOT/scripts/pg-throwaway" psql -Atc 'SHOW data_directory')"
        PG_ROOT="$(head -n1 "$pgdata/postmaster.pid")"
        [[ "$PG_ROOT" =~ ^[0-9]+$ ]] || die "no postmaster PID in $pgdata/postmaster.pid"
        meta postgres_version "$(timeout 30 "$OSTIARY_ROOT/scripts/pg-throwaway" psql -Atc 'SHOW server_version')"
        extra=(--database-url "$url")
    fi
    port="$(free_port)"
    data="$WORK/data-$store"
    log "[$store] starting ostiary on 127.0.0.1:$port"
    OSTIARY_SERVE_TIMEOUT="$SERVER_TIMEOUT" ostiary_start "$data" "$port" "$WORK/ostiary-$store.log" "${extra[@]}"
    WRAPPERS+=("$OSTIARY_WRAPPER_PID")
    local wrapper="$OSTIARY_WRAPPER_PID"
    ostiary_wait_ready "$data" "$port" "$wrapper" "$WORK/ostiary-$store.log" 120 || die "ostiary ($store) did not become ready"
    OPID="$(child_pid "$wrapper")"
    local base="https://127.0.0.1:$port"

    log "[$store] Graph set-up: client_credentials app, web client + API with admin consent, $DIR_USERS users"
    timeout 120 python3 "$BENCH_DIR/lib/setup_ostiary.py" "$base" "$data/bootstrap-credentials.json" \
        "$data/dev-ca.pem" >"$WORK/cc-setup.json"
    timeout 300 python3 "$LOAD" setup "$base" "$data/bootstrap-credentials.json" "$data/dev-ca.pem" \
        --users "$DIR_USERS" >"$WORK/signin-setup.json"
    local tenant basic rs_scope
    tenant="$(jget "$WORK/cc-setup.json" '["tenantId"]')"
    basic="$(jget "$WORK/cc-setup.json" '["basic"]')"
    rs_scope="$(jget "$WORK/cc-setup.json" '["resources"]["RS256"]["scope"]')"
    TOKEN_URL="$base/$tenant/oauth2/v2.0/token"
    cat >"$WORK/cc.lua" <<EOF
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$rs_scope")"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
EOF

    if ((WARMUP > 0)); then
        log "[$store] warm-up: sign-in and client_credentials (${WARMUP}s)"
        bg timeout --kill-after=5 $((WARMUP + 20)) wrk -t1 -c"$CC_CONNS" -d"${WARMUP}s" -s "$WORK/cc.lua" "$TOKEN_URL" \
            >"$WORK/warmup-cc-$store.log" 2>&1 </dev/null
        local w=$BG_PID
        timeout --kill-after=5 $((WARMUP + 200)) python3 "$LOAD" load "$WORK/signin-setup.json" --vus "$VUS" \
            --duration "$WARMUP" --out "$d/warmup.signin.json" >/dev/null 2>"$WORK/warmup-signin-$store.log" </dev/null ||
            die "[$store] warm-up sign-ins failed: $(cat "$WORK/warmup-signin-$store.log")"
        wait "$w" || true
        python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(1 if s["completed"] == 0 else 0)' \
            "$d/warmup.signin.json" || die "[$store] no sign-in completed during the warm-up: $(cat "$d/warmup.signin.json")"
    fi

    measure "$store" cc-alone cc
    measure "$store" signin-alone signin
    measure "$store" signin-cc signin+cc

    log "[$store] $RT_COUNT sign-ins for independent refresh-token families"
    timeout --kill-after=5 $((RT_COUNT * 5 + 120)) python3 "$LOAD" load "$WORK/signin-setup.json" --vus "$VUS" \
        --flows "$RT_COUNT" --emit-refresh-tokens "$WORK/rt-0.txt" --out "$d/refresh-signins.json" \
        >/dev/null 2>"$WORK/refresh-signins-$store.log" </dev/null ||
        die "[$store] sign-ins for refresh tokens failed: $(cat "$WORK/refresh-signins-$store.log")"
    # The refresh grant is the web client's (secret in Basic), with the scope MSAL would send.
    local scope cbasic
    scope="$(jget "$WORK/signin-setup.json" '["scope"]')"
    cbasic="$(python3 -c 'import base64,json,sys,urllib.parse as u; s=json.load(open(sys.argv[1])); print(base64.b64encode((u.quote(s["clientId"],safe="")+":"+u.quote(s["clientSecret"],safe="")).encode()).decode())' "$WORK/signin-setup.json")"
    printf 'basic=%s\nscope=%s\ntokens=%s\nthreads=%s\nsave=%s\n' "$cbasic" "$scope" "$WORK/rt-0.txt" "$RT_THREADS" \
        "$WORK/rt-1.txt" >"$WORK/refresh-warmup.conf"
    if ((WARMUP > 0)); then
        log "[$store] warm-up: refresh (${WARMUP}s)"
        timeout --kill-after=5 $((WARMUP + 20)) wrk -t"$RT_THREADS" -c"$RT_CONNS" -d"${WARMUP}s" --timeout 10s \
            -s "$BENCH_DIR/lib/refresh.lua" "$TOKEN_URL" -- "$WORK/refresh-warmup.conf" \
            >"$d/refresh-warmup.wrk.txt" 2>&1 </dev/null || warn "[$store] refresh warm-up: wrk exited non-zero"
        grep -E 'Requests/sec|Non-2xx|refresh-lua' "$d/refresh-warmup.wrk.txt" | sed 's/^/    /' >&2 || true
    else
        cp "$WORK/rt-0.txt" "$WORK/rt-1.txt"
    fi
    local left
    left="$(grep -c . "$WORK/rt-1.txt" || true)"
    ((left >= RT_CONNS)) || die "[$store] only $left refresh tokens left for $RT_CONNS connections"
    sed -e "s|^tokens=.*|tokens=$WORK/rt-1.txt|" -e "s|^save=.*|save=$WORK/rt-2.txt|" \
        "$WORK/refresh-warmup.conf" >"$WORK/refresh-measure.conf"
    measure "$store" refresh refresh

    log "[$store] stopping ostiary"
    stop_wrapped "$wrapper" 10
    if [[ "$store" == postgres ]]; then
        timeout 60 "$OSTIARY_ROOT/scripts/pg-throwaway" stop >/dev/null 2>&1 || warn "could not stop PostgreSQL"
        PG_STARTED=0
    fi
}

for store in "${STORES[@]}"; do
    run_store "$store"
done

echo
python3 "$LOAD" report "$OUT"
echo
echo "results: $OUT"
