#!/usr/bin/env bash
# Sign-in log benchmark: sustained sign-in record ingest through the batched writer (no HTTP), and
# end to end under token-endpoint load with the syslog sink streaming every record to a private
# rsyslogd: HTTP req/s, records ingested per second, queue depth, and the export lag of every
# record (rsyslog reception time - createdDateTime). See bench/README.md. Everything runs under
# `timeout` and is stopped by PID on exit.
#
# Environment (defaults in brackets):
#   BENCH_INGEST_RECORDS [200000]  records per `ostiary bench-log-ingest` run
#   BENCH_INGEST_TASKS [8]         concurrent producers
#   BENCH_INGEST_RUNS [3]          runs per store (SQLite: a fresh data dir each)
#   BENCH_PG_URL                   PostgreSQL URL: ingest runs on PostgreSQL too (same database for every run)
#   BENCH_DURATION [20]            seconds of each measured end-to-end wrk run
#   BENCH_WARMUP [3]               warm-up seconds per end-to-end variant (0: none)
#   BENCH_THREADS [2] / BENCH_CONNS [32]   wrk -t / -c
#   BENCH_VARIANTS ["wrong-secret valid-secret"]   end-to-end variants
#   BENCH_EXPORT_BATCH             syslog sink batch_size (empty: the server's default)
#   BENCH_DRAIN_TIMEOUT [180]      seconds to wait for the collector to receive every record
#   BENCH_QUIET_WAIT [600]         seconds to wait for a quiet machine before each measured phase
#   BENCH_NOISY_CPU [40]           an end-to-end run during which other processes used more than this
#                                  (% of a core; mpstat busy - server - rsyslogd - wrk) counts as noisy...
#   BENCH_E2E_ATTEMPTS [3]         ...and is repeated, at most this many attempts per variant
#   BENCH_SKIP_INGEST / BENCH_SKIP_E2E [0]   1: skip that part
#   BENCH_KEEP_COLLECTOR [0]       1: keep the collector files (gzipped, ~1.5 KB per record)
#   BENCH_OUT                      results directory [bench/results/logs-<UTC timestamp>]
#   OSTIARY_BIN                    prebuilt ostiary binary (default: cargo build --release -p ostiary)
#   RSYSLOGD [/usr/sbin/rsyslogd]
#   CARGO_TARGET_DIR               honoured for the release binary path
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/lib/common.sh
. "$BENCH_DIR/../scripts/lib/common.sh"

RECORDS="${BENCH_INGEST_RECORDS:-200000}"
TASKS="${BENCH_INGEST_TASKS:-8}"
INGEST_RUNS="${BENCH_INGEST_RUNS:-3}"
PG_URL="${BENCH_PG_URL:-}"
DURATION="${BENCH_DURATION:-20}"
WARMUP="${BENCH_WARMUP:-3}"
THREADS="${BENCH_THREADS:-2}"
CONNS="${BENCH_CONNS:-32}"
read -r -a VARIANTS <<<"${BENCH_VARIANTS:-wrong-secret valid-secret}"
EXPORT_BATCH="${BENCH_EXPORT_BATCH:-}"
DRAIN_TIMEOUT="${BENCH_DRAIN_TIMEOUT:-180}"
QUIET_WAIT="${BENCH_QUIET_WAIT:-600}"
ATTEMPTS="${BENCH_E2E_ATTEMPTS:-3}"
NOISY_CPU="${BENCH_NOISY_CPU:-40}"
SKIP_INGEST="${BENCH_SKIP_INGEST:-0}"
SKIP_E2E="${BENCH_SKIP_E2E:-0}"
KEEP_COLLECTOR="${BENCH_KEEP_COLLECTOR:-0}"
RSYSLOGD="${RSYSLOGD:-/usr/sbin/rsyslogd}"
OUT="${BENCH_OUT:-$BENCH_DIR/results/logs-$(date -u +%Y%m%dT%H%M%SZ)}"
TOOL="$BENCH_DIR/lib/logs_bench.py"
GRAPH_SCOPE="https://graph.microsoft.com/.default"

