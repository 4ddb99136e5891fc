#!/usr/bin/env python3
"""Testbed cases for the safety gate: the system-wide policy halbertd enforces, dry runs with
the real validators (sshd -t, visudo -c, systemd-analyze verify), the restart plan, a model's
suggestion held for approval (approved with polkit, rejected, expired, approved by bob whom
halbertd refuses), and the health gate's automatic rollback.

    gate.py CASE        (as root inside the testbed; the clients run as alice and bob)

Requests go through each user's own halbert-web (alice :8001, bob :8002), made with curl as
that user, so halbertd judges the real caller through polkit.
"""
import glob, hashlib, json, os, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from admin import PORTS, call, expect, sh, show, unit_prop  # noqa: E402

SYSTEM_POLICY = "/etc/halbert/policy.yml"
DEFAULT_POLICY = "/src/packaging/policy.yml"


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def audit_records():
    out = []
    for f in sorted(glob.glob("/var/lib/halbert/audit/*.jsonl")):
        with open(f) as fh:
            out += [json.loads(l) for l in fh if l.strip()]
    return out


def listen(user, count, kind, timeout=30):
    """A /ws client of `user`'s halbert-web collecting `count` messages of `kind`."""
    port = str(PORTS[user])
    p = subprocess.Popen(["runuser", "-u", user, "--", "python3", "/src/tests/testbed/ws_client.py",
                          "127.0.0.1", port, f"http://127.0.0.1:{port}", str(count), str(timeout), kind],
                         stdout=subprocess.PIPE, text=True)
    time.sleep(1.5)
    return p


def ask(user, message, port=None):
    code, r = call(user, "POST", "/api/chat/send", {"message": message}, port=port)
    expect(code == 200, "chat answers", code, r)
    return r


def call_port(user, port, method, path, body=None):
    return call(user, method, path, body, port=port)


# ---------------------------------------------------------------- units the cases use

def case_units():
    """hb-cfg runs while /etc/hb-cfg/app.conf says mode=ok; hb-ok is a healthy unit, stopped."""
    os.makedirs("/etc/hb-cfg", exist_ok=True)
    with open("/etc/hb-cfg/app.conf", "w") as f:
        f.write("# hb-cfg's settings\nmode=ok\n")
    with open("/etc/systemd/system/hb-cfg.service", "w") as f:
        f.write("[Unit]\nDescription=Halbert test: runs while its config says mode=ok\n[Service]\n"
                "ExecStart=/bin/sh -c 'grep -qx mode=ok /etc/hb-cfg/app.conf || { echo hb-cfg: bad config >&2; exit 1; }; exec sleep infinity'\n")
    with open("/etc/systemd/system/hb-dep.service", "w") as f:
        f.write("[Unit]\nDescription=Halbert test: bound to hb-cfg\nBindsTo=hb-cfg.service\nAfter=hb-cfg.service\n"
                "[Service]\nExecStart=/bin/sleep infinity\n")
    for u in ("hb-ok", "hb-ok2", "hb-ok3"):
        with open(f"/etc/systemd/system/{u}.service", "w") as f:
            f.write(f"[Unit]\nDescription=Halbert test: {u}, healthy\n[Service]\nExecStart=/bin/sleep infinity\n")
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    subprocess.run(["systemctl", "start", "hb-cfg", "hb-dep"], check=True)
    expect(unit_prop("hb-cfg", "ActiveState") == "active", "hb-cfg runs")
    expect(unit_prop("hb-ok", "ActiveState") == "inactive", "hb-ok is stopped")


# ---------------------------------------------------------------- the system-wide policy

def write_system_policy(text):
    with open(SYSTEM_POLICY, "w") as f:
        f.write(text)


