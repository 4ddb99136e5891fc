//! The admin actions through the API, measured.
//!
//!     bench_admin [--runs N] [--url URL --path PATH [--unit UNIT --baseline-ms MS]
//!                 [--sim-path PATH --sim-baseline-ms MS]]
//!
//! Without `--url`: halbertd and halbert-web in this process (a temporary host tree for the
//! editor; the terminal runs commands directly, as without systemd). With `--url`: an existing
//! halbert-web (the testbed's, as its user), the file `--path` (which must exist and be
//! writable through Halbert) and, with `--unit`, restarts of that unit.
//!
//! Reports p50 and p99 of: an editor read (`GET /api/editor/file`), a write with its backup
//! and fsyncs (`POST /api/editor/file` with the version), a terminal round trip of `true`
//! (`POST /api/terminal/execute`), and a unit restart (`POST /api/services/{unit}/restart`),
//! each against its goal. The restart is compared with `--baseline-ms`, the p50 of `systemctl
//! restart UNIT` measured by the caller; tests/testbed/bench-admin.sh also compares it with the
//! job itself as halbertd timed it, which is the overhead the goal is about. With `--sim-path`,
//! the dry run of a write of that file (`POST /api/settings/simulate/file-write`, its validator
//! run by halbertd in a sandboxed unit) against `--sim-baseline-ms`, the p50 of the validator
//! run by hand on a copy. Always: the safety gate's own work for an allowed action without a
//! dry run (the user's policy judged, with conditions), in this process. One client, one
//! request at a time, connections kept alive.

