//! Telemetry: this machine's journal and sensors as streams for halbert-web's ingestion.
//!
//! `journal` turns `journalctl --follow --output=json` (run by `exec::follow`) into filtered
//! entries, each with its cursor and the journal's own time, so a consumer can resume exactly
//! where it stopped; `hwmon` reads every sensor under `/sys/class/hwmon` through the host root.
//! Nothing here knows of gRPC; the engine authorizes and the `rpc` layer translates.

pub mod hwmon;
pub mod journal;

/// A request that cannot be served as asked (a client mistake).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TelemetryError {
    #[error("{0}")]
    Invalid(String),
}
