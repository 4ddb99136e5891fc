//! Telemetry ingestion: this machine's journal and sensors, as halbertd streams them, turned
//! into the user's searchable memory (`self_journald`, `self_hwmon`).
//!
//! Per journal event: halbertd's filter (severities, identifiers or units) → the rate limit
//! per `identifier:severity` → redaction (the message and every string of `data`, with the
//! rule toggles of `ingestion.yml`) → validation → the raw store (sled, kept `raw_days`) →
//! memory (kept `index_days`). The journal cursor is saved every `cursor_persist_every` events,
//! only after the events before it are durable, and at every stop; events are keyed by their
//! cursor, so a resume after a crash neither skips nor repeats one. hwmon readings become an
//! hourly summary per sensor and an event per limit crossed (`sensors`).
//!
//! The workers (`ingestion-journald`, `ingestion-hwmon`, `ingestion-retention`) run under a
//! token of their own, a child of the process's, so `stop` ends them and a shutdown does too.
//! Whether ingestion should run is kept in the database: it starts again with halbert-web.

pub mod config;
pub mod pipeline;
pub mod sensors;
pub mod store;

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use halbert_proto::v1 as pb;
use halbert_workers::Workers;
use tokio_util::sync::CancellationToken;

use crate::daemon::{Daemon, DaemonError};
use crate::memory::Memory;
use config::IngestionConfig;
use pipeline::{Event, RateLimiter, journald_event, rate_key, redact_event, validate};
use store::IngestStore;

/// How long `stop` waits for the workers to save their place.
const STOP_DEADLINE: Duration = Duration::from_secs(10);
/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// The longest wait between attempts to reach halbertd again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const SUMMARIZER_KEY: &str = "hwmon.summarizer";

#[derive(Debug, thiserror::Error)]
pub enum IngestionError {
    /// ingestion.yml is not valid.
    #[error("{0}")]
    Config(String),
    /// ingestion.yml cannot be read.
    #[error("{0}")]
    ConfigUnreadable(String),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    #[error(transparent)]
    Store(#[from] store::IngestStoreError),
}

/// Counters and last times, moved by the workers and read by `status`.
#[derive(Debug, Default)]
struct Counters {
    journald_events: AtomicU64,
    hwmon_events: AtomicU64,
    hwmon_readings: AtomicU64,
    rate_limited: AtomicU64,
    redacted: AtomicU64,
    invalid: AtomicU64,
    duplicates: AtomicU64,
    errors: AtomicU64,
    last_journald_us: AtomicI64,
    last_hwmon_us: AtomicI64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    fn error(&self, what: String) {
        tracing::warn!(error = %what, "ingestion");
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(what);
    }
}

/// What `status` reports: the contract's fields, then the counters a person needs to trust it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestionStatus {
    pub running: bool,
    /// When it was started, ISO 8601 UTC.
    pub started_at: Option<String>,
    /// Journal events stored since halbert-web started.
    pub journald_events: u64,
    /// hwmon events stored (hourly summaries and limit crossings).
    pub hwmon_events: u64,
    /// The journal time of the newest journal event stored.
    pub last_journald_event: Option<String>,
    /// The time of the newest hwmon reading taken.
    pub last_hwmon_event: Option<String>,
    pub errors: u64,
    pub config_path: String,
    /// Sensor readings taken.
    pub hwmon_readings: u64,
    /// Journal events dropped by the rate limit.
    pub dropped_rate_limited: u64,
    /// Things replaced by redaction (secrets, addresses, home paths…).
    pub redacted: u64,
    /// Events refused by validation.
    pub invalid: u64,
    /// Events read again after a restart and found stored already.
    pub duplicates: u64,
    pub last_error: Option<String>,
    /// The journal cursor saved last (where a restart resumes).
    pub cursor_saved: bool,
}

#[derive(Debug, Default)]
struct Running {
    token: Option<CancellationToken>,
    started_at_unix: i64,
    /// Dropped by each worker when it ends; `stop` waits for all of them.
    done: Option<tokio::sync::mpsc::Receiver<()>>,
}

#[derive(Debug)]
pub struct Ingestion {
    daemon: Daemon,
    store: IngestStore,
    memory: Memory,
    config_path: PathBuf,
    workers: Workers,
    shutdown: CancellationToken,
    counters: Arc<Counters>,
    running: tokio::sync::Mutex<Running>,
}

/// The worker's handles, shared by the three loops.
#[derive(Debug, Clone)]
struct Ctx {
    daemon: Daemon,
    store: IngestStore,
    memory: Memory,
    counters: Arc<Counters>,
    config: IngestionConfig,
    token: CancellationToken,
    host: String,
}