def case_system_policy():
    """root's /etc/halbert/policy.yml forbids service_control for hb-* units and terminal_root:
    halbertd refuses alice (403 naming the rule) though her own policy allows it, nothing
    changes, and the refusal is audited; a broken file refuses every change."""
    try:
        write_system_policy("default_allow: true\ntools:\n"
                            "  service_control:\n    conditions:\n      names_allow: ['ssh.service', 'nginx.service']\n"
                            "  terminal_root:\n    allow: false\n")
        code, r = call("alice", "GET", "/api/settings/policy")
        show(code, r)
        expect(code == 200 and r["system"]["read_only"] is True and r["system"]["path"] == SYSTEM_POLICY, r)
        expect(r["system"]["policy"]["tools"]["terminal_root"]["allow"] is False, r["system"])
        expect(r["policy"]["tools"].get("service_control") is None, "alice's own policy allows it", r["policy"])
        code, r = call("alice", "POST", "/api/services/hb-ok/start")
        show(code, r)
        expect(code == 403 and r["code"] == "policy_denied", r)
        expect(r["rule"] == "system:tools.service_control.conditions.names_allow", r)
        expect(unit_prop("hb-ok", "ActiveState") == "inactive", "nothing was started")
        code, r = call("alice", "POST", "/api/terminal/execute", {"command": "sudo id -u"})
        show(code, r)
        expect(code == 403 and r["rule"] == "system:tools.terminal_root.allow", r)
        code, r = call("alice", "POST", "/api/terminal/execute", {"command": "id -u"})
        expect(code == 200 and r["exit_code"] == 0, "terminal (not root) is still allowed", r)
        denied = [a for a in audit_records() if a.get("outcome") == "denied"
                  and a.get("details", {}).get("policy_rule") == "tools.service_control.conditions.names_allow"]
        print("audited denials:", len(denied), json.dumps(denied[-1])[:300] if denied else "")
        expect(denied and denied[-1]["details"]["unit"] == "hb-ok.service", "the refusal is audited with the rule")
        write_system_policy("tools: [\n")
        code, r = call("alice", "POST", "/api/services/hb-ok/start")
        show(code, r)
        expect(code == 403 and r["code"] == "policy_denied" and "does not load" in r["detail"], r)
        code, r = call("alice", "GET", "/api/settings/policy")
        expect(r["system"]["policy"] is None and SYSTEM_POLICY in (r["system"].get("error") or ""), r["system"])
    finally:
        subprocess.run(["install", "-m644", DEFAULT_POLICY, SYSTEM_POLICY], check=True)
    code, r = call("alice", "POST", "/api/services/hb-ok/start")
    expect(code == 200 and r["success"], "the shipped default allows it again", r)
    call("alice", "POST", "/api/services/hb-ok/stop")


# ---------------------------------------------------------------- dry runs with the real validators

def dry_run(user, path, content):
    return call(user, "POST", "/api/settings/simulate/file-write", {"path": path, "content": content})


def case_dryrun_sshd():
    path = "/etc/ssh/sshd_config"
    before = sha(path)
    live = open(path).read()
    code, r = dry_run("alice", path, live + "\nThisIsNoOption yes\n")
    show(code, r)
    expect(code == 200, r)
    s = r["simulation"]
    v = s["validation"]
    print("validator:", v["argv"], v["exit_code"], v["output"][:200], v["runner"], v["duration_ms"])
    expect(s["success"] is False and v["validator"] == "sshd" and v["status"] == "failed", s)
    expect(v["argv"][0].endswith("/sshd") and v["argv"][1:3] == ["-t", "-f"] and v["argv"][3] != path, "a private copy", v)
    expect("ThisIsNoOption" in v["output"] and v["exit_code"] == 255, v)
    expect(v["runner"] == "transient-unit", "sandboxed in a transient unit", v)
    expect(s["changes"][0]["type"] == "file_modify" and "+ThisIsNoOption yes" in s["changes"][0]["diff"], s["changes"])
    expect(sha(path) == before, "the live file is untouched")
    expect(not os.listdir("/var/lib/halbert/validate"), "the private copy is gone", os.listdir("/var/lib/halbert/validate"))
    code, r = dry_run("alice", path, live + "\n# a comment only\n")
    expect(code == 200 and r["simulation"]["success"] and r["simulation"]["validation"]["status"] == "passed", r)
    code, r = dry_run("bob", path, live)
    show(code, r)
    expect(code == 403 and r["action"] == "org.halbert.config.write", "bob may not run root's validator", r)
    expect(sha(path) == before, "still untouched")


