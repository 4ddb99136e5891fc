//! Builds halbert-web's application state and starts its workers, for `main` and for the
//! tests alike: a test gets the same wiring as the real process, not a copy of it.

use std::path::Path;
use std::sync::Arc;

use halbert_workers::Workers;
use tokio_util::sync::CancellationToken;

use crate::api::AppState;
use crate::config::GuardrailsConfig;
use crate::daemon::Daemon;
use crate::feed::StatusFeed;
use crate::llm::client::LlmClient;
use crate::llm::settings::{Settings, SettingsError};
use crate::memory::Memory;
use crate::sandbox;
use crate::store::conversations::{ConversationError, Conversations};
use crate::store::rules::{RuleError, Rules};
use crate::store::{self, StoreError};

/// What opening the per-user stores can fail on.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Conversations(#[from] ConversationError),
    #[error(transparent)]
    Rules(#[from] RuleError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Log(#[from] crate::store::log::LogError),
    #[error(transparent)]
    Approvals(#[from] crate::approvals::ApprovalError),
    #[error(transparent)]
    Ingestion(#[from] crate::ingestion::store::IngestStoreError),
    #[error("the HTTP client for model endpoints: {0}")]
    Http(String),
}

/// The stores in the user's state dir, opened once at start (blocking: call before the
/// runtime serves requests).
#[derive(Debug)]
pub struct Stores {
    pub db: sled::Db,
    pub conversations: Conversations,
    pub memory: Memory,
    pub rules: Rules,
    pub terminal: crate::terminal::Terminal,
    pub recovery: Arc<crate::recovery::Recovery>,
    pub policy: Arc<crate::policy::PolicyStore>,
    pub approvals: Arc<crate::approvals::Approvals>,
    pub models: Arc<Settings>,
    pub llm: LlmClient,
    pub ingest: crate::ingestion::store::IngestStore,
    /// Where the local embedding model is looked for.
    pub model_dirs: Arc<[std::path::PathBuf]>,
}

impl Stores {
    pub fn open(state_dir: &Path) -> Result<Self, AppError> {
        let db = store::open(state_dir)?;
        let models = Arc::new(Settings::open(state_dir)?);
        let model_dirs = crate::memory::embed::model_dirs(state_dir);
        let (embedder, note) = crate::memory::embed::at_start(&models.get(), &model_dirs);
        tracing::info!(embedding = embedder.name(), "{note}");
        let memory = Memory::with_embedder(&db, embedder, note);
        Ok(Self {
            model_dirs: model_dirs.into(),
            conversations: Conversations::open(&db, memory.clone())?,
            memory,
            rules: Rules::open(&db)?,
            terminal: crate::terminal::Terminal::open(&db)?,
            recovery: Arc::new(crate::recovery::Recovery::open(&db)?),
            policy: Arc::new(crate::policy::PolicyStore::open(state_dir)),
            approvals: Arc::new(crate::approvals::Approvals::open(&db)?),
            models,
            llm: LlmClient::new().map_err(AppError::Http)?,
            ingest: crate::ingestion::store::IngestStore::open(&db)?,
            db,
        })
    }
}

/// How often pending approval requests are checked for expiry.
const EXPIRY_SWEEP: std::time::Duration = std::time::Duration::from_secs(15);

/// How to run: where halbertd is, how often it sends status, what the sandbox did.
#[derive(Debug, Clone)]
pub struct Options {
    pub daemon_socket: std::path::PathBuf,
    pub status_interval_ms: u32,
    pub guardrails: GuardrailsConfig,
    pub sandbox: sandbox::Outcome,
    /// How long the health gate watches a unit after a config change (10 s).
    pub settle: std::time::Duration,
    /// The user's `ingestion.yml` (read when ingestion starts).
    pub ingestion_config: std::path::PathBuf,
    /// The manual pages indexed into `self_knowledge_all` (`/usr/share/man`).
    pub man_root: std::path::PathBuf,
}

/// The state handlers share, with the status feed already running as worker `status-feed`
/// under `shutdown`. Must be called inside the runtime.
pub fn build(opts: Options, stores: Stores, shutdown: CancellationToken) -> AppState {
    let workers = Workers::new(shutdown.clone());
    let daemon = Daemon::new(&opts.daemon_socket);
    let feed = Arc::new(StatusFeed::default());
    {
        let (feed, daemon) = (feed.clone(), daemon.clone());
        let interval = opts.status_interval_ms;
        workers.spawn("status-feed", move |token| async move {
            feed.run(daemon, interval, token).await
        });
    }
    let gate = crate::actions::Gate {
        daemon: daemon.clone(),
        policy: stores.policy.clone(),
        approvals: stores.approvals.clone(),
        feed: feed.clone(),
        recovery: stores.recovery.clone(),
        guardrails: opts.guardrails,
        settle: opts.settle,
    };
    {
        // Requests past their time become `expired` (and are broadcast so) even when nobody
        // looks at the list.
        let gate = gate.clone();
        workers.spawn("approval-expiry", move |token| async move {
            loop {
                tokio::select! {
                    () = token.cancelled() => return Ok(()),
                    () = tokio::time::sleep(EXPIRY_SWEEP) => {}
                }
                if let Err(e) = crate::actions::gate::expire(&gate).await {
                    tracing::warn!(error = %e, "expiring approval requests");
                }
            }
        });
    }
    spawn_reembed(&workers, &stores.memory, &feed);
    let knowledge =
        crate::knowledge::Knowledge::open(&stores.db, stores.memory.clone(), opts.man_root)
            .map_err(|e| tracing::error!(error = %e, "the manual-page index cannot be opened"))
            .ok();
    if let Some(k) = &knowledge {
        k.watch(&workers, knowledge_report(&feed));
    }
    let ingestion = Arc::new(crate::ingestion::Ingestion::new(
        daemon.clone(),
        stores.ingest,
        stores.memory.clone(),
        opts.ingestion_config,
        workers.clone(),
        shutdown.clone(),
    ));
    {
        // Left running by the user: it runs again, once halbertd answers.
        let ingestion = ingestion.clone();
        tokio::spawn(async move { ingestion.resume().await });
    }
    AppState {
        ingestion,
        gate,
        policy: stores.policy,
        daemon,
        guardrails: opts.guardrails,
        feed,
        workers,
        shutdown,
        sandbox: opts.sandbox,
        db: stores.db,
        conversations: stores.conversations,
        memory: stores.memory,
        rules: stores.rules,
        terminal: stores.terminal,
        recovery: stores.recovery,
        models: stores.models,
        llm: stores.llm,
        model_dirs: stores.model_dirs,
        knowledge,
    }
}

/// Starts the worker `memory-reembed`: entries written under another embedder (hashed words
/// before the model was installed, or before a change in settings) are embedded again, in
/// batches, with progress on /ws. Run at start and after every change of embedder; a job for
/// an earlier embedder stops by itself.
pub fn spawn_reembed(workers: &Workers, memory: &Memory, feed: &Arc<StatusFeed>) {
    let (memory, feed) = (memory.clone(), feed.clone());
    workers.spawn("memory-reembed", move |token| async move {
        let cols = memory.collections().map_err(|e| e.to_string())?;
        for (c, _, _) in cols {
            let (m, f, t, coll) = (memory.clone(), feed.clone(), token.clone(), c.clone());
            let done = tokio::task::spawn_blocking(move || {
                let name = m.embedder().name().to_owned();
                m.reembed(
                    &coll,
                    |done, total| {
                        f.broadcast(&crate::events::Event::MemoryReembed {
                            collection: coll.clone(),
                            embedder: name.clone(),
                            done,
                            total,
                        });
                    },
                    &|| t.is_cancelled(),
                )
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("embedding {c} again: {e}"))?;
            if done > 0 {
                tracing::info!(collection = %c, entries = done, "memory embedded again");
            }
            if token.is_cancelled() {
                break;
            }
        }
        Ok(())
    });
}

/// Sends a manual-page job's progress to every `/ws` client (`knowledge_index`).
pub fn knowledge_report(feed: &Arc<StatusFeed>) -> crate::knowledge::Report {
    let feed = feed.clone();
    Arc::new(move |p: &crate::knowledge::Progress| {
        feed.broadcast(&crate::events::Event::KnowledgeIndex {
            running: p.running,
            done: p.done,
            total: p.total,
            changed: p.changed,
            removed: p.removed,
        });
    })
}
