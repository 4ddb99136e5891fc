//! `/openapi.json` (OpenAPI 3.1, generated from the handlers and types) and `/docs` (Swagger UI,
//! vendored into the binary: no request leaves the machine).

use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::ErrorBody;
use super::discovery::{
    DiscoveryActionView, DiscoveryListView, DiscoveryView, MentionView, Mentions, ScanRequest,
    ScanStarted, SummaryView, TypeSummaryView,
};
use super::guardrails::{EnterSafeModeRequest, GuardrailsStatus};
use super::health::{Health, SandboxView};
use super::views::GuardrailsConfig;
use crate::events::{ScanProgress, SystemStatusData};

const DESCRIPTION: &str = r#"REST and WebSocket API of halbert-web, Halbert's per-user process.

**Access.** halbert-web listens on 127.0.0.1:8000. Loopback clients must run as the same user as
halbert-web (a connection of another user is answered 403 `forbidden_peer` and closed before a
request is read); a request carries exactly one `Host`, naming this server (`127.0.0.1:PORT`,
`localhost:PORT`, `[::1]:PORT`), and a path as its target (400 otherwise); on every
state-changing request and WebSocket upgrade, `Origin`, when sent, must be this server and
`Sec-Fetch-Site`, when sent, `same-origin` or `none`. When bound beyond loopback, every request
needs `Authorization: Bearer <token>`. Connections are capped (1024 per peer, 4096 in all:
beyond that 503 `too_many_connections`); one that takes over 15 s to send a request head, or
stays idle that long between requests, is closed.

**Errors.** Every error is JSON `{"detail": "...", "code": "..."}` (plus `action` when polkit refused
one); each code has one status (the `Code` table in `api/error.rs`). A body is a JSON object.
Malformed JSON is 400 `invalid_json`; wrong field types or values, and bad query parameters,
are 422 `validation_failed`; a body that is not `application/json` is 415; a body over 2 MiB is
413 `payload_too_large`. Refusals by the web guard are
403 (`forbidden_host`, `forbidden_origin`, `forbidden_peer`) or 401 `unauthorized`. halbertd
unreachable is 503 `daemon_unavailable`; polkit refusing the action is 403 `permission_denied`
with the action in `action`; a change refused because safe mode is on is **423**
`safe_mode_active`; halbertd timing out is 504 `daemon_timeout`. Chat without a model assigned to
the role it needs is 409 `no_model`; a model endpoint that fails is 502, one that is too slow 504.

**Field bounds** (422 naming the field beyond them; text in characters): a chat message 32,000;
`mentions` 32 of at most 128 each; `current_page` and a message's `page` 100; `page_context`
8,000; `history` 50 turns of at most 32,000; `images` 4; names (conversations, endpoints, models)
200; an endpoint `url` 2,048 and `api_key` 4,096; a config-chat `file_path` 4,096 and
`file_content` 524,288 characters; scan `types` 8; a memory `query` 2,000; `entry_ids` 1,000;
a conversation message 200,000; an AI rule 2,000; a safe-mode reason 500. One-line fields (names,
URLs, keys, mentions, pages) refuse control characters; text fields refuse them except tab and
line breaks. Every schema below states these bounds (`maxLength`, `pattern`, `enum`, …) as the
server enforces them.

**Timestamps** are ISO 8601 in UTC with a `Z` suffix, to the second.

