//! `/api/discovery*`: what halbertd's scanners found, scans, and the `@mention` list.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use halbert_proto::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::bounds::{self, Bounded};
use serde_json::{Map, Value};

use super::{ApiError, AppState, Code, ErrorBody, decode_json};
use crate::events::{Event, ScanProgress};

/// The discovery types, as the API names them (the contract lists them).
const TYPES: [&str; 8] = halbert_proto::v1::DiscoveryType::NAMES;

/// ISO 8601 of a Unix-milliseconds time; `None` for 0 ("never").
use crate::time::iso8601_ms as iso_ms;

fn check_type(t: &str) -> Result<(), ApiError> {
    if TYPES.contains(&t) {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::UnknownType,
            format!(
                "unknown discovery type {t:?}; valid types: {}",
                TYPES.join(", ")
            ),
        ))
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DiscoveryActionView {
    pub id: String,
    pub label: String,
    pub icon: String,
    pub requires_approval: bool,
    pub danger: bool,
    /// The change this button asks for, in the one shape routes, chat and approvals use (only
    /// for buttons that change something Halbert can do: a unit's start, stop and restart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<crate::actions::Action>,
}

/// One discovered item.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DiscoveryView {
    /// Stable across scans, e.g. `disk-nvme0n1`, `fs-home`, `service-nginx`.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub title: String,
    /// `healthy`, `warning`, `critical`, `failed`, `stopped` or `unknown`.
    pub status: String,
    /// Human text of the status, e.g. `SMART Failed`, `92% Used`, `Running`.
    pub status_detail: String,
    /// `critical`, `warning`, `info` or `success`.
    pub severity: String,
    pub description: String,
    /// A lucide icon name.
    pub icon: String,
    pub source: String,
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    pub actions: Vec<DiscoveryActionView>,
    /// ISO 8601 UTC.
    pub last_scanned: Option<String>,
    pub mentionable: bool,
    /// How to mention it in chat: `@<id>`.
    pub mention: String,
}

pub fn view(i: pb::DiscoveryItem) -> DiscoveryView {
    let type_name = i.type_name();
    let unit = (type_name == "service").then(|| i.name.clone());
    let data = match serde_json::from_str(&i.data_json) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    DiscoveryView {
        mention: format!("@{}", i.id),
        id: i.id,
        kind: type_name.into(),
        name: i.name,
        title: i.title,
        status: i.status,
        status_detail: i.status_detail,
        severity: i.severity,
        description: i.description,
        icon: i.icon,
        source: i.source,
        data,
        actions: i
            .actions
            .into_iter()
            .map(|a| DiscoveryActionView {
                action: unit
                    .as_ref()
                    .and_then(|u| crate::actions::Action::unit_job(&a.id, u)),
                id: a.id,
                label: a.label,
                icon: a.icon,
                requires_approval: a.requires_approval,
                danger: a.danger,
            })
            .collect(),
        last_scanned: iso_ms(i.last_scanned_unix_ms),
        mentionable: true,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DiscoveryListView {
    pub discoveries: Vec<DiscoveryView>,
    #[serde(rename = "type")]
    pub kind: String,
    /// When this type was last scanned (ISO 8601 UTC); null before the first scan.
    pub last_scan: Option<String>,
    pub scan_duration_ms: u64,
    /// Why the last scan of this type failed; `discoveries` are then from the last good scan.
    pub error: Option<String>,
}

/// Items of one type, from the last scan.
#[utoipa::path(get, path = "/api/discovery/{type}", tag = "discovery",
    params(("type" = super::schema::DiscoveryType, Path)),
    responses(
        (status = 200, body = DiscoveryListView),
        (status = 400, body = ErrorBody, description = "Unknown type; the detail lists the valid ones"),
        (status = 503, body = ErrorBody, description = "halbertd is unreachable"),
    ))]
pub async fn list(
    State(st): State<AppState>,
    Path(kind): Path<String>,
) -> Result<Json<DiscoveryListView>, ApiError> {
    check_type(&kind)?;
    let l = st.daemon.discovery_list(&kind).await?;
    let type_name = l.type_name();
    Ok(Json(DiscoveryListView {
        discoveries: l.items.into_iter().map(view).collect(),
        kind: type_name.into(),
        last_scan: iso_ms(l.last_scan_unix_ms),
        scan_duration_ms: l.duration_ms,
        error: Some(l.error).filter(|e| !e.is_empty()),
    }))
}

/// One item by type and id.
#[utoipa::path(get, path = "/api/discovery/{type}/{id}", tag = "discovery",
    params(("type" = super::schema::DiscoveryType, Path), ("id" = String, Path, max_length = 256)),
    responses((status = 200, body = DiscoveryView), (status = 404, body = ErrorBody)))]
