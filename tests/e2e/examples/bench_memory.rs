//! Telemetry ingestion and memory, measured.
//!
//!     bench_memory [--events N] [--model DIR] [--sizes 1000,10000,100000] [--queries N] [--web PATH]
//!
//! 1. Ingestion: `--events` (default 200,000) synthetic journal JSON lines through the same
//!    code as the real thing: halbertd's parser and filter, then halbert-web's event, rate
//!    limit, redaction, validation and raw store (sled), in one thread. Goal: ≥ 50,000 events/s.
//! 2. Embedding throughput of all-MiniLM-L6-v2 (`--model`, default target/models/…), batches
//!    of 32 log lines, sentences per second.
//! 3. Search at 1k, 10k and 100k entries per collection: p50/p99 of `Memory::query`, which
//!    embeds the question with the real model, scans the quantized index and reads the hits
//!    (the bulk entries get pseudo-random vectors, since embedding 100,000 lines would take
//!    minutes and does not change how long a scan takes). Goal: p99 ≤ 20 ms at 100k.
//! 4. halbert-web's idle RSS (`--web`, default target/release/halbert-web) before and after
//!    the model is loaded by a memory search.
//!
//! Everything shares this machine's cores; the figures are for comparing with each other.

// The report is the output.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use halbert_proto::v1 as pb;
use halbert_web::memory::Memory;
use halbert_web::memory::embed::{EmbedError, Embedder, MINILM, MiniLm, find_model};

struct Args {
    events: usize,
    model: PathBuf,
    sizes: Vec<usize>,
    queries: usize,
    web: PathBuf,
}

fn args() -> anyhow::Result<Args> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut a = Args {
        events: 200_000,
        model: root.join("target/models/all-MiniLM-L6-v2"),
        sizes: vec![1_000, 10_000, 100_000],
        queries: 200,
        web: root.join("target/release/halbert-web"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let v = it.next().unwrap_or_default();
        match x.as_str() {
            "--events" => a.events = v.parse()?,
            "--model" => a.model = v.into(),
            "--sizes" => a.sizes = v.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--queries" => a.queries = v.parse()?,
            "--web" => a.web = v.into(),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

const LINES: [&str; 6] = [
    "sshd[812]: Failed password for invalid user admin from 203.0.113.5 port 41822 ssh2",
    "kernel: EXT4-fs error (device sda1): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0",
    "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)",
    "app[77]: connecting with DB_PASSWORD=hunter2 to db.example.org as ops@example.org",
    "systemd[1]: Started Daily apt download activities.",
    "smartd[611]: Device: /dev/sda [SAT], 8 Currently unreadable (pending) sectors",
];

const PRIORITIES: [&str; 4] = ["3", "4", "6", "3"];

fn ingestion(n: usize) -> anyhow::Result<()> {
    use halbert_web::ingestion::pipeline::{
        RateLimiter, journald_event, rate_key, redact_event, validate,
    };
    use halbertd::telemetry::journal::{Filter, parse};
    let lines: Vec<String> = (0..n)
        .map(|i| {
            serde_json::json!({
                "__CURSOR": format!("s=6c1b2e;i={i:x};b=9f0e;m={i:x};t=5f3e;x=4d2c"),
                "__REALTIME_TIMESTAMP": (1_764_350_000_000_000u64 + i as u64 * 1000).to_string(),
                "PRIORITY": PRIORITIES[i % 4],
                "SYSLOG_IDENTIFIER": format!("app{}", i % 50),
                "_SYSTEMD_UNIT": format!("app{}.service", i % 50),
                "_PID": "812", "_HOSTNAME": "bench",
                "MESSAGE": LINES[i % LINES.len()],
            })
            .to_string()
        })
        .collect();
    let dir = tempfile::tempdir()?;
    let db = sled::Config::new()
        .path(dir.path().join("db"))
        .cache_capacity(16 << 20)
        .open()?;
    let store = halbert_web::ingestion::store::IngestStore::open(&db)?;
    let filter = Filter::new(
        &["critical".into(), "error".into(), "warn".into()],
        &[],
        &[],
    )?;
    let mut limiter = RateLimiter::new(60);
    let (mut kept, mut limited, mut filtered, mut redacted) = (0usize, 0usize, 0usize, 0usize);
    let t = Instant::now();
    for l in &lines {
        let Some(e) = parse(l.as_bytes()) else {
            continue;
        };
        if !filter.passes(&e) {
            filtered += 1;
            continue;
        }
        let entry = pb::JournalEntry::from(e);
        let mut ev = journald_event(entry);
        if !limiter.admit(&rate_key(&ev), ev.ts_us) {
            limited += 1;
            continue;
        }
        redacted += redact_event(&mut ev, Default::default());
        validate(&ev).map_err(anyhow::Error::msg)?;
        store.put_raw(&ev)?;
        kept += 1;
    }
    db.flush()?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "ingestion: {n} journal lines in {secs:.2} s = {:.0} events/s (parse, filter, rate limit, redaction, validation, raw store, one flush); {filtered} filtered, {limited} rate-limited, {kept} stored, {redacted} redactions",
        n as f64 / secs
    );
    Ok(())
}

/// The real model for questions; pseudo-random unit vectors for bulk inserts while `bulk`.
#[derive(Debug)]
struct Bench {
    real: MiniLm,
    bulk: AtomicBool,
}

impl Embedder for Bench {
    fn name(&self) -> &str {
        self.real.name()
    }
    fn dim(&self) -> usize {
        384
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if !self.bulk.load(Ordering::Relaxed) {
            return self.real.embed(texts);
        }
        Ok(texts
            .iter()
            .map(|t| {
                let mut x = halbert_web::ingestion::store::fnv64(t) | 1;
                let mut v: Vec<f32> = (0..384)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x % 2001) as f32 / 1000.0 - 1.0
                    })
                    .collect();
                let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
                v.iter_mut().for_each(|a| *a /= n);
                v
            })
            .collect())
    }
}

