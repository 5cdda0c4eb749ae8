#!/usr/bin/env python3
"""Helpers for bench/logs.sh (stdlib only).

usage:
  logs_bench.py quiet [--max-wait S] [--busy-max PCT]
      Wait until no compiler (cargo, rustc, cc1, ld, ...) runs and the machine is below PCT % busy
      over one second, twice in a row; at most S seconds. Prints JSON {quiet, waited_s, busy_pct,
      builders}; always exits 0 (the caller decides what a noisy machine means).
  logs_bench.py cpu-run [--also-comm NAME] OUT_JSON -- CMD [ARGS...]
      Runs CMD; writes {elapsed_s, cpu_pct (CMD's, 100 = one core), machine_busy_pct, other_cpu_pct,
      also_cpu_pct (processes called NAME, e.g. postgres)}.
  logs_bench.py other-cpu RUN_DIR VARIANT
      CPU (100 = one core) of everything but server, rsyslogd and wrk during an end-to-end run
      (mpstat busy - pidstat of the three), or "nan".
  logs_bench.py scrape BASE CA [--out FILE]
      One GET BASE/metrics; prints JSON {t, <metric>: value, ...} of the log metrics, plus the token
      endpoint's HTTP status counts. With --out, the full exposition is written there too.
  logs_bench.py sample BASE CA --out TSV --seconds S [--interval 0.5]
      Samples the log metrics every INTERVAL s for S s (or until SIGTERM) over one keep-alive
      connection, one TSV line per sample.
  logs_bench.py wait-drained BASE CA COLLECTOR_FILE --timeout S
      Waits until the sign-in queue is empty, the sink's backlog is 0 and the collector file holds
      at least ostiary_signin_log_written_total sign-in lines. Prints JSON; exit 1 on timeout.
  logs_bench.py lag COLLECTOR_FILE --correlation ID --out JSON
      Export lag per record (rsyslog reception time - createdDateTime) of the records tagged
      correlationId=ID (duplicates by id counted once, the first reception kept).
  logs_bench.py report RUN_DIR
      Prints the summary table; writes RUN_DIR/summary.md and RUN_DIR/summary.json.

The collector lines are `<timegenerated rfc3339 with microseconds> <raw RFC 5424 message>`, as
written by the rsyslog template of bench/logs.sh.
"""

import argparse
import calendar
import http.client
import json
import os
import pathlib
import re
import signal
import ssl
import statistics
import sys
import time
import urllib.parse

METRICS = {
    "written": "ostiary_signin_log_written_total",
    "queue_depth": "ostiary_signin_log_queue_depth",
    "dropped": "ostiary_signin_log_dropped_total",
    "export_lag_s": 'ostiary_log_export_lag_seconds{sink="siem"}',
    "export_backlog": 'ostiary_log_export_backlog_records{sink="siem"}',
    "delivered": 'ostiary_log_export_delivered_total{sink="siem"}',
    "export_failures": 'ostiary_log_export_failures_total{sink="siem"}',
}
TOKEN_ROUTE = 'route="/{tenant}/oauth2/v2.0/token"'
BUILDERS = {"cargo", "rustc", "cc1", "cc1plus", "ld", "ld.lld", "lld", "rust-lld", "clippy-driver",
            "rustdoc", "cc", "gcc", "clang", "mold", "sccache", "build-script-build"}

# --------------------------------------------------------------------------- quiet machine