for v in RECORDS TASKS INGEST_RUNS DURATION WARMUP THREADS CONNS DRAIN_TIMEOUT QUIET_WAIT ATTEMPTS NOISY_CPU; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number"
done
[[ -z "$EXPORT_BATCH" || "$EXPORT_BATCH" =~ ^[0-9]+$ ]] || die "BENCH_EXPORT_BATCH must be a whole number"
((DURATION >= 1 && TASKS >= 1 && RECORDS >= TASKS && THREADS >= 1 && CONNS >= THREADS)) ||
    die "durations, producers, threads and connections must be at least 1 (and records >= producers, conns >= threads)"
for v in "${VARIANTS[@]}"; do [[ "$v" == wrong-secret || "$v" == valid-secret ]] || die "BENCH_VARIANTS: wrong-secret and/or valid-secret"; done
if [[ "$SKIP_INGEST" == 1 && "$SKIP_E2E" == 1 ]]; then die "nothing to measure"; fi
# A server lives for one variant: warm-up, drain, measured run, drain.
SERVER_TIMEOUT=$((600 + WARMUP + DURATION + 2 * DRAIN_TIMEOUT))
# The store must be the one chosen here, not one from the caller's environment.
unset OSTIARY_DATABASE_URL OSTIARY_KEK

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d /tmp/ostiary-bench-logs.XXXXXX)"
WRAPPERS=()  # `timeout` wrappers of servers and rsyslogd
AUX_PIDS=()  # wrk, samplers in flight

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${AUX_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${WRAPPERS[@]}"; do
        stop_wrapped "$pid" 5
    done
    local f
    for f in "$WORK"/*.log; do
        [[ -f "$f" ]] || continue
        if (($(stat -c %s "$f") > 2000000)); then
            # The server logs every refused token request at INFO: keep both ends only.
            { head -n 200 "$f"; printf '\n[... %s bytes, %s lines in all; middle cut by bench/logs.sh ...]\n\n' \
                "$(stat -c %s "$f")" "$(wc -l <"$f")"; tail -n 200 "$f"; } >"$OUT/$(basename "$f")" 2>/dev/null || true
        else
            cp "$f" "$OUT"/ 2>/dev/null || true
        fi
    done
    rm -rf "$WORK"
    if ((rc != 0)); then
        echo "bench: FAILED (exit $rc); partial results and logs in $OUT" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

meta() { printf '%s=%s\n' "$1" "$2" >>"$OUT/meta.env"; }
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d[sys.argv[2]])' "$1" "$2"; }
urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
bg() { # run in the background, remember the PID in BG_PID
    "$@" &
    BG_PID=$!
    AUX_PIDS+=("$BG_PID")
}

# quiet_check PHASE: wait (up to BENCH_QUIET_WAIT s) until no compiler runs and the machine is idle.
quiet_check() {
    local j
    log "waiting for a quiet machine before $1 (no cargo/rustc, < 25% busy; up to ${QUIET_WAIT}s)"
    # In the background so that a signal reaches the traps at once, not after up to QUIET_WAIT s.
    bg timeout $((QUIET_WAIT + 60)) python3 "$TOOL" quiet --max-wait "$QUIET_WAIT" >"$WORK/quiet.json"
    wait "$BG_PID" && j="$(cat "$WORK/quiet.json")" || j='{"quiet": false, "error": "check failed"}'
    meta "quiet_$1" "$j"
    { uptime; top -bn1 | head -n 20; } >"$OUT/top-$1.txt" 2>&1 || true
    if grep -q '"quiet": true' <<<"$j"; then
        log "quiet: $j"
    else
        warn "machine NOT quiet before $1: $j (measuring anyway; see $OUT/top-$1.txt)"
    fi
}

# ------------------------------------------------------------------ prerequisites
apt_ensure wrk:wrk curl:curl pidstat:sysstat "$RSYSLOGD:rsyslog"
ostiary_build_release
# A private copy: others may rebuild the shared target dir while this runs.
BIN_MTIME="$(date -u -r "$(ostiary_bin)" +%Y-%m-%dT%H:%M:%SZ)"
cp "$(ostiary_bin)" "$WORK/ostiary"
export OSTIARY_BIN="$WORK/ostiary"
BIN="$OSTIARY_BIN"
: >"$OUT/meta.env"
meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta cores "$(nproc)"
meta ingest_records "$RECORDS"
meta ingest_tasks "$TASKS"
meta ingest_runs "$INGEST_RUNS"
meta duration "$DURATION"
meta warmup "$WARMUP"
meta threads "$THREADS"
meta conns "$CONNS"
meta variants "${VARIANTS[*]}"
meta export_batch "${EXPORT_BATCH:-default}"
meta ostiary_version "$("$BIN" --version 2>/dev/null | head -n1 || echo unknown) ($(git -C "$OSTIARY_ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit'), $(git -C "$OSTIARY_ROOT" status --porcelain 2>/dev/null | grep -c . || true) uncommitted paths at run time; binary built $BIN_MTIME, sha256 $(sha256sum "$BIN" | cut -c1-12))"
meta wrk_version "$(wrk -v 2>&1 | head -n1 | awk '{print $2}')"
meta rsyslog_version "$("$RSYSLOGD" -v 2>/dev/null | head -n1 | awk '{print $2}')"

# ------------------------------------------------------------------ 1. ingest through the writer
ingest_run() { # STORE I DATA_DIR [extra args]
    local store="$1" i="$2" data="$3" f attempt other also=()
    shift 3
    # A local PostgreSQL's CPU is part of the ingest, not noise.
    if [[ "$store" == postgres ]]; then also=(--also-comm postgres); fi
    f="$OUT/ingest-$store-$i"
    for ((attempt = 1; ; attempt++)); do
        log "[ingest] $store run $i: $RECORDS records, $TASKS producers"
        if [[ "$store" == sqlite ]]; then rm -rf "$data"; fi
        if timeout --kill-after=10 600 python3 "$TOOL" cpu-run "${also[@]}" "$f.cpu.json" -- "$BIN" bench-log-ingest --data-dir "$data" "$@" \
            --records "$RECORDS" --tasks "$TASKS" </dev/null >"$f.json" 2>"$WORK/ingest-$store-$i.log"; then
            sed 's/^/    /' "$f.json" "$f.cpu.json" >&2
        else
            warn "bench-log-ingest failed on $store (run $i): $(tail -n 5 "$WORK/ingest-$store-$i.log")"
            { cat "$f.json"; cat "$WORK/ingest-$store-$i.log"; } >"$f.err" 2>/dev/null || true
            rm -f "$f.json"
            return 0
        fi
        other="$(jget "$f.cpu.json" other_cpu_pct)"
        if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$other" "$NOISY_CPU"; then
            if ((attempt < ATTEMPTS)); then
                warn "[ingest] $store run $i: ${other}% of a core went to other processes: repeating it"
                mkdir -p "$OUT/noisy-ingest"
                mv "$f.json" "$OUT/noisy-ingest/ingest-$store-$i-$attempt.json"
                mv "$f.cpu.json" "$OUT/noisy-ingest/ingest-$store-$i-$attempt.cpu.json"
                meta "note_ingest_${store}_${i}_attempt_$attempt" "noisy (${other}% of a core used by other processes), repeated"
                quiet_check "ingest-$store-$i-retry"
                continue
            fi
            warn "[ingest] $store run $i: ${other}% of a core went to other processes, and no attempts are left"
        fi
        return 0
    done
}

if [[ "$SKIP_INGEST" != 1 ]]; then
    quiet_check ingest
    for ((i = 1; i <= INGEST_RUNS; i++)); do
        ingest_run sqlite "$i" "$WORK/ingest-sqlite-$i" # a fresh data dir per run
        rm -rf "$WORK/ingest-sqlite-$i"
    done
    if [[ -n "$PG_URL" ]]; then
        meta ingest_postgres "${PG_URL%%@*}@… (one database for every run; the data dir only holds the KEK)"
        for ((i = 1; i <= INGEST_RUNS; i++)); do
            ingest_run postgres "$i" "$WORK/ingest-postgres" --database-url "$PG_URL"
        done
    fi
fi

# ------------------------------------------------------------------ 2. end to end with the syslog sink
wait_port() { # PORT WRAPPER_PID LOGFILE
    local deadline=$(($(date +%s) + 20))
    until timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; do
        kill -0 "$2" 2>/dev/null || { cat "$3" >&2; die "process exited before listening on $1"; }
        (($(date +%s) < deadline)) || { cat "$3" >&2; die "nothing listening on $1 after 20 s"; }
        sleep 0.05
    done
}

write_lua() { # FILE BODY CORRELATION
    cat >"$1" <<EOF
wrk.method = "POST"
wrk.body = "$2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["client-request-id"] = "$3"
EOF
}

run_e2e() { # VARIANT
    local v="$1" d="$WORK/e2e-$1" rport sport rs_wrapper srv_wrapper base ca tenant client secret body url code
    mkdir -p "$d/rsyslog-work"
    local collector="$d/collector.log"
    rport="$(free_port)"
    # %timegenerated% is when imtcp received the message; date-rfc3339 carries microseconds.
    cat >"$d/rsyslog.conf" <<EOF
global(workDirectory="$d/rsyslog-work" maxMessageSize="256k")
module(load="imtcp")
template(name="lag" type="string" string="%timegenerated:::date-rfc3339% %rawmsg%\\n")
ruleset(name="siem") {
  action(type="omfile" file="$collector" template="lag")
}
input(type="imtcp" port="$rport" ruleset="siem")
EOF
    log "[$v] starting rsyslogd on 127.0.0.1:$rport"
    timeout --kill-after=5 "$SERVER_TIMEOUT" "$RSYSLOGD" -n -f "$d/rsyslog.conf" -i "$d/rsyslogd.pid" \
        </dev/null >"$WORK/e2e-$v.rsyslogd.log" 2>&1 &
    rs_wrapper=$!
    WRAPPERS+=("$rs_wrapper")
    wait_port "$rport" "$rs_wrapper" "$WORK/e2e-$v.rsyslogd.log"

    {
        printf '[[export.sinks]]\ntype = "syslog"\nname = "siem"\naddress = "127.0.0.1:%s"\nhostname = "bench"\n' "$rport"
        if [[ -n "$EXPORT_BATCH" ]]; then printf 'batch_size = %s\n' "$EXPORT_BATCH"; fi
    } >"$d/ostiary.toml"
    cp "$d/ostiary.toml" "$OUT/e2e-$v.ostiary.toml"
    sport="$(free_port)"
    log "[$v] starting ostiary on 127.0.0.1:$sport (SQLite, syslog sink -> $rport)"
    OSTIARY_SERVE_TIMEOUT="$SERVER_TIMEOUT" ostiary_start "$d/data" "$sport" "$WORK/e2e-$v.ostiary.log" --config "$d/ostiary.toml"
    srv_wrapper="$OSTIARY_WRAPPER_PID"
    WRAPPERS+=("$srv_wrapper")
    ostiary_wait_ready "$d/data" "$sport" "$srv_wrapper" "$WORK/e2e-$v.ostiary.log" 120 || die "ostiary did not become ready"

    base="https://127.0.0.1:$sport"
    ca="$d/data/dev-ca.pem"
    tenant="$(jget "$d/data/bootstrap-credentials.json" tenantId)"
    client="$(jget "$d/data/bootstrap-credentials.json" clientId)"
    secret="wrong-secret-for-the-log-benchmark"
    if [[ "$v" == valid-secret ]]; then secret="$(jget "$d/data/bootstrap-credentials.json" clientSecret)"; fi
    url="$base/$tenant/oauth2/v2.0/token"
    body="grant_type=client_credentials&client_id=$(urlencode "$client")&client_secret=$(urlencode "$secret")&scope=$(urlencode "$GRAPH_SCOPE")"
    code="$(curl -sS -o "$d/check.json" -w '%{http_code}' --max-time 10 --cacert "$ca" \
        -H 'Content-Type: application/x-www-form-urlencoded' -H "client-request-id: bench-logs-$v-check" \
        --data "$body" "$url")"
    if [[ "$v" == valid-secret ]]; then
        [[ "$code" == 200 ]] || die "[$v] token request gave HTTP $code: $(head -c 300 "$d/check.json")"
        meta "e2e_${v}_token_alg" "$(python3 -c 'import base64,json,sys; t=json.load(open(sys.argv[1]))["access_token"].split(".")[0]; print(json.loads(base64.urlsafe_b64decode(t+"=="))["alg"])' "$d/check.json")"
    else
        [[ "$code" == 401 ]] || die "[$v] wrong-secret request gave HTTP $code, expected 401: $(head -c 300 "$d/check.json")"
    fi
    write_lua "$d/warmup.lua" "$body" "bench-logs-$v-warmup"
    write_lua "$d/measure.lua" "$body" "bench-logs-$v"

    if ((WARMUP > 0)); then
        log "[$v] warm-up ${WARMUP}s (wrk -t$THREADS -c$CONNS)"
        bg timeout --kill-after=5 $((WARMUP + 20)) wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" --timeout 10s \
            -s "$d/warmup.lua" "$url" >"$WORK/e2e-$v.warmup.log" 2>&1 </dev/null
        wait "$BG_PID" || warn "[$v] warm-up wrk exited non-zero"
    fi
    timeout $((DRAIN_TIMEOUT + 30)) python3 "$TOOL" wait-drained "$base" "$ca" "$collector" --timeout "$DRAIN_TIMEOUT" \
        >"$OUT/e2e-$v.predrain.json" || warn "[$v] warm-up records not drained: $(cat "$OUT/e2e-$v.predrain.json")"

    quiet_check "e2e-$v"
    log "[$v] measure ${DURATION}s: wrk -t$THREADS -c$CONNS, metrics every 0.5 s"
    timeout 30 python3 "$TOOL" scrape "$base" "$ca" --out "$OUT/e2e-$v.metrics-before.txt" >"$OUT/e2e-$v.before.json"
    bg timeout $((DURATION + DRAIN_TIMEOUT + 60)) python3 "$TOOL" sample "$base" "$ca" --out "$OUT/e2e-$v.samples.tsv" \
        --seconds $((DURATION + DRAIN_TIMEOUT + 30)) --interval 0.5
    local sampler="$BG_PID"
    bg timeout --kill-after=5 $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s --latency \
        -s "$d/measure.lua" "$url" >"$OUT/e2e-$v.wrk.txt" 2>&1 </dev/null
    local wrk_wrapper="$BG_PID" pids
    # CPU of the server, rsyslogd and wrk over the run (100% = one core), and of the whole machine.
    pids="$(child_pid "$srv_wrapper"),$(child_pid "$rs_wrapper"),$(child_pid "$wrk_wrapper")"
    bg timeout $((DURATION + 15)) pidstat -u -p "$pids" 1 $((DURATION - 1 > 0 ? DURATION - 1 : 1)) \
        >"$OUT/e2e-$v.pidstat" 2>&1 </dev/null
    local pidstat_pid="$BG_PID"
    bg timeout $((DURATION + 15)) mpstat -u 1 $((DURATION - 1 > 0 ? DURATION - 1 : 1)) >"$OUT/e2e-$v.mpstat" 2>&1 </dev/null
    local mpstat_pid="$BG_PID"
    wait "$wrk_wrapper" || warn "[$v] wrk exited non-zero (see $OUT/e2e-$v.wrk.txt)"
    wait "$pidstat_pid" 2>/dev/null || true
    wait "$mpstat_pid" 2>/dev/null || true
    timeout 30 python3 "$TOOL" scrape "$base" "$ca" >"$OUT/e2e-$v.after.json"
    { uptime; top -bn1 | head -n 20; } >"$OUT/e2e-$v.top-after.txt" 2>&1 || true
    grep -hE 'Requests/sec|Non-2xx|Socket errors' "$OUT/e2e-$v.wrk.txt" | sed 's/^/    /' >&2 || true

    log "[$v] waiting until the collector has every record (up to ${DRAIN_TIMEOUT}s)"
    timeout $((DRAIN_TIMEOUT + 30)) python3 "$TOOL" wait-drained "$base" "$ca" "$collector" --timeout "$DRAIN_TIMEOUT" \
        >"$OUT/e2e-$v.drained.json" || warn "[$v] not drained: $(cat "$OUT/e2e-$v.drained.json")"
    sed 's/^/    /' "$OUT/e2e-$v.drained.json" >&2
    kill -TERM "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    timeout 30 python3 "$TOOL" scrape "$base" "$ca" --out "$OUT/e2e-$v.metrics-end.txt" >"$OUT/e2e-$v.final.json"

    stop_wrapped "$srv_wrapper" 10
    meta "e2e_${v}_server_log_bytes" "$(stat -c %s "$WORK/e2e-$v.ostiary.log")"
    sleep 0.5 # let omfile flush its last batch
    stop_wrapped "$rs_wrapper" 10
    log "[$v] export lag per record (rsyslog reception - createdDateTime)"
    timeout 600 python3 "$TOOL" lag "$collector" --correlation "bench-logs-$v" --out "$OUT/e2e-$v.lag.json" |
        sed 's/^/    /' >&2 || warn "[$v] no records for the lag analysis"
    if [[ "$KEEP_COLLECTOR" == 1 ]]; then gzip -c "$collector" >"$OUT/e2e-$v.collector.log.gz"; fi
    head -n 3 "$collector" | cut -c1-600 >"$OUT/e2e-$v.collector-sample.txt" || true
    cp "$d/rsyslog.conf" "$OUT/e2e-$v.rsyslog.conf"
    rm -rf "$d"
}

if [[ "$SKIP_E2E" != 1 ]]; then
    [[ -x "$RSYSLOGD" ]] || die "rsyslogd not found at $RSYSLOGD"
    for v in "${VARIANTS[@]}"; do
        for ((attempt = 1; ; attempt++)); do
            run_e2e "$v"
            # Others may start compiling after the quiet check: then the run is repeated (fresh
            # server and collector), the noisy one kept aside.
            other="$(python3 "$TOOL" other-cpu "$OUT" "$v")"
            if python3 -c 'import sys; sys.exit(0 if sys.argv[1] != "nan" and float(sys.argv[1]) > float(sys.argv[2]) else 1)' \
                "$other" "$NOISY_CPU"; then
                if ((attempt < ATTEMPTS)); then
                    warn "[$v] ${other}% of a core went to other processes during the run: repeating it (attempt $((attempt + 1)) of $ATTEMPTS)"
                    mkdir -p "$OUT/noisy-e2e-$v-$attempt"
                    mv "$OUT/e2e-$v".* "$OUT/noisy-e2e-$v-$attempt"/
                    meta "note_e2e_${v}_attempt_$attempt" "noisy (${other}% of a core used by other processes), repeated; files in noisy-e2e-$v-$attempt/"
                    continue
                fi
                warn "[$v] ${other}% of a core went to other processes during the run, and no attempts are left"
            fi
            break
        done
    done
fi

echo
python3 "$TOOL" report "$OUT"
echo
echo "results: $OUT"