def case_dryrun_visudo():
    path = "/etc/sudoers.d/90-hb-test"
    code, r = dry_run("alice", path, "alice ALL=(ALL) NOPASSWD ALL\n")
    show(code, r)
    s = r["simulation"]
    expect(code == 200 and s["success"] is False and s["validation"]["validator"] == "visudo", s)
    expect(s["validation"]["status"] == "failed" and s["changes"][0]["type"] == "file_create", s)
    expect(s["changes"][0]["diff"].startswith("--- /dev/null\n"), s["changes"][0])
    expect(not os.path.exists(path), "nothing was written")
    code, r = dry_run("alice", path, "alice ALL=(ALL) NOPASSWD: ALL\n")
    expect(code == 200 and r["simulation"]["validation"]["status"] == "passed", r)
    expect(not os.path.exists(path), "a passing dry run writes nothing either")
    # The gate stops the write itself when the user's policy requires the dry run.
    code, r = call("alice", "POST", "/api/settings/policy", {"policy": {"default_allow": True, "tools": {
        "write_config": {"simulation_required": True}}}})
    expect(code == 200, r)
    try:
        code, r = call("alice", "POST", "/api/editor/file", {"path": path, "content": "alice ALL=(ALL) NOPASSWD ALL\n"})
        show(code, r)
        expect(code == 422 and r["code"] == "simulation_failed" and "visudo" in r["detail"], r)
        expect(r["simulation"]["validation"]["status"] == "failed", r)
        expect(not os.path.exists(path), "the failing validator stopped the write")
    finally:
        call("alice", "POST", "/api/settings/policy", {"policy": {"default_allow": True, "tools": {}}})


def case_dryrun_unit():
    path = "/etc/systemd/system/hb-broken.service"
    code, r = dry_run("alice", path, "[Service]\nExecStart=relative/path --flag\n")
    show(code, r)
    v = r["simulation"]["validation"]
    expect(code == 200 and v["validator"] == "systemd-analyze" and v["status"] == "failed", v)
    expect(not os.path.exists(path), "nothing was written")
    code, r = dry_run("alice", path, "[Service]\nExecStart=/bin/true\n")
    show(code, r)
    expect(r["simulation"]["validation"]["status"] == "passed", r)


def case_restart_plan():
    code, r = call("alice", "POST", "/api/settings/simulate/service-restart", {"service": "hb-cfg"})
    show(code, r)
    s = r["simulation"]
    expect(code == 200 and [c["type"] for c in s["changes"]] == ["service_stop", "service_start"], s)
    expect("hb-dep.service" in s["affected_services"], "a bound unit stops with it", s)
    expect(any("hb-dep.service" in w for w in s["warnings"]), s["warnings"])
    expect(isinstance(s["estimated_duration_s"], float) and s["estimated_duration_s"] >= 0, s)
    expect(unit_prop("hb-cfg", "ActiveState") == "active", "nothing was restarted")
    code, r = call("alice", "POST", "/api/settings/simulate/service-restart", {"service": "ssh"})
    show(code, r)
    expect(code == 200 and r["simulation"]["risk"] == "destructive", r)
    expect(any("sshd" in w for w in r["simulation"]["warnings"]), r)
    code, r = call("alice", "POST", "/api/settings/simulate/service-restart", {"service": "hb-no-such"})
    expect(code == 404, r)
    code, r = call("alice", "POST", "/api/settings/simulate/tool", {"tool": "no_such_tool", "args": {}})
    expect(code == 200 and r["simulation"]["success"] is False and "unknown tool" in r["simulation"]["error"], r)


# ---------------------------------------------------------------- approvals

def suggest(user, unit, port=None):
    r = ask(user, f"check if {unit}.service is running, and restart it if not", port)
    s = [x for x in r["suggested_actions"] if x.get("source") == "model"]
    print(json.dumps(s))
    expect(len(s) == 1 and s[0]["status"] == "pending" and s[0]["approval_id"], "a pending approval request", s)
    return s[0]["approval_id"]