def _machine() -> tuple[int, int]:
    cols = [int(x) for x in pathlib.Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = cols[3] + cols[4]
    return sum(cols[:8]) - idle, sum(cols[:8])


def _builders() -> list[str]:
    me = os.getpid()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            comm = pathlib.Path(f"/proc/{d}/comm").read_text().strip()
        except OSError:
            continue
        if comm in BUILDERS or comm.startswith("build-script"):
            found.append(f"{d}:{comm}")
    return found


def cmd_quiet(a: argparse.Namespace) -> int:
    t0 = time.monotonic()
    good = 0
    while True:
        b = _builders()
        m0 = _machine()
        time.sleep(1.0)
        m1 = _machine()
        total = m1[1] - m0[1]
        busy = 100.0 * (m1[0] - m0[0]) / total if total else 0.0
        good = good + 1 if not b and busy <= a.busy_max else 0
        waited = time.monotonic() - t0
        if good >= 2 or waited >= a.max_wait:
            print(json.dumps({"quiet": good >= 2, "waited_s": round(waited, 1), "busy_pct": round(busy, 1),
                              "builders": b[:20]}))
            return 0
        if not good:
            time.sleep(max(0.0, min(4.0, a.max_wait - waited - 1.0)))


# --------------------------------------------------------------------------- metrics


class Metrics:
    def __init__(self, base: str, ca: str):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port or 443
        self.ctx = ssl.create_default_context(cafile=ca)
        self.conn = None

    def get(self) -> str:
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=10)
                self.conn.request("GET", "/metrics")
                r = self.conn.getresponse()
                body = r.read().decode()
                if r.status != 200:
                    raise RuntimeError(f"/metrics: HTTP {r.status}")
                return body
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def parse_metrics(text: str) -> dict:
    out: dict = {}
    status: dict = {}
    wanted = {v: k for k, v in METRICS.items()}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name, _, value = line.rpartition(" ")
        k = wanted.get(name)
        if k:
            out[k] = float(value)
        elif name.startswith("ostiary_http_requests_total{") and TOKEN_ROUTE in name:
            m = re.search(r'status="(\d+)"', name)
            if m:
                status[m.group(1)] = status.get(m.group(1), 0) + int(float(value))
    out["token_http_status"] = status
    return out


def cmd_cpu_run(a: argparse.Namespace) -> int:
    """Run a command; write its CPU and the machine's over the same interval to a JSON file."""
    import resource
    import subprocess

    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    cores = os.cpu_count() or 1
    hz = os.sysconf("SC_CLK_TCK")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    d0 = _comm_ticks(a.also_comm)
    m0 = _machine()
    t0 = time.monotonic()
    rc = subprocess.call(cmd)
    dt = time.monotonic() - t0
    m1 = _machine()
    d1 = _comm_ticks(a.also_comm)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / dt * 100.0
    also = 100.0 * (d1 - d0) / hz / dt
    total = m1[1] - m0[1]
    busy = 100.0 * cores * (m1[0] - m0[0]) / total if total else 0.0
    out = {"elapsed_s": round(dt, 3), "cpu_pct": round(child, 1), "machine_busy_pct": round(busy, 1),
           "other_cpu_pct": round(busy - child - also, 1), "exit": rc}
    if a.also_comm:
        out["also_comm"] = a.also_comm
        out["also_cpu_pct"] = round(also, 1)
    pathlib.Path(a.out).write_text(json.dumps(out) + "\n")
    return rc


def _comm_ticks(names: list[str]) -> int:
    """CPU ticks of the processes called NAME, with their reaped children's (a postmaster's
    cutime holds the backends that have exited)."""
    if not names:
        return 0
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            raw = pathlib.Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        if comm not in names:
            continue
        f = raw[raw.rindex(")") + 2:].split()
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])  # utime stime cutime cstime
    return total


def cmd_scrape(a: argparse.Namespace) -> int:
    t = time.time()
    text = Metrics(a.base, a.ca).get()
    if a.out:
        pathlib.Path(a.out).write_text(text)
    print(json.dumps({"t": round(t, 3), **parse_metrics(text)}))
    return 0


