//! The gate's path through the engine: [`Engine::mutate`] (validate → system-wide policy →
//! authorize → safe mode → intent → act → outcome), the refusal records and their rate limit, start-up reconciliation
//! of interrupted actions, and the audit verification RPC.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Acted, Engine, EngineError, Mutation, blocking, now};
use crate::gate::audit::{self, CallerRef, Entry, Outcome, Verification};
use crate::peer::Caller;

impl Engine {
    /// Records the end of every action that was interrupted (halbertd killed between its
    /// intent record and its outcome), with the state found now, so that every change on
    /// disk has a record saying who asked for it and what came of it. A record that cannot be
    /// written (a full disk) does not keep halbertd from starting: its intent stays without an
    /// outcome, and the next start tries again.
    pub(super) fn reconcile(&self) {
        let dangling = self.audit.take_dangling();
        let sm = self.guardrails.get();
        for d in dangling {
            let found = if sm.active {
                format!("safe mode is on ({})", sm.reason)
            } else {
                "safe mode is off".into()
            };
            let mut entry = d.entry;
            entry
                .details
                .insert("safe_mode_active_after".into(), sm.active.to_string());
            entry.outcome = Outcome::Interrupted;
            entry.error = Some("halbertd stopped before the action reported its outcome".into());
            entry.summary = format!("{} interrupted; at start-up {found}", entry.rpc);
            entry.intent = Some(d.hash);
            tracing::warn!(rpc = %entry.rpc, caller_uid = entry.caller.uid, "recording an action interrupted by a stop of halbertd");
            if let Err(e) = self.audit.append(&entry, now()) {
                tracing::error!(error = %e, rpc = %entry.rpc, "cannot record the interrupted action now; the next start tries again");
            }
        }
    }

    /// Writes one `suppressed` record per uid whose refusals the rate limit held back since
    /// the last call (halbertd calls it periodically and at shutdown).
    pub async fn flush_suppressed(self: &Arc<Self>) {
        for (uid, held) in self.refusals.take_all() {
            if let Err(e) = self.audit(audit::suppressed_entry(uid, &held)).await {
                tracing::error!(error = %e, uid, "cannot record suppressed refusals");
            }
        }
    }

    pub async fn verify_audit(&self, caller: &Caller) -> Result<Verification, EngineError> {
        self.check_read(caller)?;
        let dir = self.audit.dir().to_owned();
        blocking(move || audit::verify(&dir))
            .await?
            .map_err(|e| EngineError::Internal(e.to_string()))
    }

