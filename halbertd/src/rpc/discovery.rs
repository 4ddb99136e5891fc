//! `halbert.v1.Discovery`: listing, getting and scanning discoveries.

use std::pin::Pin;

use futures_util::Stream;
use halbert_proto::v1::{self as pb, discovery_server::Discovery};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{Ctx, to_status};
use crate::discovery::store::Progress;
use crate::discovery::{Item, Kind};
use crate::engine::EngineError;

#[derive(Debug, Clone)]
pub struct DiscoveryService(pub Ctx);

/// The domain's kind of a contract type; the unspecified or an unknown value is refused.
fn kind(t: i32) -> Result<Kind, Status> {
    use pb::DiscoveryType as T;
    match T::try_from(t).unwrap_or(T::Unspecified) {
        T::Storage => Ok(Kind::Storage),
        T::Service => Ok(Kind::Service),
        T::Network => Ok(Kind::Network),
        T::Container => Ok(Kind::Container),
        T::Gpu => Ok(Kind::Gpu),
        T::Sharing => Ok(Kind::Sharing),
        T::Security => Ok(Kind::Security),
        T::Backup => Ok(Kind::Backup),
        T::Unspecified => Err(to_status(EngineError::InvalidArgument(format!(
            "unknown discovery type {t}; valid types: {}",
            Kind::ALL
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )))),
    }
}

/// The contract's type of a domain kind (the other half of [`kind`]; both are exhaustive).
fn type_pb(k: Kind) -> i32 {
    use pb::DiscoveryType as T;
    let t = match k {
        Kind::Storage => T::Storage,
        Kind::Service => T::Service,
        Kind::Network => T::Network,
        Kind::Container => T::Container,
        Kind::Gpu => T::Gpu,
        Kind::Sharing => T::Sharing,
        Kind::Security => T::Security,
        Kind::Backup => T::Backup,
    };
    t as i32
}

pub fn item_pb(i: Item) -> pb::DiscoveryItem {
    pb::DiscoveryItem {
        id: i.id,
        r#type: type_pb(i.kind),
        name: i.name,
        title: i.title,
        status: i.status.as_str().into(),
        status_detail: i.status_detail,
        severity: i.status.severity().into(),
        description: i.description,
        icon: i.icon,
        source: i.source,
        data_json: serde_json::Value::Object(i.data).to_string(),
        actions: i
            .actions
            .into_iter()
            .map(|a| pb::DiscoveryAction {
                id: a.id,
                label: a.label,
                icon: a.icon,
                requires_approval: a.requires_approval,
                danger: a.danger,
            })
            .collect(),
        last_scanned_unix_ms: i.last_scanned_ms,
    }
}

type ScanStream = Pin<Box<dyn Stream<Item = Result<pb::ScanEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Discovery for DiscoveryService {
    async fn list(
        &self,
        req: Request<pb::ListDiscoveriesRequest>,
    ) -> Result<Response<pb::DiscoveryList>, Status> {
        let (caller, span) = self.0.caller("Discovery.List", &req)?;
        let _e = span.enter();
        let k = kind(req.get_ref().r#type)?;
        let st = self
            .0
            .engine
            .discovery_list(&caller, k)
            .map_err(to_status)?;
        Ok(Response::new(pb::DiscoveryList {
            r#type: type_pb(k),
            items: st.items.into_iter().map(item_pb).collect(),
            last_scan_unix_ms: st.last_scan_ms,
            duration_ms: st.duration_ms,
            error: st.error.unwrap_or_default(),
        }))
    }

    async fn get(
        &self,
        req: Request<pb::GetDiscoveryRequest>,
    ) -> Result<Response<pb::DiscoveryItem>, Status> {
        let (caller, span) = self.0.caller("Discovery.Get", &req)?;
        let _e = span.enter();
        let id = &req.get_ref().id;
        self.0
            .engine
            .discovery_get(&caller, id)
            .map(|i| Response::new(item_pb(i)))
            .map_err(to_status)
    }

    async fn summary(
        &self,
        req: Request<pb::DiscoverySummaryRequest>,
    ) -> Result<Response<pb::DiscoverySummary>, Status> {
        let (caller, span) = self.0.caller("Discovery.Summary", &req)?;
        let _e = span.enter();
        let types = self
            .0
            .engine
            .discovery_summary(&caller)
            .map_err(to_status)?
            .into_iter()
            .map(|t| pb::DiscoveryTypeSummary {
                r#type: type_pb(t.kind),
                count: t.count as u32,
                last_scan_unix_ms: t.last_scan_ms,
                error: t.error.unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(pb::DiscoverySummary { types }))
    }

    type ScanStream = ScanStream;

    async fn scan(&self, req: Request<pb::ScanRequest>) -> Result<Response<ScanStream>, Status> {
        let (caller, span) = self.0.caller("Discovery.Scan", &req)?;
        let kinds: Vec<Kind> = if req.get_ref().types.is_empty() {
            Kind::ALL.to_vec()
        } else {
            let mut v = req
                .get_ref()
                .types
                .iter()
                .map(|t| kind(*t))
                .collect::<Result<Vec<_>, _>>()?;
            v.sort();
            v.dedup();
            v
        };
        let engine = self.0.engine.clone();
        engine.check_read(&caller).map_err(to_status)?;
        let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel();
        let (tx, rx) = tokio::sync::mpsc::channel(32);
        // The scan runs to completion even if the client goes away: its result is stored for
        // everyone, and a half-finished scan would leave types inconsistent.
        tokio::spawn(
            async move {
                let started = std::time::Instant::now();
                let scan = async {
                    let r = engine.discovery_scan(&caller, &kinds, &ptx).await;
                    drop(ptx);
                    r
                };
                let forward = async {
                    while let Some(p) = prx.recv().await {
                        let ev = match p {
                            Progress::Started(k) => pb::ScanEvent {
                                r#type: type_pb(k),
                                state: "started".into(),
                                ..Default::default()
                            },
                            Progress::Done {
                                kind,
                                items,
                                duration_ms,
                            } => pb::ScanEvent {
                                r#type: type_pb(kind),
                                state: "done".into(),
                                items: items as u32,
                                duration_ms,
                                ..Default::default()
                            },
                            Progress::Failed {
                                kind,
                                error,
                                duration_ms,
                            } => pb::ScanEvent {
                                r#type: type_pb(kind),
                                state: "failed".into(),
                                error,
                                duration_ms,
                                ..Default::default()
                            },
                        };
                        let ev = pb::ScanEvent {
                            processes_spawned: crate::exec::spawned(),
                            ..ev
                        };
                        let _ = tx.send(Ok(ev)).await;
                    }
                };
                let (r, ()) = tokio::join!(scan, forward);
                if let Err(e) = r {
                    let _ = tx.send(Err(to_status(e))).await;
                }
                tracing::info!(
                    types = kinds.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "discovery scan finished"
                );
            }
            .instrument(span),
        );
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