fn journal_request(cfg: &IngestionConfig, cursor: Option<String>) -> pb::FollowJournalRequest {
    let j = &cfg.sources.journald;
    pb::FollowJournalRequest {
        after_cursor: cursor.unwrap_or_default(),
        severities: j.severities.clone(),
        identifiers: j.identifiers.clone(),
        units: j.units.clone(),
    }
}

impl Ingestion {
    pub fn new(
        daemon: Daemon,
        store: IngestStore,
        memory: Memory,
        config_path: PathBuf,
        workers: Workers,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            daemon,
            store,
            memory,
            config_path,
            workers,
            shutdown,
            counters: Arc::default(),
            running: tokio::sync::Mutex::default(),
        }
    }

    /// Starts ingestion again if the user left it running; a failure is in the status.
    pub async fn resume(&self) {
        if self.wanted()
            && let Err(e) = self.start().await
        {
            self.counters
                .error(format!("ingestion could not start again: {e}"));
        }
    }

    /// Whether the user left ingestion running (it starts again with halbert-web).
    pub fn wanted(&self) -> bool {
        self.store.wanted()
    }

    /// Starts the sources `ingestion.yml` enables. The journal stream is opened here, so a
    /// refusal (polkit's `org.halbert.journal.read`) is this call's error. Starting what runs
    /// already changes nothing.
    pub async fn start(&self) -> Result<IngestionStatus, IngestionError> {
        let mut run = self.running.lock().await;
        if run.token.is_some() {
            drop(run);
            return Ok(self.status().await);
        }
        let config = IngestionConfig::load(&self.config_path).map_err(|e| {
            if e.unreadable {
                IngestionError::ConfigUnreadable(e.to_string())
            } else {
                IngestionError::Config(e.to_string())
            }
        })?;
        let token = self.shutdown.child_token();
        let host = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ctx = Ctx {
            daemon: self.daemon.clone(),
            store: self.store.clone(),
            memory: self.memory.clone(),
            counters: self.counters.clone(),
            config: config.clone(),
            token: token.clone(),
            host,
        };
        let journal = if config.sources.journald.enabled {
            let cursor = self.store.cursor()?;
            Some(
                self.daemon
                    .follow_journal(journal_request(&config, cursor))
                    .await?,
            )
        } else {
            None
        };
        let sensors = if config.sources.hwmon.enabled {
            Some(
                self.daemon
                    .watch_sensors(config.sources.hwmon.interval_s)
                    .await?,
            )
        } else {
            None
        };
        let (done_tx, done_rx) = tokio::sync::mpsc::channel::<()>(1);
        if let Some(stream) = journal {
            let (ctx, done) = (ctx.clone(), done_tx.clone());
            self.workers
                .spawn("ingestion-journald", move |_| async move {
                    let _done = done;
                    journald_loop(ctx, stream).await
                });
        }
        if let Some(stream) = sensors {
            let (ctx, done) = (ctx.clone(), done_tx.clone());
            self.workers.spawn("ingestion-hwmon", move |_| async move {
                let _done = done;
                hwmon_loop(ctx, stream).await
            });
        }
        {
            let done = done_tx;
            self.workers
                .spawn("ingestion-retention", move |_| async move {
                    let _done = done;
                    retention_loop(ctx).await
                });
        }
        self.store.set_wanted(true)?;
        run.token = Some(token);
        run.done = Some(done_rx);
        run.started_at_unix = time::OffsetDateTime::now_utc().unix_timestamp();
        tracing::info!(
            journald = config.sources.journald.enabled,
            hwmon = config.sources.hwmon.enabled,
            "ingestion started"
        );
        drop(run);
        Ok(self.status().await)
    }

    /// Stops every source, after each has saved its place; stopping what is stopped changes
    /// nothing.
    pub async fn stop(&self) -> Result<IngestionStatus, IngestionError> {
        let mut run = self.running.lock().await;
        if let Some(token) = run.token.take() {
            token.cancel();
            if let Some(mut done) = run.done.take()
                && tokio::time::timeout(STOP_DEADLINE, done.recv())
                    .await
                    .is_err()
            {
                self.counters
                    .error("the ingestion workers did not stop in time".into());
            }
            tracing::info!("ingestion stopped");
        }
        self.store.set_wanted(false)?;
        drop(run);
        Ok(self.status().await)
    }

    pub async fn status(&self) -> IngestionStatus {
        let run = self.running.lock().await;
        let c = &self.counters;
        let ts = |us: i64| (us > 0).then(|| pipeline::iso_us(us));
        IngestionStatus {
            running: run.token.is_some(),
            started_at: run
                .token
                .as_ref()
                .and_then(|_| crate::time::iso8601(run.started_at_unix)),
            journald_events: c.journald_events.load(Ordering::Relaxed),
            hwmon_events: c.hwmon_events.load(Ordering::Relaxed),
            last_journald_event: ts(c.last_journald_us.load(Ordering::Relaxed)),
            last_hwmon_event: ts(c.last_hwmon_us.load(Ordering::Relaxed)),
            errors: c.errors.load(Ordering::Relaxed),
            config_path: self.config_path.display().to_string(),
            hwmon_readings: c.hwmon_readings.load(Ordering::Relaxed),
            dropped_rate_limited: c.rate_limited.load(Ordering::Relaxed),
            redacted: c.redacted.load(Ordering::Relaxed),
            invalid: c.invalid.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            last_error: c
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            cursor_saved: matches!(self.store.cursor(), Ok(Some(_))),
        }
    }
}

