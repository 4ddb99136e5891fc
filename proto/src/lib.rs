//! Generated gRPC types and stubs for the halbertd API (`proto/halbert/v1/*.proto`: one file
//! per service, plus `errors.proto`), and the names of the discovery types.
//!
//! Both processes depend on this crate and nothing else of each other: halbert-web only ever
//! sees halbertd through these messages.

#![allow(missing_debug_implementations)]

/// Version 1 of the API.
pub mod v1 {
    #![allow(clippy::all, clippy::pedantic, clippy::unwrap_used)]
    tonic::include_proto!("halbert.v1");
}

impl v1::DiscoveryType {
    /// Every discovery type, in the order of the contract.
    pub const ALL: [v1::DiscoveryType; 8] = [
        v1::DiscoveryType::Storage,
        v1::DiscoveryType::Service,
        v1::DiscoveryType::Network,
        v1::DiscoveryType::Container,
        v1::DiscoveryType::Gpu,
        v1::DiscoveryType::Sharing,
        v1::DiscoveryType::Security,
        v1::DiscoveryType::Backup,
    ];

    /// The names of [`ALL`](Self::ALL), in the same order.
    pub const NAMES: [&'static str; 8] = {
        let mut names = [""; 8];
        let mut i = 0;
        while i < 8 {
            names[i] = Self::ALL[i].name();
            i += 1;
        }
        names
    };

    /// The type's name in the HTTP API and in ids: `storage`, `service`, ….
    pub const fn name(self) -> &'static str {
        match self {
            v1::DiscoveryType::Unspecified => "",
            v1::DiscoveryType::Storage => "storage",
            v1::DiscoveryType::Service => "service",
            v1::DiscoveryType::Network => "network",
            v1::DiscoveryType::Container => "container",
            v1::DiscoveryType::Gpu => "gpu",
            v1::DiscoveryType::Sharing => "sharing",
            v1::DiscoveryType::Security => "security",
            v1::DiscoveryType::Backup => "backup",
        }
    }

    /// The type named `name`, if there is one (never the unspecified one).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::v1::DiscoveryType;

    #[test]
    fn every_type_has_a_name_that_maps_back() {
        assert_eq!(DiscoveryType::NAMES.len(), 8);
        for (t, n) in DiscoveryType::ALL.into_iter().zip(DiscoveryType::NAMES) {
            assert_eq!(t.name(), n);
            assert_eq!(DiscoveryType::from_name(n), Some(t));
        }
        assert_eq!(DiscoveryType::from_name(""), None);
        assert_eq!(DiscoveryType::from_name("Storage"), None);
    }
}

/// The name of the discovery type a message carries (empty when it is unspecified).
macro_rules! type_name {
    ($($msg:ident),*) => {$(
        impl v1::$msg {
            pub fn type_name(&self) -> &'static str {
                self.r#type().name()
            }
        }
    )*};
}
type_name!(
    DiscoveryItem,
    DiscoveryList,
    DiscoveryTypeSummary,
    ScanEvent
);

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