def cmd_sample(a: argparse.Namespace) -> int:
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    m = Metrics(a.base, a.ca)
    cols = list(METRICS)
    t0 = time.time()
    end = time.monotonic() + a.seconds
    nxt = time.monotonic()
    with open(a.out, "w") as f:
        f.write("t\telapsed_s\t" + "\t".join(cols) + "\n")
        while not stop[0] and time.monotonic() < end:
            t = time.time()
            try:
                v = parse_metrics(m.get())
                f.write(f"{t:.3f}\t{t - t0:.3f}\t" + "\t".join(f"{v.get(c, '')}" for c in cols) + "\n")
            except Exception as e:  # noqa: BLE001 - keep sampling; the gap shows in the file
                f.write(f"{t:.3f}\t{t - t0:.3f}\terror: {e}\n")
            f.flush()
            nxt += a.interval
            time.sleep(max(0.0, nxt - time.monotonic()))
    return 0


SIGNIN_MARK = b" signIn [ostiary@"


def count_signin_lines(path: str) -> int:
    n = 0
    try:
        with open(path, "rb") as f:
            for line in f:
                if SIGNIN_MARK in line:
                    n += 1
    except FileNotFoundError:
        return 0
    return n


def cmd_wait_drained(a: argparse.Namespace) -> int:
    m = Metrics(a.base, a.ca)
    t0 = time.monotonic()
    last = {}
    lines = 0
    while True:
        v = parse_metrics(m.get())
        lines = count_signin_lines(a.collector)
        last = {k: v.get(k) for k in ("written", "queue_depth", "export_backlog", "delivered", "dropped")}
        done = (v.get("queue_depth") == 0 and v.get("export_backlog") == 0
                and v.get("written") is not None and lines >= v["written"])
        waited = time.monotonic() - t0
        if done or waited >= a.timeout:
            print(json.dumps({"drained": done, "waited_s": round(waited, 2), "collector_signin_lines": lines, **last}))
            return 0 if done else 1
        time.sleep(0.25)


# --------------------------------------------------------------------------- export lag

_base_cache: dict[str, int] = {}


def epoch(s: str) -> float:
    """RFC 3339 (any number of fractional digits, Z or +hh:mm) -> POSIX seconds."""
    base = s[:19]
    e = _base_cache.get(base)
    if e is None:
        e = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
        _base_cache[base] = e
    rest = s[19:]
    frac = 0.0
    if rest[:1] == ".":
        i = 1
        while i < len(rest) and rest[i].isdigit():
            i += 1
        frac = float("0" + rest[:i])
        rest = rest[i:]
    off = 0
    if rest not in ("Z", "z", "", "+00:00", "-00:00"):
        sign = 1 if rest[0] == "+" else -1
        off = sign * (int(rest[1:3]) * 3600 + int(rest[4:6]) * 60)
    return e + frac - off


LINE = re.compile(rb'^(\S+) <\d+>1 \S+ \S+ \S+ \S+ signIn \[ostiary@32473 [^\]]*?\bseq="(\d+)" id="([^"]+)" '
                  rb'correlationId="([^"]*)"\]')
CREATED = re.compile(rb'"createdDateTime":"([^"]+)"')
ERRCODE = re.compile(rb'"errorCode":(-?\d+)')


