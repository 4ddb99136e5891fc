#!/usr/bin/env python3
"""Testbed cases for the admin actions: service control and logs, the terminal, recovery,
durability of config writes under kill -9, and a directory swapped for a symlink mid-write.

    admin.py CASE        (as root inside the testbed; the clients run as alice and bob)

Every request goes through a user's own halbert-web (alice on :8001, bob on :8002) with curl
run as that user, so halbertd judges the real caller through polkit. Exits non-zero with the
reason when the case fails.
"""
import hashlib, json, os, random, subprocess, sys, threading, time

PORTS = {"alice": 8001, "bob": 8002}


def call(user, method, path, body=None, timeout=400, port=None):
    argv = ["runuser", "-u", user, "--", "curl", "-s", "-m", str(timeout), "-w", "\n%{http_code}", "-X", method]
    data = None
    if body is not None:
        # On stdin: a body can be larger than one argument may be.
        argv += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        data = json.dumps(body)
    argv.append(f"http://127.0.0.1:{port or PORTS[user]}{path}")
    out = subprocess.run(argv, input=data, capture_output=True, text=True).stdout
    text, _, code = out.rpartition("\n")
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = text
    return int(code or 0), data


def sh(*argv):
    return subprocess.run(argv, capture_output=True, text=True).stdout.strip()


def expect(cond, *what):
    if not cond:
        print("not as expected:", *what)
        sys.exit(1)


def show(code, data):
    print(code, json.dumps(data)[:400])


def uid(user):
    return sh("id", "-u", user)


def unit_prop(unit, prop):
    return sh("systemctl", "show", "-p", prop, "--value", unit)


# ---------------------------------------------------------------- services

def case_units():
    """Two test units: one that runs and logs, one whose start fails with exit code 3."""
    with open("/etc/systemd/system/hb-svc.service", "w") as f:
        f.write("[Unit]\nDescription=Halbert test service\n[Service]\n"
                "ExecStart=/bin/sh -c 'echo hb-svc says hello; exec sleep infinity'\n")
    with open("/etc/systemd/system/hb-bad.service", "w") as f:
        f.write("[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo hb-bad is broken >&2; exit 3'\n")
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    expect(unit_prop("hb-svc", "ActiveState") == "inactive", "hb-svc starts inactive")


def case_service_start():
    code, r = call("alice", "POST", "/api/services/hb-svc/start")
    show(code, r)
    expect(code == 200 and r["success"] is True and r["job_result"] == "done", r)
    expect((r["service_name"], r["action"], r["active_state"], r["sub_state"]) ==
           ("hb-svc.service", "start", "active", "running"), r)
    expect(unit_prop("hb-svc", "ActiveState") == "active", "systemd says active")


def case_service_restart():
    before = unit_prop("hb-svc", "MainPID")
    code, r = call("alice", "POST", "/api/services/hb-svc.service/restart")
    show(code, r)
    after = unit_prop("hb-svc", "MainPID")
    print("MainPID", before, "->", after)
    expect(code == 200 and r["success"] and r["job_result"] == "done" and r["active_state"] == "active", r)
    expect(before != after and after != "0", "a new main process")


def case_service_status():
    code, r = call("alice", "GET", "/api/services/hb-svc")
    show(code, r)
    expect(code == 200, r)
    expect(r["service_name"] == "hb-svc.service" and r["active_state"] == "active" and r["sub_state"] == "running", r)
    expect(r["main_pid"] == int(unit_prop("hb-svc", "MainPID")), "main pid")
    expect(r["unit_file_path"] == "/etc/systemd/system/hb-svc.service" and r["description"] == "Halbert test service", r)
    expect(r["since"] and r["since"].endswith("Z") and r["enabled"] in ("static", "disabled", ""), r)
    code, r = call("bob", "GET", "/api/services/hb-svc")
    expect(code == 200 and r["active_state"] == "active", "a read needs only group halbert", r)
    code, r = call("alice", "GET", "/api/services/hb-no-such-unit")
    expect(code == 404 and r["code"] == "not_found", r)