/// Redacts, validates, stores and indexes one event; counts what happened to it.
fn keep(ctx: &Ctx, mut e: Event) -> Result<bool, store::IngestStoreError> {
    let c = &ctx.counters;
    let n = redact_event(&mut e, ctx.config.redaction);
    c.redacted.fetch_add(n as u64, Ordering::Relaxed);
    if let Err(why) = validate(&e) {
        c.invalid.fetch_add(1, Ordering::Relaxed);
        c.error(format!("an event was refused by validation: {why}"));
        return Ok(false);
    }
    let fresh = ctx.store.put_raw(&e)?;
    // Indexed again when it was stored already: a crash may have kept the raw event and lost
    // its memory entry, and putting an entry twice leaves one.
    ctx.store.index(&ctx.memory, &e)?;
    if !fresh {
        c.duplicates.fetch_add(1, Ordering::Relaxed);
    }
    Ok(fresh)
}

/// Waits `backoff` (or until stopped); true when stopped.
async fn pause(token: &CancellationToken, backoff: &mut Duration) -> bool {
    let stopped = tokio::select! {
        () = token.cancelled() => true,
        () = tokio::time::sleep(*backoff) => false,
    };
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    stopped
}

/// The next item of a stream from halbertd, which is opened again with `open` (after a
/// growing pause) whenever it ends or fails; `None` once ingestion is stopped. A failure is
/// handed on once, and the stream is opened again at the next call.
async fn next_item<T, F, Fut>(
    ctx: &Ctx,
    what: &str,
    stream: &mut Option<crate::daemon::Stream<T>>,
    backoff: &mut Duration,
    open: F,
) -> Option<Result<T, DaemonError>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<crate::daemon::Stream<T>, DaemonError>>,
{
    loop {
        let s = match stream {
            Some(s) => s,
            None => {
                if pause(&ctx.token, backoff).await {
                    return None;
                }
                match open().await {
                    Ok(s) => stream.insert(s),
                    Err(e) => {
                        ctx.counters
                            .error(format!("reopening the {what} stream: {e}"));
                        continue;
                    }
                }
            }
        };
        let msg = tokio::select! {
            () = ctx.token.cancelled() => return None,
            m = s.message() => m,
        };
        match msg {
            Ok(Some(item)) => {
                *backoff = Duration::from_secs(1);
                return Some(Ok(item));
            }
            Ok(None) => {
                ctx.counters
                    .error(format!("halbertd ended the {what} stream; resuming"));
                *stream = None;
            }
            Err(status) => {
                *stream = None;
                return Some(Err(ctx.daemon.stream_error(status)));
            }
        }
    }
}

