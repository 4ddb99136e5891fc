#!/usr/bin/env python3
"""Ingestion's lag in the testbed, run as alice against her halbert-web (standard library).

    lag.py BASE_URL [N]

Starts ingestion for identifier hb-lag (every severity, no rate limit to speak of), then N
times (default 100): writes one line with systemd-cat and asks memory for it every 10 ms until
it is the nearest entry of self_journald. Prints the p50, p99 and max of the time from the write
to searchable, then stops ingestion.
"""
import os, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webapi  # noqa: E402

base = sys.argv[1].rstrip("/")
n = int(sys.argv[2]) if len(sys.argv) > 2 else 100


def call(method, path, body=None):
    return webapi.call(base, method, path, body)


cfg = os.path.expanduser("~/.config/halbert")
os.makedirs(cfg, exist_ok=True)
with open(os.path.join(cfg, "ingestion.yml"), "w") as f:
    f.write("sources:\n  journald:\n    severities: [critical, error, warn, info, debug]\n"
            "    identifiers: [hb-lag]\n    rate_limit_per_min: 100000\n  hwmon:\n    enabled: false\n")
st, s = call("POST", "/api/settings/ingestion/start", {})
assert st == 200 and s["running"], (st, s)
time.sleep(2)
lags = []
for i in range(n):
    line = f"lag probe {i} {os.urandom(6).hex()}"
    t0 = time.monotonic()
    subprocess.run(["systemd-cat", "-t", "hb-lag", "-p", "info"], input=line + "\n", text=True, check=True)
    while True:
        st, r = call("POST", "/api/chat/memory/query", {"query": line, "collection": "self_journald", "k": 1})
        if st == 200 and r["results"] and r["results"][0]["content"].startswith(line):
            break
        if time.monotonic() - t0 > 30:
            sys.exit(f"line {i} not searchable after 30 s")
        time.sleep(0.01)
    lags.append((time.monotonic() - t0) * 1000)
    time.sleep(0.05)
lags.sort()
p99 = lags[min(len(lags) - 1, round(0.99 * (len(lags) - 1)))]
print(f"systemd-cat to searchable in self_journald, {n} lines: p50 {statistics.median(lags):.0f} ms, p99 {p99:.0f} ms, max {lags[-1]:.0f} ms")
call("POST", "/api/settings/ingestion/stop", {})
