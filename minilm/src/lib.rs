//! all-MiniLM-L6-v2's forward pass for one short text, in plain Rust: what a memory search
//! embeds (the question). candle's matrix multiply packs every weight matrix before using it,
//! which for a handful of tokens costs three times the arithmetic (measured: 63% of a
//! question's embedding went to packing); here each weight row is read once and multiplied
//! with every token while it is in cache. Batches (storing entries) stay with candle, which
//! is faster there. Both give the same vectors to within rounding (checked by a test with the
//! real model).
//!
//! Its own crate so that it is compiled optimized in debug builds too (tests, `make dev`):
//! unoptimized, one question took a second.
//!
//! The weights of the six layers are read from `model.safetensors` into memory (42 MB); the
//! word embeddings (47 MB) stay in the file and only the rows of a text's tokens are read.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::Path;

const HIDDEN: usize = 384;
const HEADS: usize = 12;
const HEAD_DIM: usize = HIDDEN / HEADS;
const INTER: usize = 1536;
const LAYERS: usize = 6;
const EPS: f32 = 1e-12;
/// Texts longer than this (in tokens) go to candle: the gain is for short questions.
pub const MAX_TOKENS: usize = 48;

struct Linear {
    /// Row-major `[out][in]`, as PyTorch stores it.
    w: Vec<f32>,
    b: Vec<f32>,
    inputs: usize,
}

struct Norm {
    w: Vec<f32>,
    b: Vec<f32>,
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    attn_out: Linear,
    attn_norm: Norm,
    inter: Linear,
    out: Linear,
    out_norm: Norm,
}

/// The encoder, ready to embed one text at a time.
pub struct Encoder {
    file: std::fs::File,
    /// Byte offset of the word-embedding matrix in the file, and its row count.
    words_at: u64,
    vocab: usize,
    position: Vec<f32>,
    token_type: Vec<f32>,
    norm: Norm,
    layers: Vec<Layer>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encoder(all-MiniLM-L6-v2, one text)")
    }
}

