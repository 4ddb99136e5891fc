//! halbert-web's connection path and memory, measured.
//!
//!     bench_web [--seconds N] [--clients N] [--sockets N] [--messages N] [--web PATH]
//!
//! 1. Who owns a loopback client socket: lookups per second by `sock_diag` (what halbert-web
//!    does) and by reading `/proc/net/tcp{,6}` (its fallback, and what it did before), with no
//!    other sockets and with `--sockets` (default 5,000) idle loopback sockets open.
//! 2. A new connection per request (`GET /api/health`, `Connection: close`, `--clients`
//!    concurrent clients for `--seconds`): halbert-web, a bare axum serving the same bytes, and
//!    a bare axum that looks the owner up in `/proc` on its accept path (the way halbert-web
//!    accepted before), each with 0 and `--sockets` other sockets open. Goal: halbert-web at
//!    least half of bare axum, and flat in the number of sockets.
//! 3. Memory: the halbert-web binary (`--web`, default target/release/halbert-web) with
//!    `--messages` (default 100,000) conversation messages appended, its idle RSS before and
//!    after (goal: under 64 MiB).
//!
//! Everything shares this machine's cores; the figures are for comparing with each other.

#[path = "../tests/util/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use halbertd::host::HostRoot;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Args {
    seconds: u64,
    clients: usize,
    sockets: usize,
    messages: usize,
    web: std::path::PathBuf,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        seconds: 3,
        clients: 16,
        sockets: 5000,
        messages: 100_000,
        web: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/release/halbert-web"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let v = it.next().unwrap_or_default();
        match x.as_str() {
            "--seconds" => a.seconds = v.parse()?,
            "--clients" => a.clients = v.parse()?,
            "--sockets" => a.sockets = v.parse()?,
            "--messages" => a.messages = v.parse()?,
            "--web" => a.web = v.into(),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

/// `n` idle loopback sockets (n/2 connected pairs), kept open while the value lives.
async fn idle_sockets(n: usize) -> anyhow::Result<Vec<TcpStream>> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n / 2 {
        let c = TcpStream::connect(addr).await?;
        let (s, _) = l.accept().await?;
        out.push(c);
        out.push(s);
    }
    Ok(out)
}

/// Requests per second with a new connection for each request.
async fn throughput(addr: SocketAddr, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    let req = format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let req = req.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            let mut buf = Vec::with_capacity(2048);
            while Instant::now() < deadline {
                let mut s = TcpStream::connect(addr).await?;
                s.write_all(req.as_bytes()).await?;
                buf.clear();
                s.read_to_end(&mut buf).await?;
                anyhow::ensure!(
                    buf.starts_with(b"HTTP/1.1 200"),
                    "{}",
                    String::from_utf8_lossy(&buf)
                );
                done += 1;
            }
            Ok::<u64, anyhow::Error>(done)
        }));
    }
    let t0 = Instant::now();
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / t0.elapsed().as_secs_f64())
}

/// The bare axum server's answer: the same bytes halbert-web's /api/health sends.
async fn bare(body: String) -> axum::Router {
    axum::Router::new().route(
        "/api/health",
        axum::routing::get(move || {
            let b = body.clone();
            async move { ([("content-type", "application/json")], b) }
        }),
    )
}

/// halbert-web's accept path before: the owner read from `/proc/net/tcp{,6}` on the accept
/// loop for every connection.
#[derive(Debug, Clone)]
struct ProcLookup(#[allow(dead_code)] Option<u32>);

impl Connected<IncomingStream<'_, TcpListener>> for ProcLookup {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        let remote = *stream.remote_addr();
        let local = stream.io().local_addr().unwrap_or(remote);
        Self(halbert_web::server::peer_uid::proc_client_uid(
            std::path::Path::new("/proc"),
            remote,
            local,
        ))
    }
}

async fn serve_bare(router: axum::Router, proc_lookup: bool) -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        if proc_lookup {
            let _ = axum::serve(
                l,
                router.into_make_service_with_connect_info::<ProcLookup>(),
            )
            .await;
        } else {
            let _ = axum::serve(l, router).await;
        }
    });
    Ok(addr)
}