pub async fn get_item(
    State(st): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<DiscoveryView>, ApiError> {
    check_type(&kind)?;
    let item = st.daemon.discovery_get(&id).await?;
    if item.type_name() != kind {
        return Err(ApiError::new(
            Code::NotFound,
            format!("no {kind} discovery with id {id:?}"),
        ));
    }
    Ok(Json(view(item)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TypeSummaryView {
    #[serde(rename = "type")]
    pub kind: String,
    pub count: u32,
    pub last_scan: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SummaryView {
    pub types: Vec<TypeSummaryView>,
    /// The most recent scan of any type.
    pub last_scan: Option<String>,
    pub total: u32,
}

/// Counts and last scan of every type.
#[utoipa::path(get, path = "/api/discovery", tag = "discovery", responses((status = 200, body = SummaryView)))]
pub async fn summary(State(st): State<AppState>) -> Result<Json<SummaryView>, ApiError> {
    let s = st.daemon.discovery_summary().await?;
    let last = s
        .types
        .iter()
        .map(|t| t.last_scan_unix_ms)
        .max()
        .unwrap_or(0);
    Ok(Json(SummaryView {
        total: s.types.iter().map(|t| t.count).sum(),
        last_scan: iso_ms(last),
        types: s
            .types
            .into_iter()
            .map(|t| TypeSummaryView {
                kind: t.type_name().into(),
                count: t.count,
                last_scan: iso_ms(t.last_scan_unix_ms),
                error: Some(t.error).filter(|e| !e.is_empty()),
            })
            .collect(),
    }))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// Types to scan; all when absent or empty.
    #[serde(default)]
    #[schema(value_type = Vec<crate::api::schema::DiscoveryType>, max_items = 8)]
    pub types: Vec<String>,
}

impl Bounded for ScanRequest {
    fn check_bounds(&self) -> Result<(), String> {
        bounds::lines("types", &self.types, bounds::SCAN_TYPES, bounds::WORD_CHARS)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScanStarted {
    pub scan_id: String,
    pub types: Vec<String>,
    /// Always `started`: progress follows as `discovery_scan` messages on /ws.
    pub status: String,
}

/// Start a scan of all or some types. Answers at once with a scan id; progress and completion
/// arrive on `/ws` as `discovery_scan` messages (schema `ScanProgress`).
#[utoipa::path(post, path = "/api/discovery/scan", tag = "discovery",
    request_body(content = Option<ScanRequest>, description = "Optional: without a body (or with `{}`) every type is scanned"),
    responses(
        (status = 202, body = ScanStarted),
        (status = 400, body = ErrorBody, description = "Unknown type, or malformed JSON"),
        (status = 503, body = ErrorBody, description = "halbertd is unreachable"),
    ))]
pub async fn scan(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<ScanStarted>), ApiError> {
    // The body is optional, and the description allows `null` for it: both scan everything.
    let blank = std::str::from_utf8(&body).is_ok_and(|b| matches!(b.trim(), "" | "null"));
    let req: ScanRequest = if blank {
        ScanRequest::default()
    } else {
        decode_json(&headers, &body)?
    };
    for t in &req.types {
        check_type(t)?;
    }
    let types = if req.types.is_empty() {
        TYPES.iter().map(|t| t.to_string()).collect()
    } else {
        req.types
    };
    let mut stream = st.daemon.discovery_scan(types.clone()).await?;
    let scan_id = format!("scan-{}", uuid::Uuid::new_v4().simple());
    let (feed, daemon, id) = (st.feed.clone(), st.daemon.clone(), scan_id.clone());
    let send = move |p: ScanProgress| feed.broadcast(&Event::DiscoveryScan(p));
    tokio::spawn(async move {
        let progress =
            |kind: Option<String>, state: &str, items, duration_ms, error: Option<String>| {
                ScanProgress {
                    scan_id: id.clone(),
                    kind,
                    state: state.to_owned(),
                    items,
                    duration_ms,
                    error,
                }
            };
        let t0 = std::time::Instant::now();
        let (mut total, mut failed) = (0u32, 0u32);
        loop {
            match stream.message().await {
                Ok(Some(ev)) => {
                    total += ev.items;
                    failed += u32::from(ev.state == "failed");
                    send(progress(
                        Some(ev.type_name().into()),
                        &ev.state,
                        ev.items,
                        ev.duration_ms,
                        Some(ev.error).filter(|e| !e.is_empty()),
                    ));
                }
                Ok(None) => {
                    let err = (failed > 0).then(|| format!("{failed} type(s) failed"));
                    send(progress(
                        None,
                        "complete",
                        total,
                        t0.elapsed().as_millis() as u64,
                        err,
                    ));
                    break;
                }
                Err(e) => {
                    send(progress(
                        None,
                        "failed",
                        total,
                        t0.elapsed().as_millis() as u64,
                        Some(daemon.stream_error(e).to_string()),
                    ));
                    break;
                }
            }
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(ScanStarted {
            scan_id,
            types,
            status: "started".into(),
        }),
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MentionView {
    /// What to type in chat: `@<id>` for an item, `@<type>` for all items of a type.
    pub mention: String,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Mentions {
    pub mentions: Vec<MentionView>,
}

/// Everything chat `@mentions` can name: each type, then each item.
#[utoipa::path(get, path = "/api/discovery/mentions", tag = "discovery", responses((status = 200, body = Mentions)))]
pub async fn mentions(State(st): State<AppState>) -> Result<Json<Mentions>, ApiError> {
    let mut out: Vec<MentionView> = TYPES
        .iter()
        .map(|t| MentionView {
            mention: format!("@{t}"),
            id: (*t).into(),
            kind: (*t).into(),
            title: format!("All {t} items"),
            status: String::new(),
        })
        .collect();
    let lists =
        futures_util::future::join_all(TYPES.iter().map(|t| st.daemon.discovery_list(t))).await;
    for l in lists {
        for i in l?.items {
            let type_name = i.type_name();
            out.push(MentionView {
                mention: format!("@{}", i.id),
                id: i.id,
                kind: type_name.into(),
                title: i.title,
                status: i.status,
            });
        }
    }
    Ok(Json(Mentions { mentions: out }))
}