**WebSocket** `/ws`: messages are `{"type": T, "data": ...}`. `system_status` (schema
`SystemStatusData`) arrives right after connecting and then every 5 s; `daemon_status`
`{"connected": bool, "detail": string}` when the link to halbertd goes down or comes back;
`discovery_scan` (schema `ScanProgress`) for every scan started with `POST /api/discovery/scan`:
per type `started` then `done` or `failed`, and finally `complete` with the scan id the POST
returned (202); `alert` (schema `AlertData`: id, message, severity, timestamp) for every alert
raised with `POST /api/settings/recovery/alert` or by an automatic rollback; `knowledge_index` (the manual-page index job: `running`, `done` of `total` pages, `changed`, `removed`), `memory_reembed`
`{"collection", "embedder", "done", "total"}` while memory's entries are embedded again after
the embedder changed (the local model installed); `approval_request`
(schema `ApprovalRequest`) when an action is held for a person; `approval_decision` (schema
`DecisionRecord`) when one is approved, rejected or expires; `decision` for each step of a chat
turn, and for the safety gate's judgement of a proposal (schema `GateDecision`: `action`,
`kind`, `confidence`, `outcome` `auto`|`approval_required`|`refused`, `reasoning`). The server
ignores messages from the client.

**The safety gate.** Every change passes the user's policy (`/api/settings/policy`), then
halbertd's system-wide policy, polkit and safe mode. What a model proposes is held as an
approval request with its dry run (`/api/settings/simulate/*`) and runs only when a person
approves it (`/api/approvals`); a policy can hold a person's own action too (202
`approval_required`) or require the dry run first (422 `simulation_failed`). A config write the
policy wants watched restarts its unit and is rolled back if the unit fails (`health` in the
answer).

**Streamed chat** (how the dashboard does it): open `/ws` first; make a `request_id` (letters,
digits, `-`, `_`, at most 64; the server makes one and returns it when absent, but then the
client cannot match events that arrive before the POST answers); `POST /api/chat/send` with it.
While the POST is pending, `/ws` carries for that `request_id`: a `decision` with
`action: "route"` (model, model_type, complexity_score, threshold, reasoning); for questions a
live tool answers, one `decision` with `action: "tool_call"` per call (tool, arguments, ok,
duration_ms, reasoning) or `action: "tool_fallback"` (the model printed its call as text: JSON,
fenced JSON or `<tool_call>` tags; it is run as the call it is, and markup is never shown),
each call announced first by `tool_call_started` `{request_id, tool}` as soon as the model
starts writing it; `chat_token` `{request_id, token, done}` for each piece of text in order, a
last one with `done: true`; then exactly one closing event: `chat_complete`
`{request_id, response, debug}`, or `chat_error` `{request_id, code, detail}` when the request
failed after it began (`code` is the error code the POST answers with, e.g.
`endpoint_unreachable` for a model server that closed the connection mid-answer) or its client
went away (`cancelled`). `debug.truncated` says the answer stopped at the token limit (a tool
call cut off there is refused, not run). The POST then answers with the whole text, the same
`debug`, the `tool_calls` made and any `suggested_actions` (buttons only — nothing was run).
Closing the HTTP request cancels the model's generation. `/ws` is bounded per client: a client
that falls far behind gets `feed_lagged` `{"skipped": n}`, and should take the text from
`chat_complete` or the POST answer, which are always whole.

**The model's context window.** What chat adds to a prompt — the page the user is looking at
(`page_context`, at most 8,000 characters), discovery, past conversations, older history — is
trimmed to the model's window before sending, least useful first (`debug.context_trimmed`
says what); what the person wrote is never cut. The window is the endpoint's `context_tokens`
when set, else what the server says (llama.cpp's `/props`, Ollama's `/api/show`), else 4,096.

