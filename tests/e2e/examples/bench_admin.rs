//! The admin actions through the API, measured.
//!
//!     bench_admin [--runs N] [--url URL --path PATH [--unit UNIT --baseline-ms MS]]
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
//! job itself as halbertd timed it, which is the overhead the goal is about. One client, one
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
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        runs: 200,
        url: None,
        path: "/etc/app/bench.conf".into(),
        unit: None,
        baseline_ms: None,
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
