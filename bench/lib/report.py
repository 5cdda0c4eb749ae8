#!/usr/bin/env python3
"""Turn one bench/token-endpoint.sh run directory into a table (stdlib only).

usage: report.py RUN_DIR
Reads RUN_DIR/runs.tsv (server alg c round wrk.txt pidstat.txt), RUN_DIR/meta.env and
RUN_DIR/openssl-speed.txt; prints the report and writes RUN_DIR/summary.txt and summary.json.
"""

import json
import pathlib
import re
import statistics
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def parse_wrk(path):
    out = {"rps": None, "p50": None, "p99": None, "requests": None, "non2xx": 0, "errors": 0}
    try:
        text = path.read_text()
    except OSError:
        return out
    if m := re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M):
        out["rps"] = float(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        if m := re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", text, re.M):
            out[key] = ms(m.group(1))
    if m := re.search(r"^\s+(\d+) requests in", text, re.M):
        out["requests"] = int(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text):
        out["non2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text):
        out["errors"] = sum(int(g) for g in m.groups())
    return out


def parse_pidstat(path):
    """Average %CPU of the process (100 = one core), from pidstat's "Average:" line."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    from_end = None
    for line in lines:
        cols = line.split()
        if "%CPU" in cols:
            # Count from the end: the time column can be one or two words wide.
            from_end = len(cols) - cols.index("%CPU")
        elif line.startswith("Average:") and from_end and len(cols) >= from_end:
            try:
                return float(cols[len(cols) - from_end])
            except ValueError:
                return None
    return None


def parse_speed(path):
    out = {}
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        cols = line.split()
        if line.startswith("rsa 2048 bits") and len(cols) >= 6:
            out["rsa2048_sign_per_s"] = float(cols[-2])
            out["rsa2048_verify_per_s"] = float(cols[-1])
        elif "ecdsa (nistp256)" in line and len(cols) >= 6:
            out["ecdsap256_sign_per_s"] = float(cols[-2])
            out["ecdsap256_verify_per_s"] = float(cols[-1])
    return out


def read_env(path):
    meta = {}
    try:
        for line in path.read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                meta[k.strip()] = v.strip()
    except OSError:
        pass
    return meta


def fmt(v, spec, dash="-"):
    return dash if v is None else format(v, spec)


def main():
    run = pathlib.Path(sys.argv[1])
    rows = []
    index = run / "runs.tsv"
    if index.exists():
        for line in index.read_text().splitlines():
            server, alg, c, rnd, wrk_file, pid_file = line.split("\t")
            r = {"server": server, "alg": alg, "c": int(c), "round": int(rnd)}
            r.update(parse_wrk(run / wrk_file))
            r["cpu"] = parse_pidstat(run / pid_file)
            rows.append(r)
    meta = read_env(run / "meta.env")
    speed = parse_speed(run / "openssl-speed.txt")

    out = []
    p = out.append
    p(f"Token endpoint benchmark, client_credentials, wrk -t{meta.get('threads', '2')} --latency, "
      f"{meta.get('duration', '?')} s per run after {meta.get('warmup', '?')} s warm-up; "
      f"{meta.get('cores', '?')} cores shared by server and load generator; all on 127.0.0.1, TLS with keep-alive.")
    p("")
    hdr = f"{'server':<8} {'alg':<6} {'c':>4} {'round':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'sockerr':>7} {'CPU %':>6}"
    p(hdr)
    p("-" * len(hdr))
    for r in rows:
        p(f"{r['server']:<8} {r['alg']:<6} {r['c']:>4} {r['round']:>5} {fmt(r['rps'], ',.0f'):>9} "
          f"{fmt(r['p50'], '.2f'):>8} {fmt(r['p99'], '.2f'):>8} {r['non2xx']:>8} {r['errors']:>7} {fmt(r['cpu'], '.0f'):>6}")
    p("")

    def mean_rps(server, alg, c):
        v = [r["rps"] for r in rows if (r["server"], r["alg"], r["c"]) == (server, alg, c) and r["rps"] is not None]
        return statistics.mean(v) if v else None

    ratios = []
    keys = sorted({(r["alg"], r["c"]) for r in rows}, key=lambda k: (k[0] != "RS256", k[0], k[1]))
    if any(r["server"] == "ostiary" for r in rows) and any(r["server"] == "peer" for r in rows):
        p("Ostiary / peer (mean req/s over rounds):")
        for alg, c in keys:
            o, q = mean_rps("ostiary", alg, c), mean_rps("peer", alg, c)
            ratio = o / q if o and q else None
            ratios.append({"alg": alg, "c": c, "ostiary_rps": o, "peer_rps": q, "ratio": ratio})
            p(f"  {alg:<6} c={c:<4} ostiary {fmt(o, ',.0f'):>9}  peer {fmt(q, ',.0f'):>9}  ratio {fmt(ratio, '.2f')}x")
        p("")

    if speed:
        p(f"openssl speed -multi 2 -seconds {meta.get('speed_seconds', '?')}: "
          f"RSA-2048 sign {fmt(speed.get('rsa2048_sign_per_s'), ',.0f')}/s, "
          f"ECDSA P-256 sign {fmt(speed.get('ecdsap256_sign_per_s'), ',.0f')}/s")
    limits = {}
    for server in ("ostiary", "peer"):
        best = max((r["rps"] for r in rows if r["server"] == server and r["alg"] == "RS256" and r["rps"]), default=None)
        rsa = speed.get("rsa2048_sign_per_s")
        if best and rsa:
            limits[server] = best / rsa
            p(f"  {server}: best RS256 {best:,.0f} req/s = {best / rsa:.0%} of the 2-core RSA-2048 signing limit")
    p("")
    for server in ("ostiary", "peer"):
        bits = []
        if f"{server}_ready_ms" in meta:
            bits.append(f"time-to-ready {meta[f'{server}_ready_ms']} ms")
        if f"{server}_idle_rss_kb" in meta:
            bits.append(f"idle RSS {int(meta[f'{server}_idle_rss_kb']) / 1024:.1f} MiB")
        if f"{server}_rss_after_kb" in meta:
            bits.append(f"RSS after load {int(meta[f'{server}_rss_after_kb']) / 1024:.1f} MiB")
        if bits:
            p(f"{server}: " + ", ".join(bits))
    for k in ("ostiary_version", "peer_version", "wrk_version", "node_version", "note"):
        if k in meta:
            p(f"{k}: {meta[k]}")

    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    (run / "summary.txt").write_text(text)
    (run / "summary.json").write_text(json.dumps(
        {"runs": rows, "ratios": ratios, "openssl_speed": speed, "rsa_limit_fraction": limits, "meta": meta},
        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