**Config chat** (`POST /api/chat/config`) streams like chat (`chat_token`, then `chat_complete`
or `chat_error`, for its `request_id`) under the same limits: the endpoint's timeout bounds
the wait for the answer to start and each silence, not the whole answer, and the generation is
stopped once the edit blocks are complete (`debug.stopped_early`). `summary` says what was
applied to the file — or that nothing was — never what the model claims; broken blocks are
listed in `malformed`, blocks whose SEARCH text is not in the file in `unapplied`."#;

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Halbert", description = DESCRIPTION),
    components(schemas(
        super::schema::Persona, super::schema::MessageRole, super::schema::ModelRole, super::schema::Strategy, super::schema::Priority,
        super::schema::Provider, super::schema::Severity, super::policy::ToolRuleDoc, super::policy::ConditionsDoc, super::schema::PolicyEntry, super::schema::HoursWindow, super::schema::PathGlob, crate::events::AlertData, crate::events::GateDecision, super::schema::DiscoveryType, super::schema::Mention, super::schema::ListId,
        super::schema::WsUpgrade, super::schema::WsConnection, super::schema::WsVersion, super::schema::WsKey,
        ErrorBody, GuardrailsStatus, GuardrailsConfig, EnterSafeModeRequest, Health, SandboxView, SystemStatusData,
        DiscoveryView, DiscoveryActionView, DiscoveryListView, SummaryView, TypeSummaryView, ScanRequest, ScanStarted,
        ScanProgress, Mentions, MentionView,
        super::views::Conversation, super::views::Summary, super::views::Message,
        super::conversations::NewConversation, super::conversations::NewMessage, super::conversations::Rename,
        super::conversations::Deleted, super::conversations::ConversationList,
        super::views::Rule, super::views::NewRule, super::views::RuleChange, super::rules::RuleList,
        super::models::EndpointView, super::models::EndpointList, super::models::EndpointDeleted, super::models::ModelList,
        super::models::TestResult, super::models::AssignRequest, super::models::RoleView, super::models::Cleared,
        super::models::LoadedView, super::models::RoutingSettings, super::views::LoadedModel, super::views::EndpointInput,
        super::chat::ConfigChatRequest, super::chat::ConfigChatResponse, super::chat::ConfigChatDebug, super::schema::HistoryTurn, super::chat::ChatSendRequest, super::chat::ChatSendResponse, crate::events::ChatDebug,
        super::views::EditBlock, super::views::Unapplied, super::views::ToolRecord,
        super::memory::MemoryStats, super::memory::MemoryQuery, super::memory::MemoryHit, super::memory::MemoryResults,
        super::memory::CollectionView, super::memory::CollectionList, super::memory::EntryPage, super::memory::EntryDeleted,
        super::memory::DeleteEntries, super::memory::EntriesDeleted, super::memory::Cleared, super::views::Entry, super::views::Scalar
    )),
    tags((name = "guardrails", description = "Safe mode and guardrail settings"), (name = "editor", description = "Configuration files, with backups"), (name = "discovery", description = "What this machine has"), (name = "conversations", description = "Stored chat conversations"), (name = "ai-rules", description = "Standing instructions for the assistant"), (name = "models", description = "Model endpoints and role assignments"), (name = "chat", description = "Talking to the models"), (name = "memory", description = "What the assistant remembers (searched locally)"), (name = "ingestion", description = "This machine's journal and sensors collected into memory"), (name = "system", description = "halbert-web itself"))
)]
pub struct ApiDoc;

/// `/docs` and `/openapi.json`, serving `api` (built by [`super::openapi`]).
pub fn router(api: utoipa::openapi::OpenApi) -> Router {
    let config = Config::new(["/openapi.json"])
        .validator_url("none")
        .try_it_out_enabled(true);
    SwaggerUi::new("/docs")
        .url("/openapi.json", api)
        .config(config)
        .into()
}

/// A response in the error shape.
/// The routes whose POST performs an action through the gate (`actions::perform`).
const GATED: &[&str] = &[
    "/api/editor/file",
    "/api/editor/restore",
    "/api/services/{name}/start",
    "/api/services/{name}/stop",
    "/api/services/{name}/restart",
    "/api/terminal/execute",
    "/api/settings/recovery/rollback",
    "/api/settings/recovery/restart-service",
];