def case_approval_approved():
    """A chat suggestion becomes an approval request seen on /ws, nothing runs until alice
    approves; then it runs through halbertd (polkit yes) and the decision is broadcast."""
    requests = listen("alice", 1, "approval_request")
    decisions = listen("alice", 1, "approval_decision")
    aid = suggest("alice", "hb-ok")
    out, _ = requests.communicate(timeout=40)
    expect(requests.returncode == 0 and aid in out, "the request reached /ws", out[-300:])
    expect(unit_prop("hb-ok", "ActiveState") == "inactive", "nothing ran yet")
    code, r = call("alice", "GET", "/api/approvals/pending")
    mine = [a for a in r["approvals"] if a["id"] == aid]
    expect(code == 200 and len(mine) == 1, r)
    a = mine[0]
    print(json.dumps(a)[:600])
    expect(a["action"] == {"type": "control_service", "unit": "hb-ok.service", "verb": "restart"}, a["action"])
    expect(a["requested_by"] == "model" and a["status"] == "pending" and a["confidence"] == 0.5, a)
    expect(a["simulation_result"]["action"] == "Restart service: hb-ok.service", a["simulation_result"])
    expect(a["expires_at"] > a["requested_at"] and a["system_state"]["active_state"] == "inactive", a)
    code, r = call("alice", "POST", f"/api/approvals/{aid}/approve")
    show(code, r)
    expect(code == 200 and r["request"]["status"] == "approved" and r["request"]["approved_by"] == "alice", r)
    expect(r["request"]["result"]["ok"] is True, r["request"]["result"])
    expect(unit_prop("hb-ok", "ActiveState") == "active", "the approved restart ran")
    out, _ = decisions.communicate(timeout=40)
    expect(decisions.returncode == 0 and aid in out, "the decision reached /ws", out[-300:])
    code, r = call("alice", "POST", f"/api/approvals/{aid}/approve")
    expect(code == 409 and r["code"] == "already_decided", "decided once", r)
    code, r = call("alice", "GET", "/api/approvals/history")
    expect(r["history"][0]["request_id"] == aid and r["history"][0]["approved"] is True, r["history"][:1])
    recs = [x for x in audit_records() if x.get("rpc") == "Services.Control" and x.get("details", {}).get("unit") == "hb-ok.service"]
    expect(recs and recs[-1]["outcome"] == "ok" and recs[-1]["caller"]["uid"] == int(sh("id", "-u", "alice")), "audited as alice's", recs[-1:])
    code, r = call("alice", "POST", "/api/approvals/0123456789abcdef0123456789abcdef/approve")
    expect(code == 404, r)
    code, r = call("alice", "POST", "/api/approvals/not-an-id/approve")
    expect(code == 400 and r["code"] == "invalid_id", r)
    call("alice", "POST", "/api/services/hb-ok/stop")


def case_approval_rejected():
    aid = suggest("alice", "hb-ok2")
    code, r = call("alice", "POST", f"/api/approvals/{aid}/reject", {"reason": "not now"})
    show(code, r)
    expect(code == 200 and r["request"]["status"] == "rejected" and r["request"]["rejection_reason"] == "not now", r)
    expect(unit_prop("hb-ok2", "ActiveState") == "inactive", "nothing ran")
    code, r = call("alice", "POST", f"/api/approvals/{aid}/approve")
    expect(code == 409, r)
    expect(unit_prop("hb-ok2", "ActiveState") == "inactive", "still nothing ran")


def case_approval_expired():
    """A request past its lifetime (a halbert-web of alice's with 2 s) is expired, not run."""
    port = 8006
    subprocess.run(["systemd-run", "--quiet", "--uid=alice", "--unit=halbert-web-short",
                    "--setenv=XDG_DATA_HOME=/home/alice/.short-data", "--setenv=XDG_CONFIG_HOME=/home/alice/.short-config",
                    "/usr/bin/halbert-web", "--port", str(port), "--approval-lifetime-s", "2"], check=True)
    try:
        for _ in range(100):
            if call_port("alice", port, "GET", "/api/health")[0] == 200:
                break
            time.sleep(0.1)
        for path, body in (("/api/settings/endpoints", {"id": "local", "name": "Local", "url": "http://127.0.0.1:11435", "provider": "ollama"}),
                           ("/api/settings/assign/guide", {"endpoint_id": "local", "model": "scripted:8b"})):
            code, r = call_port("alice", port, "POST", path, body)
            expect(code in (200, 201), r)
        aid = suggest("alice", "hb-ok3", port)
        time.sleep(3)
        code, r = call_port("alice", port, "POST", f"/api/approvals/{aid}/approve")
        show(code, r)
        expect(code == 409 and "expired" in r["detail"], r)
        code, r = call_port("alice", port, "GET", f"/api/approvals/{aid}")
        expect(r["request"]["status"] == "expired", r)
        code, r = call_port("alice", port, "GET", "/api/approvals/pending")
        expect(r["count"] == 0, r)
        expect(unit_prop("hb-ok3", "ActiveState") == "inactive", "an expired request never runs")
    finally:
        subprocess.run(["systemctl", "stop", "halbert-web-short"])


