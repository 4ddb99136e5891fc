//! Generated gRPC types and stubs for the halbertd API (`proto/halbert/v1/*.proto`).
//!
//! Both processes depend on this crate and nothing else of each other: halbert-web only ever
//! sees halbertd through these messages.

#![allow(missing_debug_implementations)]

/// Version 1 of the API.
pub mod v1 {
    #![allow(clippy::all, clippy::pedantic, clippy::unwrap_used)]
    tonic::include_proto!("halbert.v1");
}

/// Stable machine-readable error codes carried in [`v1::ErrorDetail::code`].
pub mod codes {
    pub const PERMISSION_DENIED: &str = "permission_denied";
    pub const SAFE_MODE_ACTIVE: &str = "safe_mode_active";
    pub const INVALID_ARGUMENT: &str = "invalid_argument";
    pub const NOT_FOUND: &str = "not_found";
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    pub const INTERNAL: &str = "internal";
    pub const AUDIT_FAILED: &str = "audit_failed";
    pub const UNAVAILABLE: &str = "unavailable";
}

use prost::Message;

/// Attaches an [`v1::ErrorDetail`] to a gRPC status, so clients get a stable code.
pub fn status_with_detail(
    code: tonic::Code,
    message: impl Into<String>,
    detail: v1::ErrorDetail,
) -> tonic::Status {
    tonic::Status::with_details(code, message, detail.encode_to_vec().into())
}

/// Reads the [`v1::ErrorDetail`] of a status, if halbertd attached one.
pub fn error_detail(status: &tonic::Status) -> Option<v1::ErrorDetail> {
    if status.details().is_empty() {
        return None;
    }
    v1::ErrorDetail::decode(status.details()).ok()
}
