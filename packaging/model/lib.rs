//! No code: this crate only describes the package `halbert-model-minilm` (see Cargo.toml).