def case_service_logs():
    code, r = call("alice", "GET", "/api/services/hb-svc/logs?lines=5")
    show(code, r)
    expect(code == 200 and r["service_name"] == "hb-svc.service" and 0 < len(r["lines"]) <= 5, r)
    expect(any(l["message"] == "hb-svc says hello" for l in r["lines"]), "the unit's own line")
    for l in r["lines"]:
        expect(set(l) == {"ts", "priority", "pid", "message"} and l["ts"].endswith("Z"), l)
    hello = [l for l in r["lines"] if l["message"] == "hb-svc says hello"]
    expect(hello[-1]["pid"] > 0 and hello[-1]["priority"] == 6, hello)
    code, r = call("alice", "GET", "/api/services/hb-svc/logs?lines=abc")
    expect(code == 400 and r["code"] == "invalid_query", r)
    code, r = call("alice", "GET", "/api/services/hb-svc/logs?lines=1001")
    expect(code == 422, r)
    code, r = call("bob", "GET", "/api/services/hb-svc/logs")
    show(code, r)
    expect(code == 403 and r["action"] == "org.halbert.journal.read", r)


def case_service_stop():
    code, r = call("alice", "POST", "/api/services/hb-svc/stop")
    show(code, r)
    expect(code == 200 and r["success"] and (r["active_state"], r["sub_state"]) == ("inactive", "dead"), r)
    expect(unit_prop("hb-svc", "ActiveState") == "inactive", "systemd says inactive")


def case_service_failing():
    code, r = call("alice", "POST", "/api/services/hb-bad/start")
    show(code, r)
    expect(code == 200 and r["success"] is False and r["job_result"] == "failed", r)
    expect(r["active_state"] == "failed" and "exit-code" in r["message"], r)


def case_service_refused():
    code, r = call("bob", "POST", "/api/services/hb-svc/start")
    show(code, r)
    expect(code == 403 and r["action"] == "org.halbert.service.manage", r)
    expect(unit_prop("hb-svc", "ActiveState") == "inactive", "bob's start did nothing")
    code, r = call("alice", "POST", "/api/services/hb-no-such-unit/start")
    expect(code == 404, r)
    code, r = call("alice", "POST", "/api/services/-bad/start")
    expect(code == 422, r)


def case_policy_denies():
    """alice's own policy forbids service_control for hb-svc*: 403 naming the rule, nothing
    started; her policy back to the default afterwards."""
    code, r = call("alice", "POST", "/api/settings/policy", {"policy": {"default_allow": True, "tools": {
        "service_control": {"conditions": {"names_allow": ["hb-bad*"]}}}}})
    expect(code == 200 and r["status"] == "ok", r)
    try:
        code, r = call("alice", "POST", "/api/services/hb-svc/start")
        show(code, r)
        expect(code == 403 and r["code"] == "policy_denied" and r["rule"] == "tools.service_control.conditions.names_allow", r)
        expect(unit_prop("hb-svc", "ActiveState") == "inactive", "nothing was started")
        code, r = call("bob", "POST", "/api/services/hb-svc/start")
        expect(code == 403 and r["code"] == "permission_denied", "bob's own policy allows it; polkit still refuses", r)
    finally:
        code, r = call("alice", "POST", "/api/settings/policy", {"policy": {"default_allow": True, "tools": {}}})
        expect(code == 200, r)


# ---------------------------------------------------------------- terminal

def run(user, command, **extra):
    return call(user, "POST", "/api/terminal/execute", {"command": command, **extra})


def no_leftovers():
    left = sh("systemctl", "list-units", "--all", "--plain", "--no-legend", "halbert-run-*")
    sleeps = sh("pgrep", "-f", "sleep 1000")
    print("units left:", left or "none", "| sleep 1000 left:", sleeps or "none")
    return not left and not sleeps


def case_terminal_as_user():
    for user in ("alice", "bob"):
        code, r = run(user, "id -u; id -un; echo to-stderr >&2; exit 4")
        show(code, r)
        expect(code == 200 and r["output"] == f"{uid(user)}\n{user}\n", r)
        expect(r["error"] == "to-stderr\n" and r["exit_code"] == 4 and r["truncated"] is False, r)
        expect(isinstance(r["duration_ms"], int), r)
    code, r = run("alice", "pwd")
    expect(r["output"] == "/home/alice\n", "runs in the user's home", r)
    expect(no_leftovers(), "every run's unit is gone")