#[derive(serde::Deserialize)]
struct TensorInfo {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

impl Encoder {
    pub fn load(path: &Path) -> Result<Self, String> {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut len = [0u8; 8];
        file.read_exact_at(&mut len, 0).map_err(|e| e.to_string())?;
        let n = usize::try_from(u64::from_le_bytes(len)).map_err(|e| e.to_string())?;
        if n > 16 << 20 {
            return Err("the safetensors header is too large".into());
        }
        let mut header = vec![0u8; n];
        file.read_exact_at(&mut header, 8)
            .map_err(|e| e.to_string())?;
        let mut infos: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|e| format!("header: {e}"))?;
        infos.remove("__metadata__");
        let infos: HashMap<String, TensorInfo> = infos
            .into_iter()
            .map(|(k, v)| Ok((k, serde_json::from_value(v).map_err(|e| e.to_string())?)))
            .collect::<Result<_, String>>()?;
        let base = 8 + n as u64;
        // Some exports prefix every name with "bert.".
        let find = |name: &str| {
            infos
                .get(name)
                .or_else(|| infos.get(&format!("bert.{name}")))
                .ok_or_else(|| format!("no tensor {name}"))
        };
        let read = |name: &str, shape: &[usize]| -> Result<Vec<f32>, String> {
            let t = find(name)?;
            if t.dtype != "F32" || t.shape != shape {
                return Err(format!(
                    "{name} is {} {:?}, not F32 {shape:?}",
                    t.dtype, t.shape
                ));
            }
            let mut bytes = vec![0u8; (t.data_offsets[1] - t.data_offsets[0]) as usize];
            file.read_exact_at(&mut bytes, base + t.data_offsets[0])
                .map_err(|e| e.to_string())?;
            Ok(bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        };
        let linear = |p: &str, out: usize, inputs: usize| -> Result<Linear, String> {
            Ok(Linear {
                w: read(&format!("{p}.weight"), &[out, inputs])?,
                b: read(&format!("{p}.bias"), &[out])?,
                inputs,
            })
        };
        let norm = |p: &str| -> Result<Norm, String> {
            Ok(Norm {
                w: read(&format!("{p}.weight"), &[HIDDEN])?,
                b: read(&format!("{p}.bias"), &[HIDDEN])?,
            })
        };
        let words = find("embeddings.word_embeddings.weight")?;
        if words.dtype != "F32" || words.shape.len() != 2 || words.shape[1] != HIDDEN {
            return Err("the word embeddings are not F32 [vocab, 384]".into());
        }
        let mut layers = Vec::with_capacity(LAYERS);
        for i in 0..LAYERS {
            let p = format!("encoder.layer.{i}");
            layers.push(Layer {
                q: linear(&format!("{p}.attention.self.query"), HIDDEN, HIDDEN)?,
                k: linear(&format!("{p}.attention.self.key"), HIDDEN, HIDDEN)?,
                v: linear(&format!("{p}.attention.self.value"), HIDDEN, HIDDEN)?,
                attn_out: linear(&format!("{p}.attention.output.dense"), HIDDEN, HIDDEN)?,
                attn_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                inter: linear(&format!("{p}.intermediate.dense"), INTER, HIDDEN)?,
                out: linear(&format!("{p}.output.dense"), HIDDEN, INTER)?,
                out_norm: norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        Ok(Self {
            words_at: base + words.data_offsets[0],
            vocab: words.shape[0],
            position: read("embeddings.position_embeddings.weight", &[512, HIDDEN])?,
            token_type: read("embeddings.token_type_embeddings.weight", &[2, HIDDEN])?,
            norm: norm("embeddings.LayerNorm")?,
            layers,
            file,
        })
    }

    /// The unit vector of one text's token ids (with its [CLS] and [SEP]): mean pooling over
    /// the tokens, as the model was trained.
    pub fn embed(&self, ids: &[u32]) -> Result<Vec<f32>, String> {
        let t = ids.len();
        if t == 0 || t > MAX_TOKENS {
            return Err(format!("{t} tokens"));
        }
        let mut x = vec![0f32; t * HIDDEN];
        let mut row = [0u8; HIDDEN * 4];
        for (i, &id) in ids.iter().enumerate() {
            let id = id as usize;
            if id >= self.vocab {
                return Err(format!("token {id} is not in the vocabulary"));
            }
            self.file
                .read_exact_at(&mut row, self.words_at + (id * HIDDEN * 4) as u64)
                .map_err(|e| e.to_string())?;
            let xi = &mut x[i * HIDDEN..(i + 1) * HIDDEN];
            for (j, v) in xi.iter_mut().enumerate() {
                let c = &row[j * 4..j * 4 + 4];
                *v = f32::from_le_bytes([c[0], c[1], c[2], c[3]])
                    + self.position[i * HIDDEN + j]
                    + self.token_type[j];
            }
        }
        layer_norm(&mut x, &self.norm);
        let (mut q, mut k, mut v) = (
            vec![0f32; t * HIDDEN],
            vec![0f32; t * HIDDEN],
            vec![0f32; t * HIDDEN],
        );
        let mut ctx = vec![0f32; t * HIDDEN];
        let mut tmp = vec![0f32; t * HIDDEN];
        let mut inter = vec![0f32; t * INTER];
        let mut scores = vec![0f32; t];
        let scale = 1.0 / (HEAD_DIM as f32).sqrt();
        for l in &self.layers {
            apply(&l.q, &x, &mut q, t);
            apply(&l.k, &x, &mut k, t);
            apply(&l.v, &x, &mut v, t);
            ctx.fill(0.0);
            for h in 0..HEADS {
                let hs = h * HEAD_DIM..(h + 1) * HEAD_DIM;
                for i in 0..t {
                    let qi = &q[i * HIDDEN..][hs.clone()];
                    let mut max = f32::NEG_INFINITY;
                    for (j, s) in scores.iter_mut().enumerate() {
                        let kj = &k[j * HIDDEN..][hs.clone()];
                        *s = qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * scale;
                        max = max.max(*s);
                    }
                    let mut sum = 0.0;
                    for s in scores.iter_mut() {
                        *s = (*s - max).exp();
                        sum += *s;
                    }
                    let out = &mut ctx[i * HIDDEN..][hs.clone()];
                    for (j, s) in scores.iter().enumerate() {
                        let vj = &v[j * HIDDEN..][hs.clone()];
                        let p = s / sum;
                        for (o, b) in out.iter_mut().zip(vj) {
                            *o += p * b;
                        }
                    }
                }
            }
            apply(&l.attn_out, &ctx, &mut tmp, t);
            for (a, b) in x.iter_mut().zip(&tmp) {
                *a += b;
            }
            layer_norm(&mut x, &l.attn_norm);
            apply(&l.inter, &x, &mut inter, t);
            for a in inter.iter_mut() {
                *a = 0.5 * *a * (1.0 + libm::erff(*a / std::f32::consts::SQRT_2));
            }
            apply(&l.out, &inter, &mut tmp, t);
            for (a, b) in x.iter_mut().zip(&tmp) {
                *a += b;
            }
            layer_norm(&mut x, &l.out_norm);
        }
        let mut mean = vec![0f32; HIDDEN];
        for row in x.chunks_exact(HIDDEN) {
            for (m, a) in mean.iter_mut().zip(row) {
                *m += a;
            }
        }
        let norm = mean.iter().map(|a| a * a).sum::<f32>().sqrt();
        if norm > 0.0 {
            mean.iter_mut().for_each(|a| *a /= norm);
        }
        Ok(mean)
    }
}

fn layer_norm(x: &mut [f32], n: &Norm) {
    for row in x.chunks_exact_mut(HIDDEN) {
        let mean = row.iter().sum::<f32>() / HIDDEN as f32;
        let var = row.iter().map(|a| (a - mean) * (a - mean)).sum::<f32>() / HIDDEN as f32;
        let inv = 1.0 / (var + EPS).sqrt();
        for ((a, w), b) in row.iter_mut().zip(&n.w).zip(&n.b) {
            *a = (*a - mean) * inv * w + b;
        }
    }
}

/// `y[t] = W·x[t] + b` for the `t` tokens: each weight row is read once, for every token.
fn apply(l: &Linear, x: &[f32], y: &mut [f32], t: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { apply_fma(l, x, y, t) };
        return;
    }
    apply_rows::<false>(l, x, y, t);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn apply_fma(l: &Linear, x: &[f32], y: &mut [f32], t: usize) {
    apply_rows::<true>(l, x, y, t);
}

/// Eight lanes (one SIMD register) per token, four tokens per pass over a weight row, so each
/// eight weights loaded serve four tokens. `FUSED` is a fused multiply-add (where the CPU has
/// one; elsewhere `mul_add` would be a slow library call).
#[inline(always)]
fn apply_rows<const FUSED: bool>(l: &Linear, x: &[f32], y: &mut [f32], t: usize) {
    let n = l.inputs;
    let out = l.b.len();
    let madd = |a: f32, b: f32, c: f32| if FUSED { a.mul_add(b, c) } else { a * b + c };
    for (o, w) in l.w.chunks_exact(n).enumerate() {
        let mut i = 0;
        while i + 4 <= t {
            let mut acc = [[0f32; 8]; 4];
            let xs = [
                &x[i * n..(i + 1) * n],
                &x[(i + 1) * n..(i + 2) * n],
                &x[(i + 2) * n..(i + 3) * n],
                &x[(i + 3) * n..(i + 4) * n],
            ];
            for k in (0..n).step_by(8) {
                let w8 = &w[k..k + 8];
                for (a, xr) in acc.iter_mut().zip(xs) {
                    let x8 = &xr[k..k + 8];
                    for j in 0..8 {
                        a[j] = madd(w8[j], x8[j], a[j]);
                    }
                }
            }
            for (d, a) in acc.iter().enumerate() {
                y[(i + d) * out + o] = a.iter().sum::<f32>() + l.b[o];
            }
            i += 4;
        }
        for i in i..t {
            let xr = &x[i * n..(i + 1) * n];
            let mut a = [0f32; 8];
            for k in (0..n).step_by(8) {
                let (w8, x8) = (&w[k..k + 8], &xr[k..k + 8]);
                for j in 0..8 {
                    a[j] = madd(w8[j], x8[j], a[j]);
                }
            }
            y[i * out + o] = a.iter().sum::<f32>() + l.b[o];
        }
    }
}