def pct(sorted_vals: list[float], p: float):
    """Nearest-rank percentile."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def cmd_lag(a: argparse.Namespace) -> int:
    want = a.correlation.encode()
    seen: set[bytes] = set()
    lags: list[tuple[float, float]] = []  # (created, lag)
    dup = unparsed = other = 0
    codes: dict[str, int] = {}
    fractional = True
    with open(a.collector, "rb") as f:
        for line in f:
            if SIGNIN_MARK not in line:
                continue
            m = LINE.match(line)
            if not m:
                unparsed += 1
                continue
            if m.group(4) != want:
                other += 1
                continue
            rid = m.group(3)
            if rid in seen:
                dup += 1
                continue
            seen.add(rid)
            c = CREATED.search(line, m.end())
            if not c:
                unparsed += 1
                continue
            recv_s = m.group(1).decode()
            if fractional and "." not in recv_s[:26]:
                fractional = False
            created = epoch(c.group(1).decode())
            lags.append((created, epoch(recv_s) - created))
            e = ERRCODE.search(line, m.end())
            code = e.group(1).decode() if e else "?"
            codes[code] = codes.get(code, 0) + 1
    lags.sort()
    v = sorted(x for _, x in lags)
    r = lambda x: None if x is None else round(x * 1000.0, 2)  # noqa: E731 - ms
    out = {
        "correlation": a.correlation,
        "records": len(v),
        "duplicates": dup,
        "other_lines": other,
        "unparsed": unparsed,
        "reception_time_has_fraction": fractional,
        "collector_bytes": os.path.getsize(a.collector),
        "error_codes": codes,
        "lag_ms": {"min": r(v[0] if v else None), "p50": r(pct(v, 50)), "p90": r(pct(v, 90)),
                   "p99": r(pct(v, 99)), "p999": r(pct(v, 99.9)), "max": r(v[-1] if v else None),
                   "mean": r(statistics.fmean(v) if v else None)},
        "first_created": lags[0][0] if lags else None,
        "last_created": lags[-1][0] if lags else None,
        "over_1s": sum(1 for x in v if x >= 1.0),
        "negative": sum(1 for x in v if x < 0),
    }
    # Lag by second of creation: does it grow during the run (the exporter falling behind)?
    per: dict[int, list[float]] = {}
    if lags:
        t0 = lags[0][0]
        for created, lag in lags:
            per.setdefault(int(created - t0), []).append(lag)
    out["per_second"] = []
    for sec, x in sorted(per.items()):
        x.sort()
        out["per_second"].append({"second": sec, "records": len(x), "p50_ms": r(pct(x, 50)),
                                  "p99_ms": r(pct(x, 99)), "max_ms": r(x[-1])})
    text = json.dumps(out, indent=2)
    pathlib.Path(a.out).write_text(text + "\n")
    summary = {k: out[k] for k in ("records", "duplicates", "unparsed", "error_codes", "lag_ms", "over_1s")}
    print(json.dumps(summary))
    return 0 if v else 1


# --------------------------------------------------------------------------- report


def read_env(path: pathlib.Path) -> dict:
    meta = {}
    try:
        for line in path.read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                meta[k.strip()] = v.strip()
    except OSError:
        pass
    return meta


def read_samples(path: pathlib.Path) -> list[dict]:
    rows = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return rows
    if not lines:
        return rows
    hdr = lines[0].split("\t")
    for line in lines[1:]:
        cols = line.split("\t")
        if len(cols) != len(hdr):
            continue
        try:
            rows.append({k: float(v) if v != "" else None for k, v in zip(hdr, cols)})
        except ValueError:
            continue
    return rows


def pidstat_by_command(path: pathlib.Path) -> dict:
    """Average %CPU per command (100 = one core) from pidstat's "Average:" lines."""
    out: dict = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    cpu_col = None
    for line in lines:
        cols = line.split()
        if "%CPU" in cols and "Command" in cols:
            cpu_col = len(cols) - cols.index("%CPU")
        elif line.startswith("Average:") and cpu_col and len(cols) >= cpu_col:
            try:
                out[cols[-1]] = out.get(cols[-1], 0.0) + float(cols[len(cols) - cpu_col])
            except ValueError:
                pass
    return out