def case_terminal_sudo():
    code, r = run("alice", "sudo id -u")
    show(code, r)
    expect(code == 200 and r["output"] == "0\n" and r["exit_code"] == 0, r)
    code, r = run("bob", "sudo id -u")
    show(code, r)
    expect(code == 403 and r["action"] == "org.halbert.exec.root", r)
    code, r = run("alice", "sudo")
    expect(code == 422, r)


def case_terminal_timeout():
    t0 = time.time()
    code, r = run("alice", "sleep 1000 & echo started; wait", timeout_s=2)
    show(code, r)
    took = time.time() - t0
    expect(code == 200 and r["exit_code"] == -1 and "timed out after 2 s" in r["error"], r)
    expect(r["output"] == "started\n" and took < 20, took)
    expect(no_leftovers(), "the timed out tree is gone")
    code, r = run("alice", "sleep 1000 & echo done")
    show(code, r)
    expect(code == 200 and r["exit_code"] == 0 and r["output"] == "done\n", r)
    expect(no_leftovers(), "a backgrounded child does not outlive its command")


def case_terminal_capped():
    code, r = run("alice", "head -c 10485760 /dev/zero | tr '\\0' x")
    print(code, len(r["output"]), r["truncated"], r["error"][-80:])
    expect(code == 200 and r["truncated"] is True and len(r["output"]) == 1 << 20, "capped at 1 MiB")
    expect(set(r["output"]) == {"x"} and "dropped" in r["error"], "says so")


def case_terminal_history():
    code, r = call("alice", "GET", "/api/terminal/history?limit=3")
    show(code, r)
    h = r["history"]
    expect(code == 200 and len(h) == 3, r)
    expect(h[0]["command"] == "head -c 10485760 /dev/zero | tr '\\0' x" and h[0]["exit_code"] == 0, h[0])
    code, r = call("alice", "GET", "/api/terminal/history?limit=500")
    cmds = [e["command"] for e in r["history"]]
    expect("sudo id -u" in cmds and any(e["as_root"] for e in r["history"]), cmds)
    code, r = call("bob", "GET", "/api/terminal/history?limit=500")
    cmds = [e["command"] for e in r["history"]]
    expect(cmds == ["id -u; id -un; echo to-stderr >&2; exit 4"], "bob's history is his own; a refused run is none", cmds)


# ---------------------------------------------------------------- safe mode

def case_safe_mode_blocks_everything():
    # Room under the recovery limits, so that what refuses below is safe mode.
    call("alice", "PUT", "/api/settings/recovery/limits", {"max_restart_attempts": 100})
    code, r = call("alice", "POST", "/api/settings/guardrails/safe-mode/enter", {"reason": "testbed: no changes"})
    expect(code == 200, r)
    try:
        before = (unit_prop("hb-svc", "ActiveState"), open("/etc/hb-test.conf").read())
        attempts = [
            ("POST", "/api/services/hb-svc/start", None),
            ("POST", "/api/services/hb-svc/stop", None),
            ("POST", "/api/services/hb-svc/restart", None),
            ("POST", "/api/terminal/execute", {"command": "touch /tmp/hb-safe-mode-ran"}),
            ("POST", "/api/terminal/execute", {"command": "sudo touch /tmp/hb-safe-mode-ran"}),
            ("POST", "/api/settings/recovery/rollback", {"file_path": "/etc/hb-test.conf"}),
            ("POST", "/api/settings/recovery/restart-service", {"service": "hb-svc"}),
            ("POST", "/api/editor/file", {"path": "/etc/hb-test.conf", "content": "no\n"}),
        ]
        for method, path, body in attempts:
            code, r = call("alice", method, path, body)
            print(method, path, code, r.get("code") if isinstance(r, dict) else r)
            expect(code == 423 and r["code"] == "safe_mode_active", path, r)
        after = (unit_prop("hb-svc", "ActiveState"), open("/etc/hb-test.conf").read())
        expect(before == after and not os.path.exists("/tmp/hb-safe-mode-ran"), "nothing changed")
    finally:
        call("alice", "POST", "/api/settings/guardrails/safe-mode/exit")


# ---------------------------------------------------------------- recovery

def write(user, path, content):
    code, f = call(user, "GET", "/api/editor/file?path=" + path)
    return call(user, "POST", "/api/editor/file", {"path": path, "content": content, "version": f["version"]})