#[path = "../tests/util/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Args {
    runs: usize,
    url: Option<String>,
    path: String,
    unit: Option<String>,
    baseline_ms: Option<f64>,
    sim_path: Option<String>,
    sim_baseline_ms: Option<f64>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        runs: 200,
        url: None,
        path: "/etc/app/bench.conf".into(),
        unit: None,
        baseline_ms: None,
        sim_path: None,
        sim_baseline_ms: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let v = it.next().unwrap_or_default();
        match x.as_str() {
            "--runs" => a.runs = v.parse()?,
            "--url" => a.url = Some(v.trim_end_matches('/').to_owned()),
            "--path" => a.path = v,
            "--unit" => a.unit = Some(v),
            "--baseline-ms" => a.baseline_ms = Some(v.parse()?),
            "--sim-path" => a.sim_path = Some(v),
            "--sim-baseline-ms" => a.sim_baseline_ms = Some(v.parse()?),
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    Ok(a)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Prints `what`'s p50 and p99 and the p50's ratio to `goal_ms`.
// A benchmark's report is its output.
#[allow(clippy::print_stdout)]
fn report(what: &str, mut t: Vec<Duration>, goal_ms: f64) {
    t.sort();
    let (p50, p99) = (pct(&t, 0.5), pct(&t, 0.99));
    println!(
        "{what:<34} n={:<5} p50 {:>8.2} ms  p99 {:>8.2} ms   goal p50 <= {goal_ms} ms: {:.2}x of the goal",
        t.len(),
        ms(p50),
        ms(p99),
        ms(p50) / goal_ms
    );
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut r = http.request(method, format!("{base}{path}"));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await?;
    let status = resp.status();
    let v: Value = resp.json().await?;
    anyhow::ensure!(status.is_success(), "{path}: {status} {v}");
    Ok(v)
}

#[allow(clippy::print_stdout)]
async fn measure(base: &str, http: &reqwest::Client, a: &Args) -> anyhow::Result<()> {
    let q = format!("/api/editor/file?path={}", a.path);
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    for _ in 0..10 {
        call(http, base, get.clone(), &q, None).await?;
    }
    let mut reads = Vec::with_capacity(a.runs);
    for _ in 0..a.runs {
        let t = Instant::now();
        call(http, base, get.clone(), &q, None).await?;
        reads.push(t.elapsed());
    }
    report("editor read (API)", reads, 2.0);

    let mut writes = Vec::with_capacity(a.runs);
    let mut version = call(http, base, get.clone(), &q, None).await?["version"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for i in 0..a.runs {
        let body = json!({"path": a.path, "content": format!("bench = {i}\n"), "version": version});
        let t = Instant::now();
        let r = call(http, base, post.clone(), "/api/editor/file", Some(body)).await?;
        writes.push(t.elapsed());
        version = r["version"].as_str().unwrap_or_default().to_owned();
    }
    report("editor write + backup + fsyncs", writes, 15.0);

    let mut runs = Vec::with_capacity(a.runs);
    for _ in 0..a.runs {
        let t = Instant::now();
        let r = call(
            http,
            base,
            post.clone(),
            "/api/terminal/execute",
            Some(json!({"command": "true"})),
        )
        .await?;
        runs.push(t.elapsed());
        anyhow::ensure!(r["exit_code"] == 0, "true failed: {r}");
    }
    report("terminal `true` as the user", runs, 60.0);

    if let Some(unit) = &a.unit {
        let path = format!("/api/services/{unit}/restart");
        let mut restarts = Vec::with_capacity(a.runs);
        for _ in 0..a.runs.min(100) {
            let t = Instant::now();
            let r = call(http, base, post.clone(), &path, Some(json!({}))).await?;
            restarts.push(t.elapsed());
            anyhow::ensure!(r["success"] == true, "restart failed: {r}");
        }
        restarts.sort();
        let p50 = ms(pct(&restarts, 0.5));
        println!(
            "{:<34} n={:<5} p50 {:>8.2} ms  p99 {:>8.2} ms",
            "unit restart (API, job awaited)",
            restarts.len(),
            p50,
            ms(pct(&restarts, 0.99))
        );
        if let Some(base) = a.baseline_ms {
            let over = p50 - base;
            println!(
                "{:<34} over `systemctl restart` (p50 {base:.2} ms, its own process start included): {over:.2} ms",
                "unit restart, API vs systemctl"
            );
        }
    } else {
        println!("unit restart: not measured here (no systemd as PID 1); see the testbed figures");
    }
    if let Some(path) = &a.sim_path {
        let q = format!("/api/editor/file?path={path}");
        let live = call(http, base, get.clone(), &q, None).await?["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let body = json!({"path": path, "content": format!("{live}\n# a proposed comment\n")});
        let mut sims = Vec::with_capacity(a.runs);
        let mut validator = String::new();
        for _ in 0..a.runs.min(100) {
            let t = Instant::now();
            let r = call(
                http,
                base,
                post.clone(),
                "/api/settings/simulate/file-write",
                Some(body.clone()),
            )
            .await?;
            sims.push(t.elapsed());
            let v = &r["simulation"]["validation"];
            anyhow::ensure!(v["status"] == "passed", "the dry run did not pass: {r}");
            validator = format!(
                "{} via {}",
                v["validator"].as_str().unwrap_or_default(),
                v["runner"].as_str().unwrap_or_default()
            );
        }
        sims.sort();
        let p50 = ms(pct(&sims, 0.5));
        println!(
            "{:<34} n={:<5} p50 {:>8.2} ms  p99 {:>8.2} ms   ({validator})",
            "dry run of a write (API)",
            sims.len(),
            p50,
            ms(pct(&sims, 0.99))
        );
        if let Some(b) = a.sim_baseline_ms {
            let over = p50 - b;
            println!(
                "{:<34} over the validator by hand (p50 {b:.2} ms): {over:.2} ms   goal <= 10 ms: {:.2}x of the goal",
                "dry run overhead",
                over / 10.0
            );
        }
    }
    Ok(())
}

/// The gate's own work for an allowed action without a dry run, both layers: halbert-web's
/// (the caller's context and the user's policy, a few tools with conditions) and halbertd's
/// (the system-wide policy file checked for a change, its user looked up, judged) — what the
/// safety gate adds to an action on top of polkit, safe mode and the audit.
#[allow(clippy::print_stdout)]
fn gate_overhead(runs: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("policy.yml"),
        "default_allow: true\ntools:\n  service_control:\n    conditions:\n      hours_allow: ['00:00-23:59', '23:59-00:00']\n      names_allow: ['hb-*', 'nginx.service', 'ssh.service']\n  write_config:\n    conditions:\n      paths_allow: ['/etc/**']\n      paths_deny: ['/etc/sudoers.d/**', '/etc/shadow']\n  terminal_root: {allow: false}\n",
    )?;
    let store = halbert_web::policy::PolicyStore::open(dir.path());
    let inputs = halbert_web::policy::Inputs {
        path: None,
        name: Some("hb-web.service".into()),
    };
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        let d = store.decide(
            "service_control",
            &inputs,
            &halbert_web::policy::context_now(),
        );
        t.push(t0.elapsed());
        anyhow::ensure!(d.allow, "the bench policy denies: {}", d.reason);
    }
    t.sort();
    let p50 = ms(pct(&t, 0.5));
    println!(
        "{:<34} n={:<5} p50 {:>8.4} ms  p99 {:>8.4} ms   goal p50 <= 1 ms: {:.4}x of the goal",
        "gate: both policies, no dry run",
        t.len(),
        p50,
        ms(pct(&t, 0.99)),
        p50 / 1.0
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    // reqwest is built without a TLS provider; halbert-web's model client installs the one
    // the process uses, which any reqwest client here needs too.
    halbert_web::llm::client::LlmClient::new().map_err(anyhow::Error::msg)?;
    // Plain HTTP to loopback only: no certificates are needed (the testbed has none).
    let http = reqwest::Client::builder()
        .tls_certs_only(std::iter::empty())
        .build()?;
    gate_overhead(10_000)?;
    if let Some(url) = &a.url {
        return measure(url, &http, &a).await;
    }
    let host = tempfile::tempdir()?;
    std::fs::create_dir_all(host.path().join("etc/app"))?;
    std::fs::write(host.path().join("etc/app/bench.conf"), "bench = start\n")?;
    let sd = halbertd::systemd::Systemd::Sim(std::sync::Arc::new(
        halbertd::systemd::sim::SimSystemd::new(),
    ));
    let d = common::start_daemon_with_systemd(halbertd::host::HostRoot::new(host.path()), sd).await;
    let w = common::start_web(&d.socket, 60_000).await;
    let base = format!("http://{}", w.addr);
    let r = measure(&base, &http, &a).await;
    w.shutdown().await;
    d.shutdown().await;
    r
}