async fn journald_loop(
    ctx: Ctx,
    first: crate::daemon::Stream<pb::JournalItem>,
) -> Result<(), String> {
    let c = ctx.counters.clone();
    let every = u64::from(ctx.config.sources.journald.cursor_persist_every);
    let mut limiter = RateLimiter::new(ctx.config.sources.journald.rate_limit_per_min);
    let mut cursor = ctx.store.cursor().map_err(|e| e.to_string())?;
    let mut unsaved = 0u64;
    let mut stream = Some(first);
    let mut backoff = Duration::from_secs(1);
    while let Some(next) = next_item(&ctx, "journal", &mut stream, &mut backoff, || {
        ctx.daemon
            .follow_journal(journal_request(&ctx.config, cursor.clone()))
    })
    .await
    {
        let item = match next {
            Ok(item) => item,
            Err(e) => {
                if matches!(e, DaemonError::InvalidArgument(_)) && cursor.is_some() {
                    // The saved place is not in this journal any more (a new machine id, a
                    // vacuumed journal): start again from now, and say so.
                    c.error(format!("{e}; following from now on"));
                    cursor = None;
                } else {
                    c.error(format!("the journal stream failed: {e}"));
                }
                continue;
            }
        };
        match item.item {
            Some(pb::journal_item::Item::Entry(entry)) => {
                let at = entry.cursor.clone();
                let e = journald_event(entry);
                if !limiter.admit(&rate_key(&e), e.ts_us) {
                    c.rate_limited.fetch_add(1, Ordering::Relaxed);
                } else {
                    let ts = e.ts_us;
                    match keep(&ctx, e) {
                        Ok(true) => {
                            c.journald_events.fetch_add(1, Ordering::Relaxed);
                            c.last_journald_us.fetch_max(ts, Ordering::Relaxed);
                        }
                        Ok(false) => {}
                        Err(e) => {
                            // Not stored: do not move past it; read it again from the cursor.
                            c.error(format!("storing a journal event: {e}"));
                            stream = None;
                            continue;
                        }
                    }
                }
                cursor = Some(at);
            }
            Some(pb::journal_item::Item::Progress(p)) => cursor = Some(p.cursor),
            None => continue,
        }
        unsaved += 1;
        if unsaved >= every
            && let Some(at) = &cursor
        {
            match ctx.store.save_cursor(at).await {
                Ok(()) => unsaved = 0,
                Err(e) => c.error(format!("saving the journal cursor: {e}")),
            }
        }
    }
    // Stopped: what was read is stored; make it durable and remember the place.
    if let Some(at) = &cursor {
        ctx.store
            .save_cursor(at)
            .await
            .map_err(|e| format!("saving the journal cursor at stop: {e}"))?;
    }
    Ok(())
}

async fn hwmon_loop(
    ctx: Ctx,
    first: crate::daemon::Stream<pb::SensorReadings>,
) -> Result<(), String> {
    let c = ctx.counters.clone();
    let mut summary = ctx
        .store
        .state_get(SUMMARIZER_KEY)
        .map(|b| sensors::Summarizer::from_json(&b))
        .unwrap_or_default();
    let mut stream = Some(first);
    let mut backoff = Duration::from_secs(1);
    let interval = ctx.config.sources.hwmon.interval_s;
    while let Some(next) = next_item(&ctx, "sensor", &mut stream, &mut backoff, || {
        ctx.daemon.watch_sensors(interval)
    })
    .await
    {
        let r = match next {
            Ok(r) => r,
            Err(e) => {
                c.error(format!("the sensor stream failed: {e}"));
                continue;
            }
        };
        let ts = r.timestamp_unix_ms.saturating_mul(1000);
        c.hwmon_readings
            .fetch_add(r.sensors.len() as u64, Ordering::Relaxed);
        c.last_hwmon_us.fetch_max(ts, Ordering::Relaxed);
        for e in summary.reading(ts, &r.sensors, &ctx.host) {
            match keep(&ctx, e) {
                Ok(true) => {
                    c.hwmon_events.fetch_add(1, Ordering::Relaxed);
                }
                Ok(false) => {}
                Err(e) => c.error(format!("storing a sensor event: {e}")),
            }
        }
    }
    ctx.store
        .state_put(SUMMARIZER_KEY, &summary.to_json())
        .map_err(|e| format!("keeping the hour in progress: {e}"))
}

async fn retention_loop(ctx: Ctx) -> Result<(), String> {
    let day_us = 86_400_000_000i64;
    loop {
        let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1_000_000;
        let r = &ctx.config.retention;
        let (store, memory) = (ctx.store.clone(), ctx.memory.clone());
        let (raw_before, index_before) = (
            now - i64::from(r.raw_days) * day_us,
            now - i64::from(r.index_days) * day_us,
        );
        match tokio::task::spawn_blocking(move || store.prune(&memory, raw_before, index_before))
            .await
        {
            Ok(Ok((0, 0))) => {}
            Ok(Ok((raw, indexed))) => {
                tracing::info!(raw, indexed, "ingestion retention removed old events");
            }
            Ok(Err(e)) => ctx.counters.error(format!("retention: {e}")),
            Err(e) => ctx.counters.error(format!("retention: {e}")),
        }
        tokio::select! {
            () = ctx.token.cancelled() => return Ok(()),
            () = tokio::time::sleep(RETENTION_EVERY) => {}
        }
    }
}