def case_recovery_rollback():
    code, r = call("alice", "PUT", "/api/settings/recovery/limits", {"throttle_minutes": 0, "max_rollback_depth": 2})
    expect(code == 200 and r["throttle_minutes"] == 0 and r["max_rollback_depth"] == 2, r)
    for v in ("gen = 1\n", "gen = 2\n", "gen = 3\n"):
        code, r = write("alice", "/etc/hb-test.conf", v)
        expect(code == 200, r)
    steps = []
    for want in ("gen = 2\n", "gen = 1\n"):
        code, r = call("alice", "POST", "/api/settings/recovery/rollback", {"file_path": "/etc/hb-test.conf"})
        show(code, r)
        expect(code == 200 and r["success"], r)
        now = open("/etc/hb-test.conf").read()
        expect(now == want, "rolled back to", want, "found", now)
        steps.append(r["depth"])
    expect(steps == [1, 2], steps)
    code, r = call("alice", "POST", "/api/settings/recovery/rollback", {"file_path": "/etc/hb-test.conf"})
    show(code, r)
    expect(code == 429 and r["limit"] == "max_rollback_depth", r)
    expect(open("/etc/hb-test.conf").read() == "gen = 1\n", "the refused rollback changed nothing")
    # A write ends the chain: the next rollback is one step back from it.
    write("alice", "/etc/hb-test.conf", "gen = 4\n")
    code, r = call("alice", "POST", "/api/settings/recovery/rollback", {"file_path": "/etc/hb-test.conf"})
    expect(code == 200 and r["depth"] == 1 and open("/etc/hb-test.conf").read() == "gen = 1\n", r)
    meta = sh("stat", "-c", "%U:%G:%a", "/etc/hb-test.conf")
    expect(meta == "root:root:640", "owner and mode kept", meta)
    code, r = call("bob", "POST", "/api/settings/recovery/rollback", {"file_path": "/etc/hb-test.conf"})
    expect(code == 403 and r["action"] == "org.halbert.config.write", r)
    code, r = call("alice", "POST", "/api/settings/recovery/rollback", {"file_path": "/etc/hb-never-written.conf"})
    expect(code == 404, r)


def case_recovery_restarts():
    code, r = call("alice", "PUT", "/api/settings/recovery/limits", {"max_restart_attempts": 2, "backoff_minutes": 10})
    expect(code == 200, r)
    for _ in range(2):
        code, r = call("alice", "POST", "/api/settings/recovery/restart-service", {"service": "hb-svc"})
        show(code, r)
        expect(code == 200 and r["success"] and r["active_state"] == "active", r)
    pid = unit_prop("hb-svc", "MainPID")
    code, r = call("alice", "POST", "/api/settings/recovery/restart-service", {"service": "hb-svc.service"})
    show(code, r)
    expect(code == 429 and r["limit"] == "max_restart_attempts", r)
    expect(unit_prop("hb-svc", "MainPID") == pid, "the refused restart did nothing")
    code, r = call("alice", "POST", "/api/settings/recovery/restart-service", {"service": "hb-bad"})
    expect(code == 200 and r["success"] is False and r["job_result"] == "failed", r)
    code, r = call("alice", "GET", "/api/settings/recovery/status")
    show(code, r)
    outcomes = [(a["action"], a["target"], a["outcome"]) for a in r["recent_actions"]]
    expect(("restart_service", "hb-bad.service", "failed") in outcomes, outcomes)
    expect(("restart_service", "hb-svc.service", "limited") in outcomes, outcomes)
    expect(("rollback", "/etc/hb-test.conf", "ok") in outcomes, outcomes)
    expect(r["limits"]["max_restart_attempts"] == 2 and r["limits"]["throttle_minutes"] == 0, r["limits"])
    code, r = call("bob", "GET", "/api/settings/recovery/status")
    outcomes = {(a["target"], a["outcome"]) for a in r["recent_actions"]}
    expect(code == 200 and outcomes == {("/etc/hb-test.conf", "refused")}, "bob's recovery log is his own", r)


