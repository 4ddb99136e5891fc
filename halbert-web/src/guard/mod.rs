//! The web guard of docs/decisions.md §1, run before every route:
//!
//! 1. loopback clients must be the same uid as halbert-web (the kernel's `sock_diag`, once per
//!    connection; `server` closes other users' connections before any request is read, and the
//!    check here stands behind it);
//! 2. exactly one `Host`, naming us, and an origin-form request target (stops DNS rebinding
//!    and requests meant for a proxy);
//! 3. with a bearer token configured (bound beyond loopback), every request must carry it;
//! 4. on every state-changing request and every WebSocket upgrade, `Origin` (when present)
//!    must be ours and `Sec-Fetch-Site` (when present) `same-origin` or `none` — whatever the
//!    body, so a bodiless cross-site POST is refused like a JSON one (stops CSRF and
//!    cross-site WebSocket hijacking).

use std::net::SocketAddr;

use axum::http::{HeaderMap, Method, Uri, header};

/// Why the guard refused a request; the API turns each into its code and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this halbert-web belongs to another user: loopback clients must run as the same user")]
    OtherUser,
    #[error("{0}")]
    Malformed(&'static str),
    #[error("the Host header does not name this server")]
    Host,
    #[error("a bearer token is required")]
    Token,
    #[error("cross-origin requests are not allowed")]
    Origin,
}

/// A client connection, as accepted.
#[derive(Debug, Clone)]
pub struct ClientConn {
    /// The client's address, with IPv4-mapped IPv6 addresses as plain IPv4.
    pub remote: SocketAddr,
    pub local: SocketAddr,
    /// Owner of the client socket, for loopback clients whose socket the kernel still lists.
    pub uid: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Guard {
    own_uid: u32,
    /// Lower-case `host:port` authorities that `Host` may name.
    hosts: Vec<String>,
    token: Option<String>,
}

impl Guard {
    /// `extra_hosts` are names from `--allowed-host` (with or without a port).
    pub fn new(bound: SocketAddr, extra_hosts: &[String], token: Option<String>) -> Self {
        let p = bound.port();
        let mut hosts = vec![
            format!("127.0.0.1:{p}"),
            format!("localhost:{p}"),
            format!("[::1]:{p}"),
        ];
        if !bound.ip().is_loopback() && !bound.ip().is_unspecified() {
            hosts.push(bound.to_string());
        }
        for h in extra_hosts {
            let h = h.to_ascii_lowercase();
            hosts.push(
                if h.rsplit_once(':')
                    .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
                    && !h.ends_with(']')
                {
                    h
                } else {
                    format!("{h}:{p}")
                },
            );
        }
        Self {
            own_uid: nix::unistd::geteuid().as_raw(),
            hosts,
            token,
        }
    }

    pub fn allowed_hosts(&self) -> &[String] {
        &self.hosts
    }

    fn host_ok(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(|h| self.hosts.iter().any(|a| a.eq_ignore_ascii_case(h.trim())))
            .unwrap_or(false)
    }

    fn origin_ok(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Some(rest) = origin.to_str().ok().and_then(|o| o.strip_prefix("http://")) else {
            return false;
        };
        self.hosts.iter().any(|a| a.eq_ignore_ascii_case(rest))
    }

    fn token_ok(&self, headers: &HeaderMap) -> bool {
        let Some(want) = &self.token else { return true };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        bearer.is_some_and(|got| constant_time_eq(got.trim().as_bytes(), want.as_bytes()))
    }

