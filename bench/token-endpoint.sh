#!/usr/bin/env bash
# Token-endpoint benchmark: Ostiary vs the peer OpenID Provider (panva oidc-provider 9.13.3),
# client_credentials with HTTP Basic, JWT access tokens, RS256 and ES256, over TLS on 127.0.0.1.
# See bench/README.md. Everything is bounded by `timeout` and cleaned up on exit.
#
# Environment (defaults in brackets):
#   BENCH_DURATION [15]        seconds per measured wrk run (BENCH_DURATION=5 for a smoke run)
#   BENCH_WARMUP [5]           warm-up seconds per server and alg before its measured runs (0: none)
#   BENCH_CONNS ["16 64"]      connection counts
#   BENCH_ALGS ["RS256 ES256"] token signing algorithms to compare
#   BENCH_ROUNDS [1]           measured rounds (server order alternates between rounds and c values)
#   BENCH_CA_POLICIES [0]      create this many Conditional Access policies first (195 = Entra's cap);
#                              none blocks the bench client, all are evaluated on every request
#   BENCH_THREADS [2]          wrk threads
#   BENCH_SPEED_SECONDS [5]    seconds per `openssl speed` test (0: skip)
#   BENCH_SKIP_OSTIARY [0]     1: peer only (e.g. while Ostiary cannot serve yet)
#   BENCH_SKIP_PEER [0]        1: Ostiary only
#   BENCH_OUT                  results directory [bench/results/<UTC timestamp>]
#   OSTIARY_BIN                prebuilt ostiary binary (default: cargo build --release -p ostiary)
#   CARGO_TARGET_DIR           honoured for the release binary path
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/lib/common.sh
. "$BENCH_DIR/../scripts/lib/common.sh"