    /// The gate of every mutation: validate → system-wide policy → authorize → safe mode →
    /// intent → act → outcome. Refusals (invalid, denied, refused) are audited too, rate-limited per uid;
    /// an authorized action is preceded by an fsync'd intent record, so that a change that
    /// survives a crash always has its record. `act` runs on a blocking thread and gets the
    /// caller's uid.
    pub async fn mutate<T, F>(self: &Arc<Self>, m: Mutation<'_>, act: F) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce(&Engine, u32) -> Result<Acted<T>, EngineError> + Send + 'static,
    {
        self.mutate_async(m, move |me, uid| async move {
            blocking(move || act(&me, uid)).await.and_then(|r| r)
        })
        .await
    }

    /// As [`Engine::mutate`], for an action that waits on something else (a systemd job, a
    /// command) instead of doing blocking work itself.
    pub async fn mutate_async<T, F, Fut>(
        self: &Arc<Self>,
        m: Mutation<'_>,
        act: F,
    ) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Engine>, u32) -> Fut,
        Fut: Future<Output = Result<Acted<T>, EngineError>>,
    {
        // Nothing the caller sent reaches polkit or the log uncapped.
        let mut details = audit::cap_details(m.details);
        let record = |details: &BTreeMap<String, String>,
                      outcome: Outcome,
                      error: Option<String>,
                      summary: String| Entry {
            rpc: m.rpc.to_owned(),
            request_id: m.request_id.to_owned(),
            caller: CallerRef {
                uid: m.caller.uid,
                pid: m.caller.pid,
                comm: m.caller.comm.clone(),
            },
            action: Some(m.action.to_owned()),
            details: details.clone(),
            outcome,
            error,
            summary,
            intent: None,
        };
        if let Some(problem) = m.invalid {
            let summary = format!("{} rejected as invalid", m.rpc);
            let entry = record(&details, Outcome::Invalid, None, summary);
            return Err(self
                .refused(entry, EngineError::InvalidArgument(problem))
                .await);
        }
        if let Some((tool, inputs)) = &m.tool {
            let user = crate::peer::user_name(m.caller.uid);
            let d = self.system_policy.decide(tool, inputs, user);
            if !d.allow {
                details.insert("policy_rule".into(), d.rule.clone());
                let summary = format!("{} denied by the system-wide policy", m.rpc);
                let entry = record(&details, Outcome::Denied, None, summary);
                let e = EngineError::PolicyDenied {
                    rule: d.rule,
                    reason: format!("the system-wide policy forbids it: {}", d.reason),
                };
                return Err(self.refused(entry, e).await);
            }
        }
        let grant = match self.authz.check_action(m.caller, m.action, &details).await {
            Ok(g) => g,
            Err(e) => {
                let entry = record(&details, Outcome::Denied, None, format!("{} denied", m.rpc));
                return Err(self.refused(entry, EngineError::from(e)).await);
            }
        };
        details.insert("granted_by".into(), grant.as_str().into());
        if !m.allowed_in_safe_mode
            && let Err(reason) = self.guardrails.check_mutation_allowed()
        {
            let summary = format!("{} refused in safe mode", m.rpc);
            let entry = record(&details, Outcome::Refused, None, summary);
            return Err(self.refused(entry, EngineError::SafeMode { reason }).await);
        }
        // A dry run changes nothing, so there is nothing a crash could leave unexplained: its
        // one record is the outcome.
        let intent = if m.dry_run {
            None
        } else {
            Some(
                self.audit(record(
                    &details,
                    Outcome::Intent,
                    None,
                    format!("{} starting", m.rpc),
                ))
                .await?,
            )
        };
        let result = act(self.clone(), m.caller.uid).await;
        let mut entry = match &result {
            Ok(a) => {
                let mut d = details.clone();
                d.extend(audit::cap_details(a.details.clone()));
                record(&d, a.outcome, None, a.summary.clone())
            }
            Err(e) => record(
                &details,
                Outcome::Failed,
                Some(e.to_string()),
                format!("{} failed", m.rpc),
            ),
        };
        entry.intent = intent;
        let state_changed = entry.outcome == Outcome::Ok;
        self.audit(entry).await?;
        if state_changed {
            self.changed.notify_one();
        }
        tracing::info!(
            rpc = m.rpc,
            caller_uid = m.caller.uid,
            caller_pid = m.caller.pid,
            action = m.action,
            granted_by = grant.as_str(),
            ok = result.is_ok(),
            "mutation"
        );
        result.map(|a| a.value)
    }

    /// Audits a refusal (with `err` as its error) and hands back the error to answer with,
    /// or the audit failure if the record could not be written.
    async fn refused(self: &Arc<Self>, mut entry: Entry, err: EngineError) -> EngineError {
        entry.error = Some(err.to_string());
        match self.audit_refusal(entry).await {
            Ok(()) => err,
            Err(audit) => audit,
        }
    }

    /// Audits a refusal unless the caller's uid is over its rate; a held-back count is written
    /// as one `suppressed` record before the next refusal that is written.
    async fn audit_refusal(self: &Arc<Self>, e: Entry) -> Result<(), EngineError> {
        let admitted = self.refusals.admit(
            e.caller.uid,
            e.outcome,
            now().unix_timestamp(),
            std::time::Instant::now(),
        );
        match admitted {
            Err(()) => Ok(()),
            Ok(held) => {
                if let Some(h) = held {
                    self.audit(audit::suppressed_entry(e.caller.uid, &h))
                        .await?;
                }
                self.audit(e).await.map(drop)
            }
        }
    }

    async fn audit(self: &Arc<Self>, e: Entry) -> Result<String, EngineError> {
        let me = self.clone();
        match blocking(move || me.audit.append(&e, now())).await? {
            Ok(hash) => Ok(hash),
            Err(err) => {
                tracing::error!(error = %err, "audit append failed");
                Err(EngineError::AuditFailed)
            }
        }
    }
}
