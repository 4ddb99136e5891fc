//! `halbert.v1.Telemetry`: the journal stream and the sensor stream.

use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use halbert_proto::v1::{self as pb, telemetry_server::Telemetry};
use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::{Ctx, to_status};
use crate::engine::{EngineError, JournalFollow};
use crate::telemetry::hwmon::Sensor;
use crate::telemetry::journal::{Entry, Item};

pub const DEFAULT_SENSOR_INTERVAL_S: u32 = 10;
pub const MAX_SENSOR_INTERVAL_S: u32 = 3600;

#[derive(Debug, Clone)]
pub struct TelemetryService(pub Ctx);

type Boxed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// A journal entry on the wire (also what the ingestion benchmark feeds halbert-web's pipeline).
impl From<Entry> for pb::JournalEntry {
    fn from(e: Entry) -> Self {
        Self {
            severity: e.severity().as_str().into(),
            cursor: e.cursor,
            realtime_us: e.realtime_us,
            priority: e.priority.map_or(6, u32::from),
            identifier: e.identifier,
            unit: e.unit,
            subject_unit: e.subject_unit,
            pid: e.pid,
            hostname: e.hostname,
            message: e.message,
            truncated: e.truncated,
        }
    }
}

fn item_to_pb(item: Item) -> pb::JournalItem {
    let item = match item {
        Item::Entry(e) => pb::journal_item::Item::Entry(e.into()),
        Item::Progress { cursor, skipped } => {
            pb::journal_item::Item::Progress(pb::JournalProgress { cursor, skipped })
        }
    };
    pb::JournalItem { item: Some(item) }
}

fn sensor_to_pb(s: Sensor) -> pb::Sensor {
    pb::Sensor {
        crossed: s.crossed().unwrap_or_default().into(),
        chip: s.chip,
        device: s.device,
        input: s.input,
        label: s.label,
        kind: s.kind.as_str().into(),
        unit: s.unit.into(),
        value: s.value,
        min: s.min,
        max: s.max,
        crit: s.crit,
        alarm: s.alarm,
    }
}

#[tonic::async_trait]
impl Telemetry for TelemetryService {
    type FollowJournalStream = Boxed<pb::JournalItem>;

    async fn follow_journal(
        &self,
        req: Request<pb::FollowJournalRequest>,
    ) -> Result<Response<Self::FollowJournalStream>, Status> {
        let (caller, span) = self.0.caller("Telemetry.FollowJournal", &req)?;
        let r = req.into_inner();
        let follow = JournalFollow {
            after_cursor: r.after_cursor,
            severities: r.severities,
            identifiers: r.identifiers,
            units: r.units,
        };
        let engine = self.0.engine.clone();
        let shutdown = self.0.shutdown.clone();
        async move {
            let rx = engine
                .follow_journal(&caller, follow, shutdown)
                .await
                .map_err(to_status)?;
            let stream = tokio_stream::wrappers::ReceiverStream::new(rx)
                .map(|r| r.map(item_to_pb).map_err(to_status));
            Ok(Response::new(Box::pin(stream) as Self::FollowJournalStream))
        }
        .instrument(span)
        .await
    }

    type WatchSensorsStream = Boxed<pb::SensorReadings>;

    async fn watch_sensors(
        &self,
        req: Request<pb::WatchSensorsRequest>,
    ) -> Result<Response<Self::WatchSensorsStream>, Status> {
        let (caller, span) = self.0.caller("Telemetry.WatchSensors", &req)?;
        let secs = match req.get_ref().interval_s {
            0 => DEFAULT_SENSOR_INTERVAL_S,
            s if s <= MAX_SENSOR_INTERVAL_S => s,
            s => {
                return Err(to_status(EngineError::InvalidArgument(format!(
                    "interval_s {s} is outside 1..={MAX_SENSOR_INTERVAL_S}"
                ))));
            }
        };
        let engine = self.0.engine.clone();
        engine.check_read(&caller).map_err(to_status)?;
        let stream = super::periodic(
            Duration::from_secs(secs.into()),
            self.0.shutdown.clone(),
            span,
            (),
            move || {
                let (engine, caller) = (engine.clone(), caller.clone());
                async move {
                    engine
                        .sensors(&caller)
                        .await
                        .map(|list| pb::SensorReadings {
                            timestamp_unix_ms: (time::OffsetDateTime::now_utc()
                                .unix_timestamp_nanos()
                                / 1_000_000) as i64,
                            sensors: list.into_iter().map(sensor_to_pb).collect(),
                        })
                        .map_err(to_status)
                }
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }
}
