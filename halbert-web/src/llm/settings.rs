//! Saved model endpoints and which model plays which role (guide, specialist, vision), kept in
//! `<state>/models.json` with mode 0600 because it holds API keys. Keys never leave this module
//! unmasked except to the HTTP client.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Invalid(String),
    #[error("no endpoint with id {0:?}")]
    UnknownEndpoint(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is unreadable: {what}")]
    Corrupt { path: String, what: String },
}

pub const PROVIDERS: [&str; 2] = ["ollama", "openai"];
pub const ROLES: [&str; 3] = ["guide", "specialist", "vision"];
/// What responses show instead of a stored key; sending it back keeps the stored key.
pub const MASK: &str = "***";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub name: String,
    pub url: String,
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Seconds to wait for an answer to start, and for each silence while it streams (default
    /// 180: a local server may first have to load a large model).
    #[serde(default = "default_timeout")]
    pub timeout_s: u64,
    /// The model's context window in tokens, when the administrator sets it; otherwise the
    /// server's own figure is used where it gives one (llama.cpp's `/props`, Ollama's
    /// `/api/show`), else [`DEFAULT_CONTEXT_TOKENS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<u32>,
}

pub const DEFAULT_TIMEOUT_S: u64 = 180;
/// The context assumed when neither the administrator nor the server says: Ollama's own
/// default window, and less than any current model's.
pub const DEFAULT_CONTEXT_TOKENS: u32 = 4096;
/// The bounds of `context_tokens`.
pub const CONTEXT_TOKENS: std::ops::RangeInclusive<u32> = 512..=2_097_152;

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_S
}

impl Endpoint {
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub endpoint_id: String,
    pub model: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelSettings {
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    #[serde(default)]
    pub guide: Option<Assignment>,
    #[serde(default)]
    pub specialist: Option<Assignment>,
    #[serde(default)]
    pub vision: Option<Assignment>,
    /// Messages scoring at least this go to the specialist (default 0.5).
    #[serde(default)]
    pub complexity_threshold: Option<f64>,
    /// `auto` (default), `guide-only` or `specialist-preferred`.
    #[serde(default)]
    pub strategy: Option<String>,
    /// Which embedder memory uses; none: the local model when it is installed, else hashed
    /// words.
    #[serde(default)]
    pub embedding: Option<EmbeddingChoice>,
}

/// An embedder chosen in settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EmbeddingChoice {
    /// all-MiniLM-L6-v2 on this machine.
    Local,
    /// Hashed words: shared words only, no model.
    Hashed,
    /// `model` of a saved endpoint; `dim` is how many numbers it gave when it was chosen.
    Endpoint {
        endpoint_id: String,
        model: String,
        dim: usize,
    },
}

impl ModelSettings {
    pub fn complexity_threshold(&self) -> f64 {
        self.complexity_threshold
            .filter(|t| (0.0..=1.0).contains(t))
            .unwrap_or(0.5)
    }

    pub fn strategy(&self) -> crate::chat::routing::Strategy {
        self.strategy
            .as_deref()
            .and_then(crate::chat::routing::Strategy::parse)
            .unwrap_or(crate::chat::routing::Strategy::Auto)
    }

    pub fn endpoint(&self, id: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.id == id)
    }

    pub fn role(&self, role: &str) -> Option<&Assignment> {
        match role {
            "guide" => self.guide.as_ref(),
            "specialist" => self.specialist.as_ref(),
            "vision" => self.vision.as_ref(),
            _ => None,
        }
    }

    fn role_mut(&mut self, role: &str) -> Option<&mut Option<Assignment>> {
        match role {
            "guide" => Some(&mut self.guide),
            "specialist" => Some(&mut self.specialist),
            "vision" => Some(&mut self.vision),
            _ => None,
        }
    }
}

/// What a client may send to save an endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    /// Lower-case letters, digits and `-`; made from the name when absent. Saving an existing
    /// id updates it.
    pub id: Option<String>,
    pub name: String,
    /// Base URL, e.g. `http://localhost:11434` or `https://api.openai.com/v1`.
    pub url: String,
    /// `ollama` or `openai` (any OpenAI-compatible server).
    pub provider: String,
    /// `"***"` keeps the stored key; `null` or absent removes it.
    pub api_key: Option<String>,
    /// 1 to 3600 seconds; default 180.
    #[serde(default)]
    pub timeout_s: Option<u64>,
    /// 512 to 2097152 tokens; absent: what the server says, else 4096.
    #[serde(default)]
    pub context_tokens: Option<u32>,
}

