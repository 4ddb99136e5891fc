//! `/api/chat/memory/*`: the per-user vector memory (see [`crate::memory`]) — stats, search,
//! collections, paged entries, deleting entries and clearing a collection.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use crate::bounds::{self, Bounded, Kind};

use super::views::{Entry, Scalar};
use super::{ApiError, ApiJson, AppState, ErrorBody, blocking, invalid};
use crate::memory::CONVERSATIONS;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemoryStats {
    pub status: String,
    /// The vector store is open and usable (the name is kept from the earlier API).
    pub chromadb_available: bool,
    /// Entries in `self_conversations`.
    pub memory_events: usize,
    /// Entries per collection.
    pub collections: BTreeMap<String, usize>,
    /// How entries are embedded (computed locally): `all-MiniLM-L6-v2`, or `hashed-words-512`
    /// when the local model is not installed.
    pub embedding: String,
    /// Numbers per vector.
    pub embedding_dim: usize,
    /// Which embedder and why, in a sentence (where the model was found, or why not).
    pub embedding_note: String,
    /// Entries still to be embedded under this embedder (a background job after a change;
    /// progress on /ws as `memory_reembed`).
    pub embedding_pending: usize,
}

#[utoipa::path(get, path = "/api/chat/memory/stats", tag = "memory", responses((status = 200, body = MemoryStats)))]
pub async fn stats(State(st): State<AppState>) -> Result<Json<MemoryStats>, ApiError> {
    let m = st.memory.clone();
    let (cols, info) = blocking(move || {
        Ok::<_, crate::memory::MemoryError>((m.collections()?, m.embedding_info()?))
    })
    .await??;
    Ok(Json(MemoryStats {
        status: "ok".into(),
        chromadb_available: true,
        memory_events: cols
            .iter()
            .find(|c| c.0 == CONVERSATIONS)
            .map_or(0, |c| c.1),
        collections: cols.into_iter().map(|(n, c, _)| (n, c)).collect(),
        embedding: info.name,
        embedding_dim: info.dim,
        embedding_note: info.note,
        embedding_pending: info.pending,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryQuery {
    /// Not blank.
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub query: String,
    /// 1 to 100; default 5.
    #[serde(default, deserialize_with = "crate::bounds::whole_number")]
    #[schema(minimum = 1, maximum = 100)]
    pub k: Option<usize>,
    /// Default `self_conversations`.
    #[serde(default)]
    #[schema(max_length = 256, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub collection: Option<String>,
}

impl Bounded for MemoryQuery {
    fn check_bounds(&self) -> Result<(), String> {
        bounds::text("query", &self.query, bounds::QUERY_CHARS, Kind::Text)?;
        bounds::opt_line("collection", &self.collection, bounds::ID_CHARS)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemoryHit {
    pub content: String,
    /// For conversation entries; "" otherwise.
    pub role: String,
    pub conversation_id: String,
    /// 1 − cosine similarity; smaller is closer.
    pub distance: f64,
    pub id: String,
    #[schema(value_type = Object)]
    pub metadata: BTreeMap<String, Scalar>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemoryResults {
    pub status: String,
    pub query: String,
    pub results: Vec<MemoryHit>,
    pub count: usize,
}

fn text(m: &BTreeMap<String, crate::memory::Scalar>, k: &str) -> String {
    match m.get(k) {
        Some(crate::memory::Scalar::Text(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Entries closest to the query, nearest first.
#[utoipa::path(post, path = "/api/chat/memory/query", tag = "memory", request_body = MemoryQuery,
    responses((status = 200, body = MemoryResults), (status = 404, body = ErrorBody, description = "Unknown collection"),
        (status = 422, body = ErrorBody, description = "Empty query or k outside 1..100")))]
pub async fn query(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<MemoryQuery>,
) -> Result<Json<MemoryResults>, ApiError> {
    if req.query.trim().is_empty() || req.query.chars().count() > 2000 {
        return Err(invalid("query must be 1 to 2000 characters"));
    }
    let k = req.k.unwrap_or(5);
    if !(1..=100).contains(&k) {
        return Err(invalid("k must be between 1 and 100"));
    }
    let collection = req.collection.unwrap_or_else(|| CONVERSATIONS.into());
    let (m, q) = (st.memory.clone(), req.query.clone());
    let hits = blocking(move || m.query(&collection, &q, k)).await??;
    let results: Vec<MemoryHit> = hits
        .into_iter()
        .map(|h| MemoryHit {
            role: text(&h.entry.metadata, "role"),
            conversation_id: text(&h.entry.metadata, "conversation_id"),
            content: h.entry.content,
            distance: h.distance,
            id: h.entry.id,
            metadata: h
                .entry
                .metadata
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
        })
        .collect();
    Ok(Json(MemoryResults {
        status: "ok".into(),
        query: req.query,
        count: results.len(),
        results,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CollectionView {
    pub name: String,
    pub count: usize,
    /// One of Halbert's own collections.
    pub known: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CollectionList {
    pub status: String,
    pub collections: Vec<CollectionView>,
}

#[utoipa::path(get, path = "/api/chat/memory/collections", tag = "memory", responses((status = 200, body = CollectionList)))]
pub async fn collections(State(st): State<AppState>) -> Result<Json<CollectionList>, ApiError> {
    let m = st.memory.clone();
    let cols = blocking(move || m.collections()).await??;
    Ok(Json(CollectionList {
        status: "ok".into(),
        collections: cols
            .into_iter()
            .map(|(name, count, known)| CollectionView { name, count, known })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// Default 0.
    pub offset: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntryPage {
    pub status: String,
    pub collection: String,
    pub entries: Vec<Entry>,
    /// Entries in this page.
    pub count: usize,
    /// Entries in the collection.
    pub total: usize,
}

/// A page of a collection's entries, in id order.
#[utoipa::path(get, path = "/api/chat/memory/entries/{collection}", tag = "memory", params(Page, ("collection" = String, Path)),
    responses((status = 200, body = EntryPage), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn entries(
    State(st): State<AppState>,
    Path(collection): Path<String>,
    super::ApiQuery(p): super::ApiQuery<Page>,
) -> Result<Json<EntryPage>, ApiError> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(invalid("limit must be between 1 and 500"));
    }
    let offset = p.offset.unwrap_or(0);
    let (m, c) = (st.memory.clone(), collection.clone());
    let (entries, total) = blocking(move || m.entries(&c, limit, offset)).await??;
    Ok(Json(EntryPage {
        status: "ok".into(),
        collection,
        count: entries.len(),
        entries: super::views::all(entries),
        total,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntryDeleted {
    pub status: String,
    pub deleted: bool,
}

#[utoipa::path(delete, path = "/api/chat/memory/entry/{collection}/{entry_id}", tag = "memory",
    responses((status = 200, body = EntryDeleted), (status = 404, body = ErrorBody, description = "Unknown collection")))]
pub async fn delete_entry(
    State(st): State<AppState>,
    Path((collection, id)): Path<(String, String)>,
) -> Result<Json<EntryDeleted>, ApiError> {
    let m = st.memory.clone();
    let n = blocking(move || m.delete(&collection, &[id])).await??;
    Ok(Json(EntryDeleted {
        status: "ok".into(),
        deleted: n == 1,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteEntries {
    #[schema(value_type = Vec<crate::api::schema::ListId>, max_items = 1000)]
    pub entry_ids: Vec<String>,
}

impl Bounded for DeleteEntries {
    fn check_bounds(&self) -> Result<(), String> {
        bounds::lines(
            "entry_ids",
            &self.entry_ids,
            bounds::DELETE_IDS,
            bounds::ID_CHARS,
        )
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntriesDeleted {
    pub status: String,
    pub deleted: usize,
}

#[utoipa::path(post, path = "/api/chat/memory/delete/{collection}", tag = "memory", request_body = DeleteEntries,
    responses((status = 200, body = EntriesDeleted), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete_entries(
    State(st): State<AppState>,
    Path(collection): Path<String>,
    ApiJson(req): ApiJson<DeleteEntries>,
) -> Result<Json<EntriesDeleted>, ApiError> {
    if req.entry_ids.len() > 1000 {
        return Err(invalid("at most 1000 entry_ids per request"));
    }
    let m = st.memory.clone();
    let n = blocking(move || m.delete(&collection, &req.entry_ids)).await??;
    Ok(Json(EntriesDeleted {
        status: "ok".into(),
        deleted: n,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Cleared {
    pub status: String,
    pub cleared: bool,
}

#[utoipa::path(post, path = "/api/chat/memory/clear/{collection}", tag = "memory",
    responses((status = 200, body = Cleared), (status = 404, body = ErrorBody)))]
pub async fn clear(
    State(st): State<AppState>,
    Path(collection): Path<String>,
) -> Result<Json<Cleared>, ApiError> {
    let m = st.memory.clone();
    blocking(move || m.clear(&collection)).await??;
    Ok(Json(Cleared {
        status: "ok".into(),
        cleared: true,
    }))
}

/// Which embedder is chosen (the view's side of [`EmbeddingRequest`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingKind {
    /// The local model when it is installed, else hashed words.
    Auto,
    /// all-MiniLM-L6-v2 on this machine (package halbert-model-minilm).
    Local,
    /// Hashed words: shared words only.
    Hashed,
    /// An embedding model of a saved endpoint (Ollama `/api/embed`, OpenAI `/v1/embeddings`).
    Endpoint,
}

/// The embedder to use: `{"kind": "auto"}`, `local`, `hashed`, or `endpoint` with the saved
/// endpoint and its embedding model.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EmbeddingRequest {
    /// The local model when it is installed, else hashed words.
    Auto,
    /// all-MiniLM-L6-v2 on this machine (package halbert-model-minilm).
    Local,
    /// Hashed words: shared words only.
    Hashed,
    /// An embedding model of a saved endpoint (Ollama `/api/embed`, OpenAI `/v1/embeddings`).
    Endpoint {
        #[schema(max_length = 256, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
        endpoint_id: String,
        /// E.g. `nomic-embed-text`; not blank.
        #[schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
        )]
        model: String,
    },
}

impl Bounded for EmbeddingRequest {
    fn check_bounds(&self) -> Result<(), String> {
        match self {
            Self::Endpoint { endpoint_id, model } => {
                bounds::text("endpoint_id", endpoint_id, bounds::ID_CHARS, Kind::Line)?;
                bounds::text("model", model, bounds::NAME_CHARS, Kind::Line)
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmbeddingSettings {
    /// What is chosen: auto, local, hashed or endpoint.
    pub kind: EmbeddingKind,
    pub endpoint_id: Option<String>,
    pub model: Option<String>,
    /// The embedder in use (its vectors are stored under this name).
    pub embedding: String,
    pub embedding_dim: usize,
    /// Which embedder and why, in a sentence.
    pub embedding_note: String,
    /// Entries still to be embedded under it (progress on /ws as `memory_reembed`).
    pub embedding_pending: usize,
    /// Where the local model is installed; null when it is not.
    pub local_model: Option<String>,
}

async fn embedding_view(st: &AppState) -> Result<EmbeddingSettings, ApiError> {
    use crate::llm::settings::EmbeddingChoice;
    let m = st.memory.clone();
    let info = blocking(move || m.embedding_info()).await??;
    let (kind, endpoint_id, model) = match st.models.get().embedding {
        None => (EmbeddingKind::Auto, None, None),
        Some(EmbeddingChoice::Local) => (EmbeddingKind::Local, None, None),
        Some(EmbeddingChoice::Hashed) => (EmbeddingKind::Hashed, None, None),
        Some(EmbeddingChoice::Endpoint {
            endpoint_id, model, ..
        }) => (EmbeddingKind::Endpoint, Some(endpoint_id), Some(model)),
    };
    Ok(EmbeddingSettings {
        kind,
        endpoint_id,
        model,
        embedding: info.name,
        embedding_dim: info.dim,
        embedding_note: info.note,
        embedding_pending: info.pending,
        local_model: crate::memory::embed::find_model(&st.model_dirs)
            .map(|d| d.display().to_string()),
    })
}

/// The embedder memory uses, and what is chosen in settings.
#[utoipa::path(get, path = "/api/settings/embedding", tag = "memory",
    responses((status = 200, body = EmbeddingSettings)))]
pub async fn embedding(State(st): State<AppState>) -> Result<Json<EmbeddingSettings>, ApiError> {
    Ok(Json(embedding_view(&st).await?))
}

/// Choose the embedder. An endpoint's model is asked to embed a probe text first; entries
/// stored under the previous embedder are embedded again in the background.
#[utoipa::path(post, path = "/api/settings/embedding", tag = "memory", request_body = EmbeddingRequest,
    responses((status = 200, body = EmbeddingSettings),
        (status = 404, body = ErrorBody, description = "Unknown endpoint"),
        (status = 409, body = ErrorBody, description = "The local model was chosen and is not installed"),
        (status = 422, body = ErrorBody, description = "An unknown kind, or an endpoint without its model"),
        (status = 502, body = ErrorBody, description = "The endpoint cannot embed with that model"),
        (status = 504, body = ErrorBody)))]
pub async fn set_embedding(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<EmbeddingRequest>,
) -> Result<Json<EmbeddingSettings>, ApiError> {
    use crate::memory::embed::Requested;
    let requested = match req {
        EmbeddingRequest::Auto => Requested::Auto,
        EmbeddingRequest::Local => Requested::Local,
        EmbeddingRequest::Hashed => Requested::Hashed,
        EmbeddingRequest::Endpoint { endpoint_id, model } => {
            Requested::Endpoint { endpoint_id, model }
        }
    };
    crate::memory::embed::change(&st.memory, &st.models, &st.llm, &st.model_dirs, requested)
        .await?;
    crate::app::spawn_reembed(&st.workers, &st.memory, &st.feed);
    Ok(Json(embedding_view(&st).await?))
}