def case_recovery_alert():
    listener = subprocess.Popen(["runuser", "-u", "alice", "--", "python3", "/src/tests/testbed/ws_client.py",
                                 "127.0.0.1", "8001", "http://127.0.0.1:8001", "1", "10", "alert"],
                                stdout=subprocess.PIPE, text=True)
    time.sleep(1.5)
    code, r = call("alice", "POST", "/api/settings/recovery/alert", {"message": "disk almost full", "severity": "critical"})
    show(code, r)
    expect(code == 200 and r["alert"]["severity"] == "critical", r)
    out, _ = listener.communicate(timeout=20)
    print(out[-400:])
    expect(listener.returncode == 0 and "disk almost full" in out, "the alert arrived on /ws")
    code, r = call("alice", "GET", "/api/settings/recovery/status")
    expect(r["alerts"][0]["message"] == "disk almost full", r["alerts"])
    code, r = call("alice", "POST", "/api/settings/recovery/alert", {"message": "x", "severity": "loud"})
    expect(code == 422, r)


# ---------------------------------------------------------------- paths

def case_traversal_more():
    os.symlink("/root", "/etc/hb-to-root")
    for path, want in [
        ("/etc/%2e%2e/etc/shadow", 422),
        ("/etc/hb-to-root/.bashrc", 403),
        ("/etc/hb-to-root", 403),
        ("/etc", 400),
    ]:
        code, r = call("alice", "GET", "/api/editor/file?path=" + path)
        print(path, code, r.get("code") if isinstance(r, dict) else r)
        expect(code == want, path, r)
    code, r = call("alice", "POST", "/api/editor/file", {"path": "/etc/hb-to-root/hb-planted", "content": "x\n"})
    expect(code == 403 and not os.path.exists("/root/hb-planted"), r)


def restart_halbertd():
    subprocess.run(["systemctl", "reset-failed", "halbertd"])
    r = subprocess.run(["systemctl", "restart", "halbertd"], capture_output=True, text=True)
    return r.returncode == 0


def case_config():
    cfg = "/etc/halbert/halbertd.yaml"
    os.makedirs("/etc/halbert", exist_ok=True)
    # The package's conffile (the documented defaults), put back afterwards as it was.
    shipped = open(cfg).read() if os.path.exists(cfg) else None
    try:
        with open(cfg, "w") as f:
            f.write("files:\n  deny: [/etc/hb-test.conf]\n")
        expect(restart_halbertd(), "halbertd restarts with the file")
        code, r = call("alice", "GET", "/api/editor/file?path=/etc/hb-test.conf")
        show(code, r)
        expect(code == 403 and r["code"] == "path_not_allowed", "the added entry is enforced", r)
        code, r = call("alice", "GET", "/api/editor/file?path=/etc/hostname")
        expect(code == 200, "the rest is served as before", r)
        with open(cfg, "w") as f:
            f.write("files:\n  read: [etc]\n")
        expect(not restart_halbertd(), "a broken file stops the start")
        log = sh("journalctl", "-u", "halbertd", "-n", "30", "--no-pager")
        expect("/etc/halbert/halbertd.yaml: files.read" in log, "the journal says why", log[-600:])
    finally:
        if shipped is None:
            os.remove(cfg)
        else:
            with open(cfg, "w") as f:
                f.write(shipped)
        restart_halbertd()
    code, r = call("alice", "GET", "/api/editor/file?path=/etc/hb-test.conf")
    expect(code == 200, "with the shipped file again, the defaults", r)


# ---------------------------------------------------------------- durability

def halbertd_pid():
    return int(unit_prop("halbertd", "MainPID") or 0)


