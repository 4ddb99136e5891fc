#!/usr/bin/env python3
"""Telemetry ingestion in the testbed, run as alice against her halbert-web (standard library).

    ingest.py BASE_URL

Writes alice's ingestion.yml (error/warn, four identifiers, 50 a minute, the cursor saved
every 5 events), starts ingestion, writes known lines with systemd-cat and checks what reached
self_journald: the info line filtered out, a planted DB_PASSWORD redacted in memory and in the
raw store, 80 lines of one identifier rate-limited to 50. Then kill -9s her halbert-web while
40 numbered lines are being written, waits for systemd to restart it (ingestion resumes from
the saved cursor) and checks that every numbered line is in memory exactly once. Stops
ingestion at the end. Exit 0 iff every check holds; prints what it saw.
"""
import glob, os, re, signal, subprocess, sys, threading, time, urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webapi  # noqa: E402

base = sys.argv[1].rstrip("/")
port = base.rsplit(":", 1)[1]


def call(method, path, body=None):
    return webapi.call(base, method, path, body)


def cat(ident, prio, lines):
    subprocess.run(["systemd-cat", "-t", ident, "-p", prio], input="\n".join(lines) + "\n",
                   text=True, check=True)


def contents():
    out, offset = [], 0
    while True:
        st, page = call("GET", f"/api/chat/memory/entries/self_journald?limit=500&offset={offset}")
        assert st == 200, page
        out += [e["content"] for e in page["entries"]]
        offset += len(page["entries"])
        if not page["entries"] or offset >= page.get("total", 0):
            return out


def wait(what, ok, secs=60):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            if ok():
                return
        except (OSError, urllib.error.URLError, AssertionError):
            pass
        time.sleep(0.5)
    sys.exit(f"timed out waiting for {what}")


cfg = os.path.expanduser("~/.config/halbert")
os.makedirs(cfg, exist_ok=True)
with open(os.path.join(cfg, "ingestion.yml"), "w") as f:
    f.write("sources:\n  journald:\n    severities: [critical, error, warn]\n"
            "    identifiers: [hb-redact, hb-flood, hb-seq, hb-info]\n"
            "    rate_limit_per_min: 50\n    cursor_persist_every: 5\n  hwmon:\n    enabled: false\n")

st, s = call("POST", "/api/settings/ingestion/start", {})
assert st == 200 and s["running"], (st, s)
time.sleep(1)  # the stream follows from now on
cat("hb-info", "info", ["routine line that the severity filter drops"])
cat("hb-redact", "err", ["login failed DB_PASSWORD=hunter2 for admin@example.com"])
cat("hb-flood", "warning", [f"flood line {i:02d}" for i in range(80)])


def first_part():
    c = contents()
    return any("DB_PASSWORD=<secret>" in x for x in c) and \
        sum(x.startswith("flood line") for x in c) >= 50
wait("the redacted line and 50 flood lines", first_part)
time.sleep(2)  # anything more would have arrived by now
c = contents()
flood = sum(x.startswith("flood line") for x in c)
st, s = call("GET", "/api/settings/ingestion/status")
print(f"status: journald_events={s['journald_events']} dropped_rate_limited={s['dropped_rate_limited']} "
      f"redacted={s['redacted']} errors={s['errors']} last_journald_event={s['last_journald_event']}")
assert flood == 50, f"{flood} flood lines in memory, not 50"
assert s["dropped_rate_limited"] >= 30, s
assert s["redacted"] >= 2, s  # the password and the address
assert not any("hunter2" in x for x in c), "the password reached memory"
assert not any("routine line" in x for x in c), "an info line passed the filter"
# The raw store is alice's sled database: the planted value is not in it, its placeholder is.
# (sled writes its log within half a second; stopping later flushes everything.)
raw = b"".join(open(p, "rb").read() for p in glob.glob(os.path.expanduser("~/.local/share/halbert/db/**"), recursive=True) if os.path.isfile(p))
assert b"hunter2" not in raw, "the password reached the raw store"
assert b"DB_PASSWORD=<secret>" in raw, "the redacted line is not in the raw store"
print(f"filtered, redacted and rate-limited: 1 redacted line, {flood} of 80 flood lines, no info line")


def web_pid():
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            args = open(p, "rb").read().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"halbert-web") and os.stat(p).st_uid == os.getuid() \
                and (b"--port" not in args or args[args.index(b"--port") + 1] == port.encode()):
            return int(p.split("/")[2])
    return None


before = web_pid()
assert before, "alice's halbert-web is not running"
written = []


def writer():
    for i in range(40):
        cat("hb-seq", "err", [f"numbered line {i:02d}"])
        written.append(i)
        time.sleep(0.1)


t = threading.Thread(target=writer)
t.start()
while len(written) < 12:
    time.sleep(0.02)
os.kill(before, signal.SIGKILL)
print(f"kill -9 {before} after {len(written)} numbered lines were written")
t.join()
wait("halbert-web back", lambda: web_pid() not in (None, before) and call("GET", "/api/health")[0] == 200)
wait("every numbered line", lambda: sum(x.startswith("numbered line") for x in contents()) >= 40)
time.sleep(2)
seen = [m.group(1) for x in contents() for m in [re.match(r"numbered line (\d\d)", x)] if m]
dups = sorted({n for n in seen if seen.count(n) > 1})
missing = sorted({f"{i:02d}" for i in range(40)} - set(seen))
st, s = call("GET", "/api/settings/ingestion/status")
print(f"after the restart (pid {web_pid()}): running={s['running']} numbered lines={len(seen)} "
      f"duplicates read again and not stored twice={s['duplicates']} missing={missing} twice={dups}")
assert s["running"], "ingestion did not resume"
assert not missing and not dups and len(seen) == 40
st, s = call("POST", "/api/settings/ingestion/stop", {})
assert st == 200 and not s["running"] and s["cursor_saved"], s
print("every line exactly once across kill -9; stopped with the cursor saved")