    /// Checks one request; `Err` carries the refusal.
    pub fn check(
        &self,
        conn: &ClientConn,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<(), Refusal> {
        if conn.remote.ip().is_loopback() && conn.uid != Some(self.own_uid) {
            return Err(Refusal::OtherUser);
        }
        // RFC 9112 §3.2: a server must refuse a request with more than one Host; and an
        // absolute-form target is for proxies, which this is not.
        if headers.get_all(header::HOST).iter().count() > 1 {
            return Err(Refusal::Malformed(
                "a request must carry exactly one Host header",
            ));
        }
        if uri.scheme().is_some() || uri.authority().is_some() {
            return Err(Refusal::Malformed(
                "the request target must be a path (origin-form), not an absolute URL",
            ));
        }
        if !self.host_ok(headers) {
            return Err(Refusal::Host);
        }
        if !self.token_ok(headers) {
            return Err(Refusal::Token);
        }
        let upgrade = headers.get(header::UPGRADE).is_some();
        let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if (changes_state || upgrade) && !(self.origin_ok(headers) && fetch_site_ok(headers)) {
            return Err(Refusal::Origin);
        }
        Ok(())
    }
}

/// `Sec-Fetch-Site`, which browsers send and pages cannot forge: only a request from our own
/// origin (`same-origin`) or one the user made directly (`none`) may change state.
/// `same-site` is refused too: another port on localhost is the same site.
fn fetch_site_ok(headers: &HeaderMap) -> bool {
    match headers.get("sec-fetch-site") {
        None => true,
        Some(v) => matches!(v.to_str(), Ok("same-origin" | "none")),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn conn(uid: Option<u32>) -> ClientConn {
        ClientConn {
            remote: "127.0.0.1:40000".parse().expect("addr"),
            local: "127.0.0.1:8000".parse().expect("addr"),
            uid,
        }
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    fn uri() -> Uri {
        Uri::from_static("/api/settings/guardrails/status")
    }

    #[test]
    fn hosts_targets_and_fetch_metadata() {
        let me = nix::unistd::geteuid().as_raw();
        let g = Guard::new("127.0.0.1:8000".parse().expect("addr"), &[], None);
        let host = (header::HOST, "127.0.0.1:8000");
        let code = |m: Method, u: &Uri, h: &[(header::HeaderName, &str)]| {
            g.check(&conn(Some(me)), &m, u, &headers(h)).err().map(|r| {
                let e = crate::api::ApiError::from(r);
                (e.status().as_u16(), e.code.as_str())
            })
        };
        let two_hosts = [host.clone(), (header::HOST, "evil.example")];
        assert_eq!(
            code(Method::GET, &uri(), &two_hosts),
            Some((400, "bad_request"))
        );
        let absolute = Uri::from_static("http://127.0.0.1:8000/api/health");
        assert_eq!(
            code(Method::GET, &absolute, std::slice::from_ref(&host)),
            Some((400, "bad_request"))
        );
        let site = header::HeaderName::from_static("sec-fetch-site");
        for (value, refused) in [
            ("cross-site", true),
            ("same-site", true),
            ("same-origin", false),
            ("none", false),
        ] {
            let h = [host.clone(), (site.clone(), value)];
            // Bodiless state changes are refused like any other, with no Content-Type.
            let got = code(Method::POST, &uri(), &h);
            assert_eq!(got.is_some(), refused, "POST with Sec-Fetch-Site: {value}");
            if refused {
                assert_eq!(got, Some((403, "forbidden_origin")));
            }
            let upgrade = [
                host.clone(),
                (site.clone(), value),
                (header::UPGRADE, "websocket"),
            ];
            assert_eq!(code(Method::GET, &uri(), &upgrade).is_some(), refused);
            // A plain GET reads nothing another site could use.
            assert_eq!(code(Method::GET, &uri(), &h), None);
        }
    }

    #[test]
    fn decisions() {
        let me = nix::unistd::geteuid().as_raw();
        let g = Guard::new(
            "127.0.0.1:8000".parse().expect("addr"),
            &["halbert.lan".into()],
            None,
        );
        let host = (header::HOST, "127.0.0.1:8000");
        let code =
            |r: Result<(), Refusal>| r.err().map(|r| crate::api::ApiError::from(r).code.as_str());
        assert_eq!(
            code(g.check(
                &conn(Some(me)),
                &Method::GET,
                &uri(),
                &headers(std::slice::from_ref(&host))
            )),
            None
        );
        assert_eq!(
            code(g.check(
                &conn(Some(me)),
                &Method::GET,
                &uri(),
                &headers(&[(header::HOST, "halbert.lan:8000")])
            )),
            None
        );
        assert_eq!(
            code(g.check(
                &conn(Some(me + 1)),
                &Method::GET,
                &uri(),
                &headers(std::slice::from_ref(&host))
            )),
            Some("forbidden_peer")
        );
        assert_eq!(
            code(g.check(
                &conn(None),
                &Method::GET,
                &uri(),
                &headers(std::slice::from_ref(&host))
            )),
            Some("forbidden_peer")
        );
        assert_eq!(
            code(g.check(
                &conn(Some(me)),
                &Method::GET,
                &uri(),
                &headers(&[(header::HOST, "evil.example")])
            )),
            Some("forbidden_host")
        );
        assert_eq!(
            code(g.check(&conn(Some(me)), &Method::GET, &uri(), &headers(&[]))),
            Some("forbidden_host")
        );
        assert_eq!(
            code(g.check(
                &conn(Some(me)),
                &Method::GET,
                &uri(),
                &headers(&[(header::HOST, "127.0.0.1:8001")])
            )),
            Some("forbidden_host")
        );
        let evil = (header::ORIGIN, "http://evil.example");
        assert_eq!(
            code(g.check(
                &conn(Some(me)),
                &Method::POST,
                &uri(),
                &headers(&[host.clone(), evil.clone()])
            )),
            Some("forbidden_origin")
        );
        // A plain GET from another origin reads nothing it could not embed anyway; an upgrade could.
        assert_eq!(
            code(g.check(
                &conn(Some(me)),
                &Method::GET,
                &uri(),
                &headers(&[host.clone(), evil.clone()])
            )),
            None
        );
        assert_eq!(
            code(g.check(
                &conn(Some(me)),
                &Method::GET,
                &uri(),
                &headers(&[host.clone(), evil, (header::UPGRADE, "websocket")])
            )),
            Some("forbidden_origin")
        );
        assert_eq!(
            code(g.check(
                &conn(Some(me)),
                &Method::POST,
                &uri(),
                &headers(&[host.clone(), (header::ORIGIN, "http://localhost:8000")])
            )),
            None
        );
        assert_eq!(
            code(g.check(
                &conn(Some(me)),
                &Method::POST,
                &uri(),
                &headers(&[host.clone(), (header::ORIGIN, "null")])
            )),
            Some("forbidden_origin")
        );
    }

    #[test]
    fn token_when_configured() {
        let me = nix::unistd::geteuid().as_raw();
        let g = Guard::new(
            "0.0.0.0:8000".parse().expect("addr"),
            &[],
            Some("s3cret".into()),
        );
        let host = (header::HOST, "127.0.0.1:8000");
        assert!(
            g.check(
                &conn(Some(me)),
                &Method::GET,
                &uri(),
                &headers(std::slice::from_ref(&host))
            )
            .is_err()
        );
        assert!(
            g.check(
                &conn(Some(me)),
                &Method::GET,
                &uri(),
                &headers(&[host.clone(), (header::AUTHORIZATION, "Bearer wrong")])
            )
            .is_err()
        );
        assert!(
            g.check(
                &conn(Some(me)),
                &Method::GET,
                &uri(),
                &headers(&[host, (header::AUTHORIZATION, "Bearer s3cret")])
            )
            .is_ok()
        );
    }
}