fn lookups_per_second(f: impl Fn() -> Option<u32>, n: usize) -> f64 {
    let t0 = Instant::now();
    for _ in 0..n {
        assert!(f().is_some());
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[allow(clippy::print_stdout)]
async fn memory(a: &Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.web.exists(),
        "{} is missing: cargo build --release -p halbert-web",
        a.web.display()
    );
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = tokio::process::Command::new(&a.web)
        .args(["--port", &port.to_string(), "--sandbox", "off", "--socket"])
        .arg(dir.path().join("no-halbertd.sock"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("HALBERT_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or(0);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{base}/api/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_before = rss_kib(pid);
    let conversations = 100;
    let per = a.messages.div_ceil(conversations);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..conversations {
        let (http, base) = (http.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let conv: serde_json::Value = http
                .post(format!("{base}/api/conversations"))
                .json(&serde_json::json!({"name": format!("bench {c}")}))
                .send()
                .await?
                .json()
                .await?;
            let id = conv["id"].as_str().unwrap_or_default().to_owned();
            for i in 0..per {
                let r = http
                    .post(format!("{base}/api/conversations/{id}/messages"))
                    .json(&serde_json::json!({"role": if i % 2 == 0 { "user" } else { "assistant" },
                        "content": format!("message {i} of conversation {c}: the raid array on /dev/md0 was degraded after a disk failed; smartctl reported reallocated sectors")}))
                    .send()
                    .await?;
                anyhow::ensure!(r.status().as_u16() == 201, "append: {}", r.status());
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    let mut peak = 0;
    for t in tasks {
        t.await??;
        peak = peak.max(rss_kib(pid));
    }
    let took = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_after = rss_kib(pid);
    println!(
        "memory: {} messages appended in {:.1} s ({:.0}/s); RSS idle before {:.1} MiB, while appending up to {:.1} MiB, idle after {:.1} MiB (goal < 64 MiB: {})",
        per * conversations,
        took.as_secs_f64(),
        (per * conversations) as f64 / took.as_secs_f64(),
        idle_before as f64 / 1024.0,
        peak as f64 / 1024.0,
        idle_after as f64 / 1024.0,
        if idle_after < 64 * 1024 {
            "met"
        } else {
            "NOT met"
        }
    );
    let _ = child.kill().await;
    Ok(())
}

#[allow(clippy::print_stdout)]
fn main() -> anyhow::Result<()> {
    let a = args()?;
    // Room for the idle sockets, the clients and the servers' ends.
    if let Ok((_, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let d = common::start_daemon(HostRoot::system()).await;
        let w = common::start_web(&d.socket, 60_000).await;
        let body = reqwest::get(w.url("/api/health")).await?.text().await?;
        let plain = serve_bare(bare(body.clone()).await, false).await?;
        let legacy = serve_bare(bare(body).await, true).await?;

        let probe_l = std::net::TcpListener::bind("127.0.0.1:0")?;
        let probe = std::net::TcpStream::connect(probe_l.local_addr()?)?;
        let (client, server) = (probe.local_addr()?, probe_l.local_addr()?);
        let mut results = Vec::new();
        for others in [0, a.sockets] {
            let _idle = idle_sockets(others).await?;
            let nl = lookups_per_second(|| halbert_web::server::peer_uid::netlink_client_uid(client, server).ok().flatten(), 20_000);
            let pr = lookups_per_second(
                || halbert_web::server::peer_uid::proc_client_uid(std::path::Path::new("/proc"), client, server),
                if others == 0 { 20_000 } else { 500 },
            );
            println!(
                "owner lookup with {others} other sockets: sock_diag {:.0}/s ({:.1} µs), /proc {:.0}/s ({:.1} µs)",
                nl, 1e6 / nl, pr, 1e6 / pr
            );
            let web = throughput(w.addr, a.clients, a.seconds).await?;
            let axum = throughput(plain, a.clients, a.seconds).await?;
            let old = throughput(legacy, a.clients, a.seconds).await?;
            println!(
                "new connection per request, {others} other sockets, {} clients: halbert-web {web:.0} req/s, bare axum {axum:.0} req/s (ratio {:.2}), bare axum + /proc lookup on accept {old:.0} req/s",
                a.clients,
                web / axum
            );
            results.push((others, web, axum));
        }
        let (w0, w1) = (results[0].1, results[1].1);
        println!(
            "halbert-web with {} other sockets vs none: {:.2} (flat = 1.00); vs bare axum: {:.2} and {:.2} (goal ≥ 0.50)",
            a.sockets,
            w1 / w0,
            results[0].1 / results[0].2,
            results[1].1 / results[1].2
        );
        w.shutdown().await;
        d.shutdown().await;
        if a.messages > 0 {
            memory(&a).await?;
        }
        Ok(())
    })
}