impl crate::bounds::Bounded for EndpointInput {
    fn check_bounds(&self) -> Result<(), String> {
        use crate::bounds::{self, Kind};
        bounds::opt_line("id", &self.id, bounds::ID_CHARS)?;
        bounds::text("name", &self.name, bounds::NAME_CHARS, Kind::Line)?;
        bounds::text("url", &self.url, bounds::URL_CHARS, Kind::Line)?;
        bounds::text("provider", &self.provider, bounds::WORD_CHARS, Kind::Line)?;
        bounds::opt_line("api_key", &self.api_key, bounds::KEY_CHARS)
    }
}

fn slugify(s: &str) -> String {
    let mut out = String::new();
    for c in s.to_ascii_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(64).collect()
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Checks a base URL: http(s), a host, no credentials, query or fragment.
pub fn validate_url(url: &str) -> Result<String, SettingsError> {
    let u = reqwest::Url::parse(url.trim())
        .map_err(|e| SettingsError::Invalid(format!("url {url:?} is not a URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(SettingsError::Invalid(
            "url must be http:// or https:// with a host".into(),
        ));
    }
    if !u.username().is_empty()
        || u.password().is_some()
        || u.query().is_some()
        || u.fragment().is_some()
    {
        return Err(SettingsError::Invalid(
            "url must not carry credentials, a query or a fragment (put the key in api_key)".into(),
        ));
    }
    Ok(u.as_str().trim_end_matches('/').to_owned())
}

#[derive(Debug)]
pub struct Settings {
    path: PathBuf,
    current: Mutex<ModelSettings>,
}

impl Settings {
    pub fn open(state_dir: &Path) -> Result<Self, SettingsError> {
        let path = state_dir.join("models.json");
        let current = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| SettingsError::Corrupt {
                path: path.display().to_string(),
                what: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ModelSettings::default(),
            Err(source) => {
                return Err(SettingsError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        Ok(Self {
            path,
            current: Mutex::new(current),
        })
    }

    pub fn get(&self) -> ModelSettings {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Applies `change` and persists the result atomically (temp file 0600, fsync, rename);
    /// nothing changes in memory if either fails.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut ModelSettings) -> Result<T, SettingsError>,
    ) -> Result<T, SettingsError> {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = cur.clone();
        let out = change(&mut next)?;
        let io = |source| SettingsError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(&next).map_err(|e| io(std::io::Error::other(e)))?;
        crate::config::write_private(&self.path, &bytes).map_err(io)?;
        *cur = next;
        Ok(out)
    }

    pub fn save_endpoint(&self, input: EndpointInput) -> Result<Endpoint, SettingsError> {
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(SettingsError::Invalid(
                "name must be 1 to 100 characters".into(),
            ));
        }
        let timeout_s = input.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S);
        if !(1..=3600).contains(&timeout_s) {
            return Err(SettingsError::Invalid(
                "timeout_s must be between 1 and 3600".into(),
            ));
        }
        if let Some(c) = input.context_tokens
            && !CONTEXT_TOKENS.contains(&c)
        {
            return Err(SettingsError::Invalid(format!(
                "context_tokens must be between {} and {}",
                CONTEXT_TOKENS.start(),
                CONTEXT_TOKENS.end()
            )));
        }
        if !PROVIDERS.contains(&input.provider.as_str()) {
            return Err(SettingsError::Invalid(format!(
                "provider must be ollama or openai, not {:?}",
                input.provider
            )));
        }
        let url = validate_url(&input.url)?;
        let id = input.id.unwrap_or_else(|| slugify(&name));
        if !valid_id(&id) {
            return Err(SettingsError::Invalid(
                "id must be 1 to 64 lower-case letters, digits or '-'".into(),
            ));
        }
        self.update(|s| {
            let old_key = s.endpoint(&id).and_then(|e| e.api_key.clone());
            let api_key = match input.api_key.as_deref() {
                Some(MASK) => old_key,
                Some(k) if !k.trim().is_empty() => Some(k.trim().to_owned()),
                _ => None,
            };
            let ep = Endpoint {
                id: id.clone(),
                name,
                url,
                provider: input.provider,
                api_key,
                timeout_s,
                context_tokens: input.context_tokens,
            };
            match s.endpoints.iter_mut().find(|e| e.id == id) {
                Some(e) => *e = ep.clone(),
                None => s.endpoints.push(ep.clone()),
            }
            Ok(ep)
        })
    }

    /// Removes an endpoint and clears every role that used it; returns the cleared roles.
    pub fn delete_endpoint(&self, id: &str) -> Result<Vec<&'static str>, SettingsError> {
        self.update(|s| {
            let before = s.endpoints.len();
            s.endpoints.retain(|e| e.id != id);
            if s.endpoints.len() == before {
                return Err(SettingsError::UnknownEndpoint(id.to_owned()));
            }
            let mut cleared = Vec::new();
            if matches!(&s.embedding, Some(EmbeddingChoice::Endpoint { endpoint_id, .. }) if endpoint_id == id)
            {
                s.embedding = None;
                cleared.push("embedding");
            }
            for role in ROLES {
                if let Some(slot) = s.role_mut(role)
                    && slot.as_ref().is_some_and(|a| a.endpoint_id == id)
                {
                    *slot = None;
                    cleared.push(role);
                }
            }
            Ok(cleared)
        })
    }

    pub fn assign(&self, role: &str, endpoint_id: &str, model: &str) -> Result<(), SettingsError> {
        let model = model.trim();
        if model.is_empty() || model.chars().count() > 200 {
            return Err(SettingsError::Invalid(
                "model must be 1 to 200 characters".into(),
            ));
        }
        self.update(|s| {
            if s.endpoint(endpoint_id).is_none() {
                return Err(SettingsError::UnknownEndpoint(endpoint_id.to_owned()));
            }
            let slot = s
                .role_mut(role)
                .ok_or_else(|| SettingsError::Invalid(format!("unknown role {role:?}")))?;
            *slot = Some(Assignment {
                endpoint_id: endpoint_id.to_owned(),
                model: model.to_owned(),
            });
            Ok(())
        })
    }

    /// Sets how chat messages are routed: the threshold (0 to 1) and the strategy.
    pub fn set_routing(&self, threshold: f64, strategy: &str) -> Result<(), SettingsError> {
        if !(0.0..=1.0).contains(&threshold) {
            return Err(SettingsError::Invalid(
                "complexity_threshold must be between 0 and 1".into(),
            ));
        }
        let strategy = crate::chat::routing::Strategy::parse(strategy).ok_or_else(|| {
            SettingsError::Invalid(format!(
                "strategy must be one of {}, not {strategy:?}",
                crate::chat::routing::Strategy::NAMES.join(", ")
            ))
        })?;
        self.update(|s| {
            s.complexity_threshold = Some(threshold);
            s.strategy = Some(strategy.as_str().to_owned());
            Ok(())
        })
    }

    /// Saves the embedder memory uses (none: automatic); an endpoint's must be saved.
    pub fn set_embedding(&self, choice: Option<EmbeddingChoice>) -> Result<(), SettingsError> {
        self.update(|s| {
            if let Some(EmbeddingChoice::Endpoint { endpoint_id, .. }) = &choice
                && s.endpoint(endpoint_id).is_none()
            {
                return Err(SettingsError::UnknownEndpoint(endpoint_id.clone()));
            }
            s.embedding = choice;
            Ok(())
        })
    }

    pub fn clear(&self, role: &str) -> Result<(), SettingsError> {
        self.update(|s| {
            let slot = s
                .role_mut(role)
                .ok_or_else(|| SettingsError::Invalid(format!("unknown role {role:?}")))?;
            *slot = None;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn input(name: &str, key: Option<&str>) -> EndpointInput {
        EndpointInput {
            id: None,
            name: name.into(),
            url: "http://127.0.0.1:11434/".into(),
            provider: "ollama".into(),
            api_key: key.map(str::to_owned),
            timeout_s: None,
            context_tokens: None,
        }
    }

    #[test]
    fn keys_are_kept_masked_and_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Settings::open(dir.path()).expect("open");
        let ep = s
            .save_endpoint(input("Local Ollama", Some("sk-secret")))
            .expect("save");
        assert_eq!(
            (ep.id.as_str(), ep.url.as_str()),
            ("local-ollama", "http://127.0.0.1:11434")
        );
        let again = s
            .save_endpoint(input("Local Ollama", Some(MASK)))
            .expect("resave");
        assert_eq!(
            again.api_key.as_deref(),
            Some("sk-secret"),
            "*** keeps the stored key"
        );
        let mode = std::fs::metadata(dir.path().join("models.json"))
            .expect("file")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            Settings::open(dir.path()).expect("reopen").get().endpoints[0]
                .api_key
                .as_deref(),
            Some("sk-secret")
        );
        s.assign("guide", "local-ollama", "llama3.1:8b")
            .expect("assign");
        assert!(matches!(
            s.assign("guide", "nope", "m"),
            Err(SettingsError::UnknownEndpoint(_))
        ));
        assert_eq!(
            s.delete_endpoint("local-ollama").expect("delete"),
            vec!["guide"]
        );
        assert!(
            s.get().guide.is_none(),
            "deleting an endpoint clears its roles"
        );
        for bad in [
            "ftp://x",
            "http://user:pw@host",
            "not a url",
            "http://host/?q=1",
        ] {
            let mut i = input("x", None);
            i.url = bad.into();
            assert!(
                matches!(s.save_endpoint(i), Err(SettingsError::Invalid(_))),
                "{bad}"
            );
        }
    }
}
