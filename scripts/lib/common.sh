# shellcheck shell=bash
# Shared helpers for scripts/test, scripts/pg-throwaway and bench/token-endpoint.sh.
# Source it; it defines functions only (plus OSTIARY_ROOT).

OSTIARY_ROOT="${OSTIARY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

now_ms() { date +%s%3N; }

# Print a TCP port on 127.0.0.1 that is free right now (the kernel picks it).
free_port() {
    python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# apt_ensure "check:package" ...
#   check is a command name or an absolute path (glob allowed); when it is
#   missing, package is installed. `apt-get update` runs once, and only if
#   something has to be installed.
apt_ensure() {
    local spec check pkg missing=()
    for spec in "$@"; do
        check="${spec%%:*}"
        pkg="${spec#*:}"
        if [[ "$check" == /* ]]; then
            if compgen -G "$check" >/dev/null; then continue; fi
        else
            if command -v "$check" >/dev/null 2>&1; then continue; fi
        fi
        missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then return 0; fi
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install: ${missing[*]}"
        sudo=(sudo)
    fi
    log "installing Debian packages: ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >/dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" </dev/null >/dev/null
}

# Path of the ostiary binary: $OSTIARY_BIN, else the release build.
ostiary_bin() {
    if [[ -n "${OSTIARY_BIN:-}" ]]; then
        printf '%s\n' "$OSTIARY_BIN"
    else
        printf '%s/release/ostiary\n' "${CARGO_TARGET_DIR:-$OSTIARY_ROOT/target}"
    fi
}

# Build the release binary unless OSTIARY_BIN points at a prebuilt one.
ostiary_build_release() {
    if [[ -n "${OSTIARY_BIN:-}" ]]; then
        [[ -x "$OSTIARY_BIN" ]] || die "OSTIARY_BIN=$OSTIARY_BIN is not executable"
        log "using prebuilt OSTIARY_BIN=$OSTIARY_BIN (no release build)"
        return 0
    fi
    log "cargo build --release -p ostiary"
    (cd "$OSTIARY_ROOT" && timeout --kill-after=30 "${OSTIARY_BUILD_TIMEOUT:-3000}" cargo build --release -p ostiary)
}

# ostiary_start DATA_DIR PORT LOGFILE [extra serve args...]
#   Starts `ostiary serve` in the background, bounded by `timeout`
#   (OSTIARY_SERVE_TIMEOUT seconds, default 3600). Sets OSTIARY_WRAPPER_PID
#   (the timeout process; signal it to stop the server) and OSTIARY_START_MS.
ostiary_start() {
    local data_dir="$1" port="$2" logfile="$3"
    shift 3
    local bin
    bin="$(ostiary_bin)"
    [[ -x "$bin" ]] || die "ostiary binary not found at $bin"
    mkdir -p "$data_dir"
    OSTIARY_START_MS="$(now_ms)"
    timeout --kill-after=10 "${OSTIARY_SERVE_TIMEOUT:-3600}" \
        "$bin" serve --data-dir "$data_dir" --listen "127.0.0.1:$port" "$@" \
        </dev/null >"$logfile" 2>&1 &
    OSTIARY_WRAPPER_PID=$!
}

# The PID of the real server process under a `timeout` wrapper.
child_pid() {
    local wrapper="$1" pid="" i
    for i in $(seq 1 50); do
        pid="$(pgrep -P "$wrapper" | head -n1 || true)"
        [[ -n "$pid" ]] && break
        sleep 0.02
    done
    printf '%s\n' "${pid:-$wrapper}"
}

# ostiary_wait_ready DATA_DIR PORT WRAPPER_PID LOGFILE [TIMEOUT_S]
#   Polls https://127.0.0.1:PORT/healthz (trusting DATA_DIR/dev-ca.pem) until
#   200 and DATA_DIR/bootstrap-credentials.json exists. Sets OSTIARY_READY_MS.
ostiary_wait_ready() {
    local data_dir="$1" port="$2" pid="$3" logfile="$4" limit="${5:-90}"
    local deadline=$(($(date +%s) + limit))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            warn "ostiary exited before it became ready; last lines of $logfile:"
            tail -n 40 "$logfile" >&2 || true
            return 1
        fi
        if [[ -s "$data_dir/dev-ca.pem" && -s "$data_dir/bootstrap-credentials.json" ]] &&
            curl -fsS -o /dev/null --max-time 2 --cacert "$data_dir/dev-ca.pem" \
                "https://127.0.0.1:$port/healthz" 2>/dev/null; then
            OSTIARY_READY_MS="$(now_ms)"
            return 0
        fi
        if (($(date +%s) >= deadline)); then
            warn "ostiary not ready after ${limit}s; last lines of $logfile:"
            tail -n 40 "$logfile" >&2 || true
            return 1
        fi
        sleep "${OSTIARY_READY_POLL:-0.05}"
    done
}

# stop_wrapped WRAPPER_PID [GRACE_S]: stop a process started as
# `timeout ... CMD &`: SIGTERM to the wrapper (timeout forwards it to CMD),
# then SIGKILL to CMD and to the wrapper if they are still there.
stop_wrapped() {
    local wrapper="$1" grace="${2:-10}" child
    [[ -n "$wrapper" ]] || return 0
    child="$(pgrep -P "$wrapper" 2>/dev/null | head -n1 || true)"
    stop_pid "$wrapper" "$grace"
    if [[ -n "$child" ]] && kill -0 "$child" 2>/dev/null; then
        kill -KILL "$child" 2>/dev/null || true
    fi
}

# stop_pid PID [GRACE_S]: SIGTERM, wait, then SIGKILL. Only the given PID.
stop_pid() {
    local pid="$1" grace="${2:-10}" i
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
