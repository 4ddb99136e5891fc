//! `halbert.v1.Inspect`: live, read-only facts for the assistant's tools.

use halbert_proto::v1::{self as pb, inspect_server::Inspect};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{Ctx, to_status};
use crate::inspect::units::RunningService;

#[derive(Debug, Clone)]
pub struct InspectService(pub Ctx);

#[tonic::async_trait]
impl Inspect for InspectService {
    async fn service_status(
        &self,
        req: Request<pb::ServiceStatusRequest>,
    ) -> Result<Response<pb::ServiceState>, Status> {
        let (caller, span) = self.0.caller("Inspect.ServiceStatus", &req)?;
        let engine = self.0.engine.clone();
        let unit = req.into_inner().unit;
        async move {
            let s = engine
                .service_status(&caller, &unit)
                .await
                .map_err(to_status)?;
            Ok(Response::new(pb::ServiceState {
                unit: s.unit,
                description: s.description,
                load_state: s.load_state,
                active_state: s.active_state,
                sub_state: s.sub_state,
                unit_file_state: s.unit_file_state,
                result: s.result,
                main_pid: s.main_pid,
                active_enter_unix: s.active_enter_unix,
                restarts: s.restarts,
                memory_bytes: s.memory_bytes,
                fragment_path: s.fragment_path,
                discovery_id: s.discovery_id,
            }))
        }
        .instrument(span)
        .await
    }

    async fn running_services(
        &self,
        req: Request<pb::RunningServicesRequest>,
    ) -> Result<Response<pb::RunningServiceList>, Status> {
        let (caller, span) = self.0.caller("Inspect.RunningServices", &req)?;
        let engine = self.0.engine.clone();
        let filter = req.into_inner().filter;
        async move {
            let (list, total) = engine
                .running_services(&caller, &filter)
                .await
                .map_err(to_status)?;
            Ok(Response::new(pb::RunningServiceList {
                services: list
                    .into_iter()
                    .map(|s: RunningService| pb::RunningService {
                        unit: s.unit,
                        description: s.description,
                        sub_state: s.sub_state,
                    })
                    .collect(),
                total: total as u32,
            }))
        }
        .instrument(span)
        .await
    }

    async fn journal_tail(
        &self,
        req: Request<pb::JournalTailRequest>,
    ) -> Result<Response<pb::JournalLines>, Status> {
        let (caller, span) = self.0.caller("Inspect.JournalTail", &req)?;
        let engine = self.0.engine.clone();
        let r = req.into_inner();
        async move {
            let (unit, lines) = engine
                .journal_tail(&caller, &r.unit, r.lines, &r.filter)
                .await
                .map_err(to_status)?;
            Ok(Response::new(pb::JournalLines {
                unit,
                lines: lines
                    .into_iter()
                    .map(|l| pb::JournalLine {
                        timestamp_unix_us: l.timestamp_unix_us,
                        priority: l.priority,
                        identifier: l.identifier,
                        pid: l.pid,
                        message: l.message,
                    })
                    .collect(),
            }))
        }
        .instrument(span)
        .await
    }

    async fn processes(
        &self,
        req: Request<pb::ProcessesRequest>,
    ) -> Result<Response<pb::ProcessList>, Status> {
        let (caller, span) = self.0.caller("Inspect.Processes", &req)?;
        let engine = self.0.engine.clone();
        let name = req.into_inner().name;
        async move {
            let (list, total) = engine.processes(&caller, &name).await.map_err(to_status)?;
            Ok(Response::new(pb::ProcessList {
                processes: list
                    .into_iter()
                    .map(|p| pb::ProcessInfo {
                        pid: p.pid,
                        uid: p.uid,
                        comm: p.comm,
                        cmdline: p.cmdline,
                        rss_bytes: p.rss_bytes,
                        state: p.state,
                    })
                    .collect(),
                total: total as u32,
            }))
        }
        .instrument(span)
        .await
    }

    async fn host(
        &self,
        req: Request<pb::HostInfoRequest>,
    ) -> Result<Response<pb::HostInfo>, Status> {
        let (caller, span) = self.0.caller("Inspect.Host", &req)?;
        let engine = self.0.engine.clone();
        async move {
            let h = engine.host_info(&caller).await.map_err(to_status)?;
            Ok(Response::new(pb::HostInfo {
                os_name: h.os_name,
                os_id: h.os_id,
                kernel: h.kernel,
                architecture: h.architecture,
                package_manager: h.package_manager,
            }))
        }
        .instrument(span)
        .await
    }
}