def case_durability():
    """100 writes while halbertd is killed with SIGKILL at random moments."""
    path = "/etc/hb-durable.conf"
    with open(path, "w") as f:
        f.write("original\n")
    # Kills restart halbertd far more often than a real failure would; systemd's start limit
    # would (rightly) give up on it, so it is lifted for this case only.
    os.makedirs("/run/systemd/system/halbertd.service.d", exist_ok=True)
    with open("/run/systemd/system/halbertd.service.d/no-start-limit.conf", "w") as f:
        f.write("[Unit]\nStartLimitIntervalSec=0\n[Service]\nRestartSec=100ms\n")
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    rng = random.Random(1)
    versions = {"original\n"}
    acked, kills, torn = 0, 0, []
    try:
        for i in range(100):
            content = f"version {i}\n" + ("x" * 255 + "\n") * rng.randint(1, 1024)
            versions.add(content)
            prev = open(path).read()
            result = {}
            t = threading.Thread(target=lambda: result.update(r=call("alice", "POST", "/api/editor/file", {"path": path, "content": content}, timeout=60)))
            t.start()
            if i % 3 == 0:
                time.sleep(rng.uniform(0, 0.04))
                pid = halbertd_pid()
                if pid:
                    os.kill(pid, 9)
                    kills += 1
            t.join()
            now = open(path).read()
            if now not in versions:
                torn.append((i, len(now), now[:40]))
            code, r = result["r"]
            if code == 200:
                acked += 1
                expect(now == content, f"write {i} was acknowledged, and the file does not hold it")
                _, b = call("alice", "GET", "/api/editor/backups?path=" + path)
                mine = [x for x in b["backups"] if x["backup_id"] == r["backup_id"]]
                expect(mine and mine[0]["sha256"] == hashlib.sha256(prev.encode()).hexdigest(),
                       f"write {i}: its backup holds the content before it", r, mine)
    finally:
        os.remove("/run/systemd/system/halbertd.service.d/no-start-limit.conf")
        subprocess.run(["systemctl", "daemon-reload"], check=True)
    print(f"{acked} of 100 writes acknowledged, {kills} kills, torn: {torn}")
    expect(not torn, "the file was always exactly one written version")
    expect(kills >= 30 and acked >= 50, "enough kills and enough writes", kills, acked)
    for _ in range(50):
        if unit_prop("halbertd", "ActiveState") == "active":
            break
        time.sleep(0.1)
    v = subprocess.run(["halbertd", "audit", "verify"], capture_output=True, text=True)
    print(v.stdout.strip()[-300:], v.stderr.strip()[-300:])
    expect(v.returncode == 0, "audit verify passes")


# ---------------------------------------------------------------- a swapped directory

def case_swap_race():
    """/etc/hb-race is a directory, then a symlink to /root/hb-secret, back and forth, while
    alice reads and writes /etc/hb-race/app.conf: nothing under /root is read or written."""
    os.makedirs("/root/hb-secret", exist_ok=True)
    with open("/root/hb-secret/app.conf", "w") as f:
        f.write("root secret\n")
    os.makedirs("/etc/hb-race.real", exist_ok=True)
    with open("/etc/hb-race.real/app.conf", "w") as f:
        f.write("race 0\n")
    os.rename("/etc/hb-race.real", "/etc/hb-race")
    stop = time.time() + 5
    swaps = 0

    # The directory itself goes and a symlink to /root takes its place, then it comes back:
    # a path resolved while it was a directory meets the symlink when it is opened.
    def swapper():
        nonlocal swaps
        while time.time() < stop:
            os.rename("/etc/hb-race", "/etc/hb-race.away")
            os.symlink("/root/hb-secret", "/etc/hb-race")
            time.sleep(0.001)
            os.remove("/etc/hb-race")
            os.rename("/etc/hb-race.away", "/etc/hb-race")
            swaps += 1
            time.sleep(0.001)

    t = threading.Thread(target=swapper)
    t.start()
    codes, leaked = {}, []
    i = 0
    while time.time() < stop:
        i += 1
        code, r = call("alice", "POST", "/api/editor/file", {"path": "/etc/hb-race/app.conf", "content": f"race {i}\n"})
        codes[code] = codes.get(code, 0) + 1
        code, r = call("alice", "GET", "/api/editor/file?path=/etc/hb-race/app.conf")
        codes[code] = codes.get(code, 0) + 1
        if code == 200 and "secret" in r["content"]:
            leaked.append(r["path"])
    t.join()
    print(f"{i} writes and reads, {swaps} swaps, answers {codes}")
    expect(open("/root/hb-secret/app.conf").read() == "root secret\n", "/root was never written")
    expect(os.listdir("/root/hb-secret") == ["app.conf"], "no temp file was left in /root", os.listdir("/root/hb-secret"))
    expect(not leaked, "/root was never read", leaked)
    expect(codes.get(200, 0) > 0 and codes.get(403, 0) > 0, "both sides of the race were hit", codes)
    expect(set(codes) <= {200, 403, 404, 409}, "every refusal is a clear client error", codes)


if __name__ == "__main__":
    globals()["case_" + sys.argv[1]]()
