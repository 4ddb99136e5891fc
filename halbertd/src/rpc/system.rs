//! `halbert.v1.System`: status snapshots and the status stream.

use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use halbert_proto::v1::{self as pb, system_server::System};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{Ctx, to_status};
use crate::engine::{EngineError, StatusView};

pub const DEFAULT_INTERVAL_MS: u32 = 5_000;
pub const MIN_INTERVAL_MS: u32 = 1_000;
pub const MAX_INTERVAL_MS: u32 = 3_600_000;

#[derive(Debug, Clone)]
pub struct SystemService(pub Ctx);

pub fn to_pb(v: StatusView) -> pb::SystemStatus {
    let s = v.snapshot;
    pb::SystemStatus {
        cpu: Some(pb::Cpu {
            percent: s.cpu_percent,
            cores: s.cores,
        }),
        load: Some(pb::LoadAverage {
            one: s.load[0],
            five: s.load[1],
            fifteen: s.load[2],
        }),
        memory: Some(pb::Memory {
            total_bytes: s.memory.total_bytes,
            available_bytes: s.memory.available_bytes,
            used_bytes: s.memory.used_bytes(),
            swap_total_bytes: s.memory.swap_total_bytes,
            swap_free_bytes: s.memory.swap_free_bytes,
        }),
        filesystems: s
            .filesystems
            .into_iter()
            .map(|f| pb::Filesystem {
                mountpoint: f.mountpoint,
                device: f.device,
                fstype: f.fstype,
                total_bytes: f.total_bytes,
                used_bytes: f.used_bytes,
                available_bytes: f.available_bytes,
            })
            .collect(),
        uptime_seconds: s.uptime_seconds,
        boot_time_unix: s.boot_time_unix,
        temperatures: s
            .temperatures
            .into_iter()
            .map(|t| pb::Temperature {
                source: t.source.into(),
                chip: t.chip,
                label: t.label,
                celsius: t.celsius,
            })
            .collect(),
        timestamp_unix_ms: v.timestamp_unix_ms,
        authorization: v.authorization.as_str().into(),
        safe_mode_active: v.safe_mode_active,
        hostname: s.hostname,
    }
}

type StatusStream = Pin<Box<dyn Stream<Item = Result<pb::SystemStatus, Status>> + Send>>;

#[tonic::async_trait]
impl System for SystemService {
    async fn get_status(
        &self,
        req: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::SystemStatus>, Status> {
        let (caller, span) = self.0.caller("System.GetStatus", &req)?;
        let engine = self.0.engine.clone();
        async move {
            engine
                .status(&caller)
                .await
                .map(|v| Response::new(to_pb(v)))
                .map_err(to_status)
        }
        .instrument(span)
        .await
    }

    type WatchStatusStream = StatusStream;

    async fn watch_status(
        &self,
        req: Request<pb::WatchStatusRequest>,
    ) -> Result<Response<StatusStream>, Status> {
        let (caller, span) = self.0.caller("System.WatchStatus", &req)?;
        let ms = match req.get_ref().interval_ms {
            0 => DEFAULT_INTERVAL_MS,
            ms if (MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&ms) => ms,
            ms => {
                return Err(to_status(EngineError::InvalidArgument(format!(
                    "interval_ms {ms} is outside {MIN_INTERVAL_MS}..={MAX_INTERVAL_MS}"
                ))));
            }
        };
        let engine = self.0.engine.clone();
        engine.check_read(&caller).map_err(to_status)?;
        let guard = engine.watch_guard();
        span.in_scope(|| tracing::info!(interval_ms = ms, "status stream opened"));
        let stream = super::periodic(
            Duration::from_millis(ms.into()),
            self.0.shutdown.clone(),
            span,
            guard,
            move || {
                let (engine, caller) = (engine.clone(), caller.clone());
                async move { engine.status(&caller).await.map(to_pb).map_err(to_status) }
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }
}