fn error_response(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

/// The answers every route may give besides its own, added to every operation so that each
/// status a route can answer is documented: the web guard's refusals on all of them, the body
/// errors on those that take a body, halbertd's on those that ask it.
pub fn common_responses(api: &mut utoipa::openapi::OpenApi) {
    for (path, item) in api.paths.paths.iter_mut() {
        // Every change goes through the safety gate, whose answers are the same everywhere.
        if GATED.contains(&path.as_str())
            && let Some(op) = item.post.as_mut()
        {
            let r = &mut op.responses.responses;
            for (status, description) in [
                (
                    "202",
                    "Held for a person's approval, as the user's policy asks (`approval_required`, with `approval_id`)",
                ),
                (
                    "403",
                    "The user's or the system-wide policy does not allow it (`policy_denied`, with `rule`), or polkit refused it",
                ),
                (
                    "422",
                    "The dry run the policy requires rejects it (`simulation_failed`, with `simulation`); nothing was changed",
                ),
            ] {
                r.entry(status.to_owned())
                    .or_insert_with(|| error_response(description));
            }
        }
        let asks_halbertd =
            path.starts_with("/api/settings/guardrails") || path.starts_with("/api/discovery");
        let has_params = path.contains('{');
        let ops = [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for op in ops.into_iter().flatten() {
            let r = &mut op.responses.responses;
            let mut add = |status: &str, description: &str| {
                r.entry(status.to_owned())
                    .or_insert_with(|| error_response(description));
            };
            add(
                "400",
                "A malformed request: two Host headers, an absolute target, an unreadable body or path",
            );
            add(
                "401",
                "A bearer token is needed (only when halbert-web listens beyond loopback)",
            );
            add(
                "403",
                "Refused by the web guard: another user, a foreign Host, a cross-origin change",
            );
            if op.request_body.is_some() {
                add("413", "The body is over 2 MiB");
                add("415", "The body is not application/json");
                add("422", "A field of the wrong type or beyond its bounds");
            }
            if has_params {
                add("422", "A path parameter outside its form");
            }
            if asks_halbertd {
                add("502", "halbertd failed");
                add("503", "halbertd is unreachable");
                add("504", "halbertd did not answer in time");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// A parameter is `in: path` exactly when its path has a `{name}` for it (query structs
    /// were once described as path parameters, required, of paths without them).
    #[test]
    fn path_parameters_are_in_their_paths_and_the_rest_in_the_query() {
        let api = serde_json::to_value(super::super::openapi()).expect("json");
        let mut queries = 0;
        for (path, item) in api["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let name = p["name"].as_str().expect("name");
                    let templated = path.contains(&format!("{{{name}}}"));
                    match p["in"].as_str() {
                        Some("path") => {
                            assert!(templated, "{method} {path}: {name} is no part of the path")
                        }
                        Some("query") => {
                            assert!(!templated, "{method} {path}: {name} is in the path");
                            // Counts and a history's window default when absent; only a path
                            // names what is asked for.
                            let optional =
                                ["lines", "limit", "offset", "since", "step"].contains(&name);
                            assert_eq!(p["required"], !optional, "{method} {path}: {name}");
                            queries += 1;
                        }
                        _ => {}
                    }
                }
            }
        }
        assert!(queries >= 6, "the query parameters were found ({queries})");
    }

    /// Every `$ref` in the description names a schema it defines (utoipa collects the schemas
    /// of bodies, but not those only parameters use).
    #[test]
    fn every_reference_resolves() {
        let api = serde_json::to_value(super::super::openapi()).expect("json");
        let schemas = api["components"]["schemas"].as_object().expect("schemas");
        let mut refs = Vec::new();
        fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, v) in m {
                        match (k.as_str(), v.as_str()) {
                            ("$ref", Some(r)) => out.push(r.to_owned()),
                            _ => walk(v, out),
                        }
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        walk(&api, &mut refs);
        assert!(refs.len() > 50, "too few references: {}", refs.len());
        for r in refs {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected reference {r}"));
            assert!(schemas.contains_key(name), "{r} is not defined");
        }
    }
}