def case_approval_bob():
    """bob approves his model's suggestion; halbertd refuses it (no polkit right)."""
    aid = suggest("bob", "hb-ok3")
    code, r = call("bob", "POST", f"/api/approvals/{aid}/approve")
    show(code, r)
    expect(code == 403 and r["action"] == "org.halbert.service.manage", r)
    code, r = call("bob", "GET", f"/api/approvals/{aid}")
    expect(r["request"]["status"] == "approved" and r["request"]["result"]["ok"] is False, "the refusal is recorded", r)
    expect(unit_prop("hb-ok3", "ActiveState") == "inactive", "nothing ran")


# ---------------------------------------------------------------- the health gate

def case_rollback():
    """alice's policy wants write_config rolled back on failure: a change that makes hb-cfg
    fail to start is rolled back, byte for byte, hb-cfg running again, an alert on /ws and
    both steps audited; a change that keeps it healthy is kept."""
    path = "/etc/hb-cfg/app.conf"
    code, r = call("alice", "POST", "/api/settings/policy", {"policy": {"default_allow": True, "tools": {
        "write_config": {"rollback_required": True}}}})
    expect(code == 200, r)
    try:
        old = open(path, "rb").read()
        alerts = listen("alice", 1, "alert", timeout=60)
        code, r = call("alice", "POST", "/api/editor/file", {"path": path, "content": "mode=broken\n", "unit": "hb-cfg.service"})
        show(code, r)
        expect(code == 200 and r["health"]["verdict"] == "rolled_back", r)
        expect("hb-cfg.service" in r["health"]["reason"] and r["health"]["recovered"] is True, r["health"])
        expect(open(path, "rb").read() == old, "the old file is back, byte for byte")
        expect(unit_prop("hb-cfg", "ActiveState") == "active", "hb-cfg runs again")
        out, _ = alerts.communicate(timeout=60)
        expect(alerts.returncode == 0 and "Rolled back /etc/hb-cfg/app.conf" in out, "the alert reached /ws", out[-300:])
        recs = audit_records()
        restore = [x for x in recs if x.get("rpc") == "Files.Restore" and x.get("outcome") == "ok"
                   and x.get("details", {}).get("path") == path]
        restarts = [x for x in recs if x.get("rpc") == "Services.Control" and x.get("outcome") in ("ok", "failed")
                    and x.get("details", {}).get("unit") == "hb-cfg.service"]
        print("restore:", json.dumps(restore[-1:])[:300])
        expect(restore and restore[-1]["details"]["reason"].startswith("automatic rollback: "), "the rollback is audited with its reason")
        expect(any(x["details"].get("reason", "").startswith("automatic rollback: ") for x in restarts), "so is the restart after it")
        expect(any(x["details"].get("reason", "").startswith("health gate: ") for x in restarts), "and the restart that applied the change")
        code, r = call("alice", "POST", "/api/editor/file", {"path": path, "content": "# hb-cfg's settings, checked\nmode=ok\n", "unit": "hb-cfg.service"})
        show(code, r)
        expect(code == 200 and r["health"]["verdict"] == "kept", r)
        expect(open(path).read() == "# hb-cfg's settings, checked\nmode=ok\n", "the healthy change stays")
        expect(unit_prop("hb-cfg", "ActiveState") == "active", "hb-cfg runs with it")
    finally:
        call("alice", "POST", "/api/settings/policy", {"policy": {"default_allow": True, "tools": {}}})


if __name__ == "__main__":
    globals()["case_" + sys.argv[1]]()