fn embedding_and_search(a: &Args) -> anyhow::Result<()> {
    let dir = find_model(std::slice::from_ref(&a.model))
        .ok_or_else(|| anyhow::anyhow!("no model in {} (make model)", a.model.display()))?;
    let model = MiniLm::new(dir.clone());
    let t = Instant::now();
    model.embed(&["load"])?;
    println!("embedding: model loaded in {} ms", t.elapsed().as_millis());
    let texts: Vec<String> = (0..512)
        .map(|i| format!("{} (seq {i})", LINES[i % LINES.len()]))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let t = Instant::now();
    for chunk in refs.chunks(32) {
        model.embed(chunk)?;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "embedding: {} log lines in batches of 32: {:.0} sentences/s",
        refs.len(),
        refs.len() as f64 / secs
    );

    let questions = [
        "disk is full",
        "why can't I log in over ssh",
        "is the web server failing",
        "is my hard drive dying",
    ];
    for &n in &a.sizes {
        let tmp = tempfile::tempdir()?;
        let db = sled::Config::new()
            .path(tmp.path().join("db"))
            .cache_capacity(16 << 20)
            .open()?;
        let emb = Arc::new(Bench {
            real: MiniLm::new(dir.clone()),
            bulk: AtomicBool::new(true),
        });
        let m = Memory::with_embedder(&db, emb.clone(), String::new());
        let t = Instant::now();
        let mut i = 0;
        while i < n {
            let items = (i..(i + 10_000).min(n))
                .map(|j| {
                    (
                        format!("journald:{j:08x}"),
                        format!("{} #{j}", LINES[j % LINES.len()]),
                        Default::default(),
                    )
                })
                .collect();
            m.put_many("self_journald", items)?;
            i += 10_000;
        }
        let insert = t.elapsed();
        emb.bulk.store(false, Ordering::Relaxed);
        // The first query loads the index from the store.
        let t = Instant::now();
        m.query("self_journald", "warm up", 5)?;
        let first = t.elapsed();
        let mut times = Vec::with_capacity(a.queries);
        for q in 0..a.queries {
            let t = Instant::now();
            let hits = m.query("self_journald", questions[q % questions.len()], 5)?;
            times.push(t.elapsed());
            assert_eq!(hits.len(), 5);
        }
        times.sort();
        // The scan alone, without the question's embedding or the store.
        let mut idx = halbert_web::memory::index::Index::new(384);
        emb.bulk.store(true, Ordering::Relaxed);
        for j in 0..n {
            let v = emb.embed(&[&format!("bulk {j}")])?;
            idx.upsert(
                format!("e{j}").as_bytes(),
                &halbert_web::memory::index::encode(&v[0]),
            );
        }
        emb.bulk.store(false, Ordering::Relaxed);
        let q = emb.real.embed(&[questions[0]])?.remove(0);
        let mut scans: Vec<Duration> = (0..a.queries)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(idx.search(&q, 5));
                t.elapsed()
            })
            .collect();
        scans.sort();
        println!(
            "index scan alone at {n:>6}: p50 {:.2} ms, p99 {:.2} ms",
            pct(&scans, 0.5),
            pct(&scans, 0.99)
        );
        println!(
            "search at {n:>6} entries: p50 {:.2} ms, p99 {:.2} ms (question embedded by the model, index scan, 5 entries read); inserts {:.0}/s with one flush per 10,000; first query (loads the index) {} ms",
            pct(&times, 0.5),
            pct(&times, 0.99),
            n as f64 / insert.as_secs_f64(),
            first.as_millis()
        );
    }
    Ok(())
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn web_rss(a: &Args) -> anyhow::Result<()> {
    if !a.web.is_file() {
        println!(
            "halbert-web RSS: {} not built (cargo build --release)",
            a.web.display()
        );
        return Ok(());
    }
    let home = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut child = std::process::Command::new(&a.web)
        .args([
            "--port",
            &port.to_string(),
            "--socket",
            "/nonexistent/halbertd.sock",
        ])
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("HALBERT_MODEL_DIR", &a.model)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    // Plain HTTP/1.1 over a socket: nothing here needs a client library.
    let request = |method: &str, path: &str, body: &str| -> std::io::Result<u16> {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port))?;
        write!(
            c,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut out = String::new();
        c.read_to_string(&mut out)?;
        Ok(out
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    };
    let mut up = false;
    for _ in 0..100 {
        if request("GET", "/api/health", "").is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !up {
        let _ = child.kill();
        anyhow::bail!("halbert-web did not start");
    }
    std::thread::sleep(Duration::from_secs(2));
    let before = rss_kib(child.id());
    let status = request(
        "POST",
        "/api/chat/memory/query",
        r#"{"query": "disk is full"}"#,
    )?;
    std::thread::sleep(Duration::from_secs(2));
    let after = rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "halbert-web idle RSS: {:.1} MiB before the model is loaded, {:.1} MiB after a memory search loaded it (HTTP {status})",
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    ingestion(a.events)?;
    embedding_and_search(&a)?;
    manual_pages(&a)?;
    web_rss(&a)?;
    Ok(())
}

/// This machine's manual pages (sections 1, 5, 8 of /usr/share/man) through the index job:
/// all of them with hashed words (reading, roff, chunking, the store), and the first 100
/// with the local model, from which the time for all of them follows.
fn manual_pages(a: &Args) -> anyhow::Result<()> {
    use halbert_web::knowledge::{Knowledge, scan};
    let root = std::path::PathBuf::from("/usr/share/man");
    let files = scan(&root);
    let tmp = tempfile::tempdir()?;
    let db = sled::Config::new().path(tmp.path().join("db")).open()?;
    let k = Knowledge::open(&db, Memory::open(&db), root.clone())?;
    let t = Instant::now();
    let p = k.refresh(&|_| {}, &|| false)?;
    let secs = t.elapsed().as_secs_f64();
    let entries = k.status().entries;
    println!(
        "manual pages: {} pages ({} entries) of sections 1, 5, 8 indexed with hashed words in {secs:.1} s = {:.0} pages/s",
        p.total,
        entries,
        p.total as f64 / secs
    );
    let Some(dir) = find_model(std::slice::from_ref(&a.model)) else {
        return Ok(());
    };
    let sample = tempfile::tempdir()?;
    for f in files.iter().take(100) {
        let dest = sample.path().join(
            f.path
                .parent()
                .and_then(|p| p.file_name())
                .unwrap_or_default(),
        );
        std::fs::create_dir_all(&dest)?;
        std::fs::copy(&f.path, dest.join(f.path.file_name().unwrap_or_default()))?;
    }
    let tmp = tempfile::tempdir()?;
    let db = sled::Config::new().path(tmp.path().join("db")).open()?;
    let m = Memory::with_embedder(&db, Arc::new(MiniLm::new(dir)), String::new());
    let k = Knowledge::open(&db, m, sample.path().to_owned())?;
    let t = Instant::now();
    k.refresh(&|_| {}, &|| false)?;
    let secs = t.elapsed().as_secs_f64();
    let sample_entries = k.status().entries;
    println!(
        "manual pages with {MINILM}: 100 pages ({sample_entries} entries) in {secs:.1} s = {:.0} entries/s; all {} entries would take about {:.0} min",
        sample_entries as f64 / secs,
        entries,
        entries as f64 / (sample_entries as f64 / secs) / 60.0
    );
    Ok(())
}
