//! halbertd: Halbert's privileged daemon.
//!
//! Domain modules (`engine/`, `gate/` with authorization, safe mode and the audit log, `host/`
//! (the host root and the system bus), `systemd/` (everything asked of PID 1), `exec/`, `discovery/`, `inspect/`, `telemetry/`, `status`) know nothing of gRPC; `rpc/` translates and
//! delegates; `server` wires the services to a listener; `peer` gets the caller's identity from
//! the kernel. See ARCHITECTURE.md for the map and the invariants.

pub mod cli;
pub mod config;
pub mod discovery;
pub mod engine;
pub mod exec;
pub mod files;
pub mod gate;
pub mod host;
pub mod inspect;
pub mod logging;
pub mod peer;
pub mod privileges;
pub mod rpc;
pub mod server;
pub mod status;
pub mod systemd;
pub mod telemetry;
pub mod unix_http;
