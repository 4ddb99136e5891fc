//! Containers: Docker's and Podman's API sockets (HTTP over a Unix socket, the Docker-compatible
//! `/containers/json`), never their command-line tools.

use std::time::Duration;

use serde_json::Value;

use super::{Action, Item, Kind, ScanCtx, ScanError, Status, slug};

const API_TIMEOUT: Duration = Duration::from_secs(5);
/// A container list larger than this is not a container list.
const MAX_BODY: usize = 16 << 20;

/// The runtimes and where their sockets live (rootful).
const RUNTIMES: &[(&str, &[&str])] = &[
    ("docker", &["/run/docker.sock", "/var/run/docker.sock"]),
    ("podman", &["/run/podman/podman.sock"]),
];

/// GET `path` on the API socket; returns the body of a 200 answer.
pub async fn api_get(socket: &std::path::Path, path: &str) -> Result<Vec<u8>, String> {
    crate::unix_http::get(socket, path, MAX_BODY, API_TIMEOUT).await
}

/// Items from a `/containers/json?all=true` answer.
pub fn parse_containers(runtime: &str, body: &[u8]) -> Result<Vec<Item>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("{runtime} API: {e}"))?;
    let list = v
        .as_array()
        .ok_or_else(|| format!("{runtime} API: expected a list"))?;
    Ok(list
        .iter()
        .map(|c| {
            let id: String = c["Id"]
                .as_str()
                .unwrap_or("")
                .chars()
                .filter(|ch| ch.is_ascii_hexdigit())
                .take(12)
                .collect();
            let name = c["Names"]
                .get(0)
                .and_then(Value::as_str)
                .unwrap_or(&id)
                .trim_start_matches('/')
                .to_owned();
            let state = c["State"].as_str().unwrap_or("unknown").to_owned();
            let text = c["Status"].as_str().unwrap_or("").to_owned();
            let code = text
                .strip_prefix("Exited (")
                .and_then(|r| r.split(')').next())
                .and_then(|n| n.parse::<i64>().ok());
            let (status, detail) = match state.as_str() {
                "running" => (Status::Healthy, "Running".to_owned()),
                "exited" if code == Some(0) => (Status::Stopped, "Exited (OK)".into()),
                "exited" => (Status::Failed, "Exited (Error)".into()),
                "paused" => (Status::Warning, "Paused".into()),
                "restarting" => (Status::Warning, "Restarting".into()),
                "created" => (Status::Stopped, "Created".into()),
                "dead" => (Status::Failed, "Dead".into()),
                other => (Status::Unknown, other.to_owned()),
            };
            let ports: Vec<String> = c["Ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(
                    |p| match (p["PublicPort"].as_u64(), p["PrivatePort"].as_u64()) {
                        (Some(pub_), Some(priv_)) => format!(
                            "{}:{pub_}->{priv_}/{}",
                            p["IP"].as_str().unwrap_or("0.0.0.0"),
                            p["Type"].as_str().unwrap_or("tcp")
                        ),
                        (None, Some(priv_)) => {
                            format!("{priv_}/{}", p["Type"].as_str().unwrap_or("tcp"))
                        }
                        _ => String::new(),
                    },
                )
                .filter(|s| !s.is_empty())
                .collect();
            let mut it = Item::new(
                Kind::Container,
                format!("{runtime}-{}", slug(&name)),
                name.clone(),
                name.clone(),
            )
            .status(status, detail);
            it.icon = "container".into();
            it.source = format!("{runtime} API");
            it.description = c["Image"].as_str().unwrap_or("").to_owned();
            it.set("id", id);
            it.set("name", name);
            it.set("image", c["Image"].clone());
            it.set("status", state);
            it.set("status_text", text);
            it.set("exit_code", code);
            it.set(
                "created",
                c["Created"]
                    .as_i64()
                    .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                    .and_then(|d| {
                        d.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    }),
            );
            it.set("ports", ports);
            it.set("runtime", runtime);
            it.set(
                "compose_project",
                c["Labels"]["com.docker.compose.project"].clone(),
            );
            it.actions = vec![Action::restart(), Action::logs()];
            it
        })
        .collect())
}

pub async fn scan(ctx: &ScanCtx) -> Result<Vec<Item>, ScanError> {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let mut found = false;
    for (runtime, sockets) in RUNTIMES {
        let Some(sock) = sockets
            .iter()
            .map(|s| ctx.root.path(s))
            .find(|p| p.exists())
        else {
            continue;
        };
        found = true;
        match api_get(&sock, "/containers/json?all=true")
            .await
            .and_then(|b| parse_containers(runtime, &b))
        {
            Ok(v) => items.extend(v),
            Err(e) => errors.push(format!("{runtime}: {e}")),
        }
    }
    // A runtime that is installed but not answering is an error; no runtime at all is not.
    if found && items.is_empty() && !errors.is_empty() {
        return Err(ScanError::Failed(errors.join("; ")));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_states() {
        let body = br#"[{"Id":"4f1d2e3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff","Names":["/web"],"Image":"nginx:1.27","State":"running","Status":"Up 3 hours","Created":1764300000,"Ports":[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"}],"Labels":{"com.docker.compose.project":"site"}},
            {"Id":"aa","Names":["/job"],"Image":"busybox","State":"exited","Status":"Exited (1) 2 minutes ago","Created":1764300000,"Ports":[],"Labels":{}}]"#;
        let items = parse_containers("docker", body).expect("parse");
        assert_eq!(items[0].id, "docker-web");
        assert_eq!(items[0].data["id"], "4f1d2e3c4b5a");
        assert_eq!(items[0].data["ports"][0], "0.0.0.0:8080->80/tcp");
        assert_eq!(
            (items[1].status, items[1].status_detail.as_str()),
            (Status::Failed, "Exited (Error)")
        );
    }
}