def mpstat_all(path: pathlib.Path) -> dict:
    """Machine-wide averages (percent of all cores) from mpstat's "Average: all" line."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    hdr = None
    for line in lines:
        cols = line.split()
        if "%idle" in cols:
            hdr = cols
        elif line.startswith("Average:") and hdr and len(cols) >= 3 and cols[1] == "all":
            names = hdr[len(hdr) - (len(cols) - 2):]
            try:
                return {k.lstrip("%"): float(x) for k, x in zip(names, cols[2:])}
            except ValueError:
                return {}
    return {}


def other_cpu(run: pathlib.Path, variant: str, cores: int):
    """CPU (100 = one core) used during the run by anything but the server, rsyslogd and wrk."""
    cpu = pidstat_by_command(run / f"e2e-{variant}.pidstat")
    machine = mpstat_all(run / f"e2e-{variant}.mpstat")
    if machine.get("idle") is None or not cpu:
        return None
    return (100.0 - machine["idle"]) * cores - sum(cpu.values())


def cmd_other_cpu(a: argparse.Namespace) -> int:
    run = pathlib.Path(a.run)
    cores = int(read_env(run / "meta.env").get("cores", "0") or 0) or os.cpu_count() or 1
    v = other_cpu(run, a.variant, cores)
    print("nan" if v is None else f"{v:.0f}")
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from report import fmt, parse_wrk  # bench/lib/report.py

    run = pathlib.Path(a.run)
    meta = read_env(run / "meta.env")

    def load(name):
        try:
            return json.loads((run / name).read_text())
        except (OSError, ValueError):
            return None

    result: dict = {"meta": meta, "ingest": {}, "e2e": {}}
    out: list[str] = []
    p = out.append
    p(f"# Sign-in log ingest and SIEM export lag ({meta.get('date', '?')})")
    p("")
    p(f"{meta.get('cores', '?')} cores shared by server, wrk, rsyslogd and the samplers; all on 127.0.0.1. "
      f"{meta.get('ostiary_version', '')}")
    p("")

    # 1. ingest
    p(f"## Ingest through the batched writer (`bench-log-ingest`, {meta.get('ingest_records', '?')} records, "
      f"{meta.get('ingest_tasks', '?')} producers, no HTTP)")
    p("")
    p("| store | runs | records/s median | min | max | queue s (median) | ingest CPU % (with PG's) | other CPU % (max) | all written | target ≥ 20,000/s |")
    p("|---|---|---|---|---|---|---|---|---|---|")
    for store in ("sqlite", "postgres"):
        runs = []
        i = 1
        while (j := load(f"ingest-{store}-{i}.json")) is not None or (run / f"ingest-{store}-{i}.err").exists():
            if j:
                runs.append(j)
            i += 1
        if not runs and not (run / f"ingest-{store}-1.err").exists():
            continue
        rates = sorted(r["records_per_s"] for r in runs)
        med = statistics.median(rates) if rates else None
        allw = all(r.get("written") == r.get("records") for r in runs) and len(runs) == i - 1
        result["ingest"][store] = {"runs": runs, "median": med, "min": rates[0] if rates else None,
                                   "max": rates[-1] if rates else None, "attempted": i - 1}
        qs = statistics.median(r["queue_seconds"] for r in runs) if runs else None
        cpus = [c for c in (load(f"ingest-{store}-{k}.cpu.json") for k in range(1, i)) if c]
        result["ingest"][store]["cpu"] = cpus
        ok = "yes" if med and med >= 20000 else "**no**"
        ccpu = statistics.median(c["cpu_pct"] + c.get("also_cpu_pct", 0.0) for c in cpus) if cpus else None
        cother = max((c["other_cpu_pct"] for c in cpus), default=None)
        p(f"| {store} | {len(runs)}/{i - 1} | {fmt(med, ',.0f')} | {fmt(rates[0] if rates else None, ',.0f')} | "
          f"{fmt(rates[-1] if rates else None, ',.0f')} | {fmt(qs, '.2f')} | {fmt(ccpu, '.0f')} | {fmt(cother, '.0f')} | "
          f"{'yes' if allw else '**no**'} | {ok} |")
    p("")

    # 2. end to end
    variants = [v for v in meta.get("variants", "").split() if (run / f"e2e-{v}.wrk.txt").exists()]
    if variants:
        p(f"## End to end: token endpoint under wrk -t{meta.get('threads', '?')} -c{meta.get('conns', '?')} "
          f"for {meta.get('duration', '?')} s, syslog sink to rsyslogd")
        p("")
        p("| variant | HTTP req/s | p50 ms | p99 ms | statuses | records/s (Δ written ÷ duration) | collector records | "
          "max queue depth | max export-lag gauge s | lag p50 ms | p90 | p99 | max | records > 1 s | p99 < 1 s |")
        p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for v in variants:
        w = parse_wrk(run / f"e2e-{v}.wrk.txt")
        before, after = load(f"e2e-{v}.before.json") or {}, load(f"e2e-{v}.after.json") or {}
        lag = load(f"e2e-{v}.lag.json") or {}
        drained = load(f"e2e-{v}.drained.json") or {}
        samples = read_samples(run / f"e2e-{v}.samples.tsv")
        dur = float(meta.get("duration", "0") or 0)
        rate = rate_window = None
        if before.get("written") is not None and after.get("written") is not None:
            # Every record of the run is created while wrk runs (DURATION s); the scrapes bracket it.
            rate = (after["written"] - before["written"]) / dur if dur else None
            if after["t"] > before["t"]:
                rate_window = (after["written"] - before["written"]) / (after["t"] - before["t"])
        status = {k: after.get("token_http_status", {}).get(k, 0) - before.get("token_http_status", {}).get(k, 0)
                  for k in after.get("token_http_status", {})}
        status = {k: n for k, n in sorted(status.items()) if n}
        # The run's window: from the scrape before wrk to the scrape after it.
        t0, t1 = before.get("t", 0.0), after.get("t", float("inf"))
        during = [s for s in samples if s.get("t") is not None and t0 - 0.5 <= s["t"] <= t1 + 0.25]

        def smax(rows, k):
            return max((s[k] for s in rows if s.get(k) is not None), default=None)

        qmax, lmax, bmax = smax(during, "queue_depth"), smax(during, "export_lag_s"), smax(during, "export_backlog")
        dl = [s for s in during if s.get("delivered") is not None]
        export_rate = ((dl[-1]["delivered"] - dl[0]["delivered"]) / (dl[-1]["t"] - dl[0]["t"])
                       if len(dl) >= 2 and dl[-1]["t"] > dl[0]["t"] else None)
        lm = lag.get("lag_ms", {})
        cpu = pidstat_by_command(run / f"e2e-{v}.pidstat")
        machine = mpstat_all(run / f"e2e-{v}.mpstat")
        # Softirq time not charged to a process, the samplers (a few %), whatever else ran meanwhile.
        other = other_cpu(run, v, int(meta.get("cores", "2") or 2))
        row = {"cpu_pct": cpu, "machine_pct": machine, "other_cpu_pct": other, "export_delivered_per_s_during_run": export_rate, "wrk": w, "records_per_s_written": rate, "records_per_s_written_scrape_window": rate_window,
               "written_delta": (after.get("written") or 0) - (before.get("written") or 0), "token_http_status": status, "max_queue_depth": qmax,
               "max_export_lag_gauge_s": lmax, "max_export_backlog": bmax, "lag": {k: lag.get(k) for k in (
                   "records", "duplicates", "unparsed", "error_codes", "lag_ms", "over_1s", "negative",
                   "reception_time_has_fraction")},
               "collector_records_per_s": (lag.get("records") or 0) / dur if dur else None,
               "drained": drained, "samples_during_run": len(during), "samples_total": len(samples),
               "max_incl_drain": {"queue_depth": smax(samples, "queue_depth"),
                                  "export_lag_s": smax(samples, "export_lag_s"),
                                  "export_backlog": smax(samples, "export_backlog")},
               "dropped": (after.get("dropped") or 0) - (before.get("dropped") or 0)}
        result["e2e"][v] = row
        st = ", ".join(f"{k}×{n:,}" for k, n in status.items()) or "-"
        p99 = lm.get("p99")
        p(f"| {v} | {fmt(w['rps'], ',.0f')} | {fmt(w['p50'], '.2f')} | {fmt(w['p99'], '.2f')} | {st} | "
          f"{fmt(rate, ',.0f')} | {fmt(lag.get('records'), ',d')} | {fmt(qmax, ',.0f')} | {fmt(lmax, '.3f')} | "
          f"{fmt(lm.get('p50'), '.1f')} | {fmt(lm.get('p90'), '.1f')} | {fmt(p99, '.1f')} | {fmt(lm.get('max'), '.1f')} | "
          f"{fmt(lag.get('over_1s'), ',d')} | {'yes' if p99 is not None and p99 < 1000 else '**no**'} |")
    if variants:
        p("")
        for v in variants:
            r = result["e2e"][v]
            w = r["wrk"]
            lag = r["lag"]
            p(f"* {v}: wrk {fmt(w['requests'], ',d')} responses (non-2xx {w['non2xx']:,}, socket errors {w['errors']}); "
              f"collector {fmt(lag.get('records'), ',d')} records tagged for the run "
              f"({fmt(r['collector_records_per_s'], ',.0f')}/s over {meta.get('duration')} s), duplicates "
              f"{lag.get('duplicates')}, error codes {lag.get('error_codes')}; dropped {r['dropped']:.0f}; "
              f"export delivered {fmt(r['export_delivered_per_s_during_run'], ',.0f')}/s during the run "
              f"(`ostiary_log_export_delivered_total`), max backlog sampled {fmt(r['max_export_backlog'], ',.0f')}; "
              f"drained after the run in "
              f"{r['drained'].get('waited_s')} s; server log {int(meta.get(f'e2e_{v}_server_log_bytes', 0)) / 1e6:.0f} MB; "
              f"CPU % (100 = one core) " + (", ".join(f"{k} {c:.0f}" for k, c in r["cpu_pct"].items()) or "-")
              + (f"; machine idle {r['machine_pct'].get('idle', 0):.0f}% of all cores (softirq "
                 f"{r['machine_pct'].get('soft', 0):.0f}%)" if r["machine_pct"] else "")
              + (f"; CPU of everything else {r['other_cpu_pct']:.0f}%" if r["other_cpu_pct"] is not None else "") + ".")
            if r["other_cpu_pct"] is not None and r["other_cpu_pct"] > 40:
                p(f"  **Warning: {v} shared the machine with something else ({r['other_cpu_pct']:.0f}% of a core "
                  f"not used by the server, rsyslogd or wrk; usually < 30): its figures are not clean.**")
        p("")
    p("Lag = rsyslog reception time (`%timegenerated%`, microseconds) − the record's `createdDateTime`, "
      "both from the same clock; percentiles nearest-rank over every record of the measured window.")
    for k in ("quiet", "note"):
        for kk, vv in meta.items():
            if kk.startswith(k):
                p(f"* {kk}: {vv}")
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    (run / "summary.md").write_text(text)
    (run / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("quiet")
    s.add_argument("--max-wait", type=float, default=600)
    s.add_argument("--busy-max", type=float, default=25)
    s.set_defaults(fn=cmd_quiet)
    s = sub.add_parser("scrape")
    s.add_argument("base")
    s.add_argument("ca")
    s.add_argument("--out")
    s.set_defaults(fn=cmd_scrape)
    s = sub.add_parser("sample")
    s.add_argument("base")
    s.add_argument("ca")
    s.add_argument("--out", required=True)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--interval", type=float, default=0.5)
    s.set_defaults(fn=cmd_sample)
    s = sub.add_parser("wait-drained")
    s.add_argument("base")
    s.add_argument("ca")
    s.add_argument("collector")
    s.add_argument("--timeout", type=float, default=120)
    s.set_defaults(fn=cmd_wait_drained)
    s = sub.add_parser("lag")
    s.add_argument("collector")
    s.add_argument("--correlation", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_lag)
    s = sub.add_parser("cpu-run")
    s.add_argument("out")
    s.add_argument("--also-comm", action="append", default=[],
                   help="processes of this name (e.g. postgres) count as part of the measurement")
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s.set_defaults(fn=cmd_cpu_run)
    s = sub.add_parser("other-cpu")
    s.add_argument("run")
    s.add_argument("variant")
    s.set_defaults(fn=cmd_other_cpu)
    s = sub.add_parser("report")
    s.add_argument("run")
    s.set_defaults(fn=cmd_report)
    a = ap.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