DURATION="${BENCH_DURATION:-15}"
WARMUP="${BENCH_WARMUP:-5}"
read -r -a CONNS <<<"${BENCH_CONNS:-16 64}"
read -r -a ALGS <<<"${BENCH_ALGS:-RS256 ES256}"
ROUNDS="${BENCH_ROUNDS:-1}"
THREADS="${BENCH_THREADS:-2}"
SPEED_SECONDS="${BENCH_SPEED_SECONDS:-5}"
SKIP_OSTIARY="${BENCH_SKIP_OSTIARY:-0}"
SKIP_PEER="${BENCH_SKIP_PEER:-0}"
SERVER_TIMEOUT=$((600 + ${#ALGS[@]} * (2 * WARMUP + ROUNDS * ${#CONNS[@]} * 2 * (DURATION + 25))))
OUT="${BENCH_OUT:-$BENCH_DIR/results/$(date -u +%Y%m%dT%H%M%SZ)}"
PEER_TENANT=tenant1
PEER_BASIC="$(printf 'bench:bench-secret' | base64)"

for v in DURATION WARMUP ROUNDS THREADS SPEED_SECONDS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "BENCH_$v must be a whole number"
done
((DURATION >= 1)) || die "BENCH_DURATION must be at least 1"
for a in "${ALGS[@]}"; do [[ "$a" == RS256 || "$a" == ES256 ]] || die "BENCH_ALGS: RS256 and/or ES256"; done
if [[ "$SKIP_OSTIARY" == 1 && "$SKIP_PEER" == 1 ]]; then die "nothing to measure"; fi

mkdir -p "$OUT"
WORK="$(mktemp -d /tmp/ostiary-bench.XXXXXX)"
WRAPPERS=()  # `timeout` wrappers of the servers
AUX_PIDS=()  # pidstat / wrk in flight

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${AUX_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${WRAPPERS[@]}"; do
        stop_wrapped "$pid" 5
    done
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
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# ------------------------------------------------------------------ prerequisites
apt_ensure wrk:wrk pidstat:sysstat openssl:openssl curl:curl
command -v node >/dev/null || die "node is required (Node 20+)"
: >"$OUT/meta.env"
meta duration "$DURATION"
meta warmup "$WARMUP"
meta threads "$THREADS"
meta speed_seconds "$SPEED_SECONDS"
meta cores "$(nproc)"
meta wrk_version "$(wrk -v 2>&1 | head -n1 | awk '{print $2}')"
meta node_version "$(node --version)"
: >"$OUT/runs.tsv"

if [[ "$SKIP_PEER" != 1 ]]; then
    peer_stamp() { { cat "$BENCH_DIR/peer/package.json" "$BENCH_DIR/peer/package-lock.json" 2>/dev/null || true; } | sha256sum | cut -d' ' -f1; }
    stamp="$(peer_stamp)"
    if [[ "$(cat "$BENCH_DIR/peer/node_modules/.ostiary-stamp" 2>/dev/null || true)" != "$stamp" ]]; then
        log "npm install (bench/peer: oidc-provider, jose)"
        npm_cmd=(install)
        if [[ -f "$BENCH_DIR/peer/package-lock.json" ]]; then npm_cmd=(ci); fi
        (cd "$BENCH_DIR/peer" && timeout 600 npm "${npm_cmd[@]}" --no-audit --no-fund --loglevel=error </dev/null)
        stamp="$(peer_stamp)"
        printf '%s\n' "$stamp" >"$BENCH_DIR/peer/node_modules/.ostiary-stamp"
    fi
    meta peer_version "oidc-provider $(node -p "require('$BENCH_DIR/peer/node_modules/oidc-provider/package.json').version")"
fi

if [[ "$SKIP_OSTIARY" != 1 ]]; then
    ostiary_build_release
    meta ostiary_version "$("$(ostiary_bin)" --version 2>/dev/null | head -n1 || echo unknown) ($(git -C "$OSTIARY_ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit'))"
fi

# ------------------------------------------------------------------ signing limit (quiet machine)
if ((SPEED_SECONDS > 0)); then
    log "openssl speed -multi 2 -seconds $SPEED_SECONDS rsa2048 ecdsap256"
    timeout $((SPEED_SECONDS * 8 + 60)) openssl speed -multi 2 -seconds "$SPEED_SECONDS" rsa2048 ecdsap256 \
        >"$OUT/openssl-speed.txt" 2>&1 </dev/null
fi

# ------------------------------------------------------------------ servers
declare -A URL LUA PID
write_lua() { # FILE BODY BASIC
    cat >"$1" <<EOF
wrk.method = "POST"
wrk.body = "$2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $3"
EOF
}

urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

if [[ "$SKIP_OSTIARY" != 1 ]]; then
    port="$(free_port)"
    data="$WORK/ostiary-data"
    log "starting ostiary on 127.0.0.1:$port (SQLite, $data)"
    OSTIARY_SERVE_TIMEOUT="$SERVER_TIMEOUT" ostiary_start "$data" "$port" "$WORK/ostiary.log"
    WRAPPERS+=("$OSTIARY_WRAPPER_PID")
    OSTIARY_READY_POLL=0.01 ostiary_wait_ready "$data" "$port" "$OSTIARY_WRAPPER_PID" "$WORK/ostiary.log" 120 ||
        die "ostiary did not become ready"
    opid="$(child_pid "$OSTIARY_WRAPPER_PID")"
    meta ostiary_ready_ms "$((OSTIARY_READY_MS - OSTIARY_START_MS))"
    sleep 1
    meta ostiary_idle_rss_kb "$(rss_kb "$opid")"
    log "ostiary ready in $((OSTIARY_READY_MS - OSTIARY_START_MS)) ms (pid $opid); registering apps via Graph"
    timeout 120 python3 "$BENCH_DIR/lib/setup_ostiary.py" "https://127.0.0.1:$port" \
        "$data/bootstrap-credentials.json" "$data/dev-ca.pem" >"$WORK/setup.json"
    meta ca_policies "${BENCH_CA_POLICIES:-0}"
    basic="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["basic"])' "$WORK/setup.json")"
    tenant="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tenantId"])' "$WORK/setup.json")"
    for alg in "${ALGS[@]}"; do
        scope="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["resources"][sys.argv[2]]["scope"])' "$WORK/setup.json" "$alg")"
        got="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["resources"][sys.argv[2]]["tokenAlg"])' "$WORK/setup.json" "$alg")"
        [[ "$got" == "$alg" ]] || meta note "ostiary issued $got tokens for the $alg resource"
        URL[ostiary.$alg]="https://127.0.0.1:$port/$tenant/oauth2/v2.0/token"
        LUA[ostiary.$alg]="$WORK/ostiary-$alg.lua"
        PID[ostiary.$alg]="$opid"
        write_lua "${LUA[ostiary.$alg]}" "grant_type=client_credentials&scope=$(urlencode "$scope")" "$basic"
    done
fi

if [[ "$SKIP_PEER" != 1 ]]; then
    mkdir -p "$WORK/tls"
    (
        cd "$WORK/tls"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-peer-ca -keyout ca.key -out ca.crt \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
        openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >ext.cnf
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out server.crt
    ) >"$WORK/tls.log" 2>&1 || { cat "$WORK/tls.log" >&2; die "could not make the peer's TLS certificate"; }
    for alg in "${ALGS[@]}"; do
        port="$(free_port)"
        url="https://127.0.0.1:$port/$PEER_TENANT/oauth2/v2.0/token"
        log "starting peer oidc-provider ($alg) on 127.0.0.1:$port"
        t0="$(now_ms)"
        (cd "$BENCH_DIR/peer" && exec env NODE_ENV=production HOST=127.0.0.1 PORT="$port" FORMAT=jwt ALG="$alg" \
            ENTRA="$PEER_TENANT" TLS_CERT="$WORK/tls/server.crt" TLS_KEY="$WORK/tls/server.key" \
            timeout --kill-after=10 "$SERVER_TIMEOUT" node op-server.mjs) </dev/null >"$WORK/peer-$alg.log" 2>&1 &
        WRAPPERS+=("$!")
        wrapper="$!"
        deadline=$(($(date +%s) + 60))
        until curl -fsS -o "$WORK/peer-$alg.token.json" --max-time 5 --cacert "$WORK/tls/ca.crt" \
            -H "Authorization: Basic $PEER_BASIC" -d grant_type=client_credentials -d scope=api.read "$url" 2>/dev/null; do
            kill -0 "$wrapper" 2>/dev/null || { cat "$WORK/peer-$alg.log" >&2; die "peer ($alg) exited"; }
            (($(date +%s) < deadline)) || { cat "$WORK/peer-$alg.log" >&2; die "peer ($alg) not ready"; }
            sleep 0.02
        done
        ppid_="$(child_pid "$wrapper")"
        got="$(python3 -c 'import base64,json,sys; t=json.load(open(sys.argv[1]))["access_token"].split(".")[0]; print(json.loads(base64.urlsafe_b64decode(t+"=="))["alg"])' "$WORK/peer-$alg.token.json")"
        [[ "$got" == "$alg" ]] || die "peer ($alg) issued a $got token"
        if [[ "$alg" == "${ALGS[0]}" ]]; then
            meta peer_ready_ms "$(($(now_ms) - t0))"
            sleep 1
            meta peer_idle_rss_kb "$(rss_kb "$ppid_")"
        fi
        URL[peer.$alg]="$url"
        LUA[peer.$alg]="$WORK/peer-$alg.lua"
        PID[peer.$alg]="$ppid_"
        write_lua "${LUA[peer.$alg]}" "grant_type=client_credentials&scope=api.read" "$PEER_BASIC"
    done
fi

# ------------------------------------------------------------------ load
SERVERS=()
if [[ "$SKIP_OSTIARY" != 1 ]]; then SERVERS+=(ostiary); fi
if [[ "$SKIP_PEER" != 1 ]]; then SERVERS+=(peer); fi

wrk_run() { # KEY CONNS DURATION OUTFILE
    local key="$1" c="$2" d="$3" outfile="$4" t="$THREADS"
    if ((c < t)); then t="$c"; fi
    timeout --kill-after=5 $((d + 20)) wrk -t"$t" -c"$c" -d"${d}s" --timeout 10s --latency \
        -s "${LUA[$key]}" "${URL[$key]}" >"$outfile" 2>&1 </dev/null &
    AUX_PIDS+=("$!")
    wait "$!" || warn "wrk exited non-zero for $key c=$c (see $outfile)"
}

measure() { # SERVER ALG C ROUND
    local server="$1" alg="$2" c="$3" round="$4" key="$1.$2" base
    base="$server-$alg-c$c-r$round"
    log "measure $server $alg c=$c round $round (${DURATION}s)"
    timeout $((DURATION + 15)) pidstat -u -p "${PID[$key]}" 1 "$DURATION" >"$OUT/$base.pidstat" 2>&1 </dev/null &
    local ps=$!
    AUX_PIDS+=("$ps")
    wrk_run "$key" "$c" "$DURATION" "$OUT/$base.wrk.txt"
    wait "$ps" 2>/dev/null || true
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$alg" "$c" "$round" "$base.wrk.txt" "$base.pidstat" >>"$OUT/runs.tsv"
    grep -E 'Requests/sec|Non-2xx' "$OUT/$base.wrk.txt" | sed 's/^/    /' >&2 || true
}

flip=0
for alg in "${ALGS[@]}"; do
    if ((WARMUP > 0)); then
        for server in "${SERVERS[@]}"; do
            log "warm-up $server $alg (${WARMUP}s, c=16)"
            wrk_run "$server.$alg" 16 "$WARMUP" "$WORK/warmup-$server-$alg.txt"
        done
    fi
    for ((round = 1; round <= ROUNDS; round++)); do
        for c in "${CONNS[@]}"; do
            order=("${SERVERS[@]}")
            if ((flip % 2 == 1 && ${#SERVERS[@]} == 2)); then order=("${SERVERS[1]}" "${SERVERS[0]}"); fi
            flip=$((flip + 1))
            for server in "${order[@]}"; do
                measure "$server" "$alg" "$c" "$round"
            done
        done
    done
done

if [[ "$SKIP_OSTIARY" != 1 ]]; then meta ostiary_rss_after_kb "$(rss_kb "$opid")"; fi
if [[ "$SKIP_PEER" != 1 ]]; then meta peer_rss_after_kb "$(rss_kb "${PID[peer.${ALGS[0]}]}")"; fi

echo
python3 "$BENCH_DIR/lib/report.py" "$OUT"
echo
echo "results: $OUT"
