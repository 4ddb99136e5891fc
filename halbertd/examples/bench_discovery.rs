//! Discovery benchmark: full 8-type scans of this machine, and reads of the cached results.
//!
//!     bench_discovery [--runs N] [--reads N]
//!
//! Runs in-process against the real host (as root, like halbertd), with a throw-away state
//! dir. Reports wall time per full scan (p50, max), processes spawned per scan, each type's
//! time in the last scan, and the server-side time of a cached `List` (p50, p99, max).

use std::sync::Arc;
use std::time::{Duration, Instant};

use halbertd::discovery::Kind;
use halbertd::engine::Engine;
use halbertd::host::HostRoot;
use halbertd::peer::Caller;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[allow(clippy::print_stdout)]
fn main() -> anyhow::Result<()> {
    let mut runs = 10usize;
    let mut reads = 10_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().unwrap_or_default().parse()?,
            "--reads" => reads = args.next().unwrap_or_default().parse()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let state = tempfile::tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let engine = Arc::new(Engine::open(state.path(), HostRoot::system())?);
        let me = Caller {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            pid: std::process::id() as i32,
            comm: "bench".into(),
            groups: vec![],
            start_time: 0,
        };
        let mut walls = Vec::new();
        let mut spawned = Vec::new();
        let mut last = Vec::new();
        for _ in 0..runs {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let before = halbertd::exec::spawned();
            let t0 = Instant::now();
            engine
                .discovery_scan(&me, &Kind::ALL, &tx)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            walls.push(t0.elapsed());
            spawned.push(halbertd::exec::spawned() - before);
            drop(tx);
            last.clear();
            while let Some(p) = rx.recv().await {
                last.push(p);
            }
        }
        walls.sort();
        println!(
            "full scan of 8 types, {runs} runs: p50 {:.1} ms, max {:.1} ms, min {:.1} ms",
            pct(&walls, 0.5).as_secs_f64() * 1e3,
            walls[walls.len() - 1].as_secs_f64() * 1e3,
            walls[0].as_secs_f64() * 1e3
        );
        println!("processes spawned per scan: {spawned:?}");
        let mut total_items = 0;
        for k in Kind::ALL {
            let st = engine
                .discovery_list(&me, k)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            total_items += st.items.len();
            println!(
                "  {:<9} {:>4} items {:>6} ms{}",
                k.as_str(),
                st.items.len(),
                st.duration_ms,
                st.error
                    .map(|e| format!("  error: {e}"))
                    .unwrap_or_default()
            );
        }
        println!("items: {total_items}");
        let mut lat = Vec::with_capacity(reads);
        for i in 0..reads {
            let k = Kind::ALL[i % 8];
            let t0 = Instant::now();
            let st = engine
                .discovery_list(&me, k)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            lat.push(t0.elapsed());
            std::hint::black_box(st);
        }
        lat.sort();
        println!(
            "cached List (server side), {reads} reads: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
            pct(&lat, 0.5).as_secs_f64() * 1e6,
            pct(&lat, 0.99).as_secs_f64() * 1e6,
            lat[lat.len() - 1].as_secs_f64() * 1e6
        );
        Ok::<_, anyhow::Error>(())
    })
}
