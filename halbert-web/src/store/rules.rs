//! AI rules: standing instructions the user gives the assistant (`{id, text, priority,
//! category, enabled}`), kept in the per-user sled database and validated on every write.

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("no AI rule with id {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database: {0}")]
    Store(#[from] sled::Error),
    #[error("stored rule is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub text: String,
    /// `high`, `medium` or `low`.
    pub priority: String,
    pub category: String,
    pub enabled: bool,
}

/// A create or update; absent fields keep their value (or take the default on create).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub text: Option<String>,
    pub priority: Option<String>,
    pub category: Option<String>,
    pub enabled: Option<bool>,
    /// Accepted from the earlier version's files and clients; the same as `text`.
    pub rule: Option<String>,
}

impl crate::bounds::Bounded for RuleInput {
    fn check_bounds(&self) -> Result<(), String> {
        use crate::bounds::{self, Kind};
        for (field, v) in [("text", &self.text), ("rule", &self.rule)] {
            if let Some(v) = v {
                bounds::text(field, v, MAX_TEXT, Kind::Text)?;
            }
        }
        bounds::opt_line("priority", &self.priority, bounds::WORD_CHARS)?;
        bounds::opt_line("category", &self.category, bounds::NAME_CHARS)
    }
}

pub const PRIORITIES: [&str; 3] = ["high", "medium", "low"];
const MAX_TEXT: usize = 2000;

fn rank(p: &str) -> usize {
    PRIORITIES
        .iter()
        .position(|x| *x == p)
        .unwrap_or(PRIORITIES.len())
}

fn validate(r: &Rule) -> Result<(), RuleError> {
    if r.text.trim().is_empty() {
        return Err(RuleError::Invalid("text must not be empty".into()));
    }
    if r.text.chars().count() > MAX_TEXT {
        return Err(RuleError::Invalid(
            "text is longer than 2000 characters".into(),
        ));
    }
    if !PRIORITIES.contains(&r.priority.as_str()) {
        return Err(RuleError::Invalid(format!(
            "priority must be high, medium or low, not {:?}",
            r.priority
        )));
    }
    let c = &r.category;
    if c.is_empty()
        || c.len() > 50
        || !c
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        return Err(RuleError::Invalid(
            "category must be 1 to 50 letters, digits, '-' or '_'".into(),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Rules {
    db: sled::Db,
    tree: sled::Tree,
}

impl Rules {
    pub fn open(db: &sled::Db) -> Result<Self, RuleError> {
        Ok(Self {
            db: db.clone(),
            tree: db.open_tree("ai_rules")?,
        })
    }

    /// High before medium before low; stable by id within a priority.
    pub fn list(&self) -> Result<Vec<Rule>, RuleError> {
        let mut v = self
            .tree
            .iter()
            .values()
            .map(|r| Ok(serde_json::from_slice(&r?)?))
            .collect::<Result<Vec<Rule>, RuleError>>()?;
        v.sort_by(|a, b| {
            rank(&a.priority)
                .cmp(&rank(&b.priority))
                .then(a.id.cmp(&b.id))
        });
        Ok(v)
    }

    /// The enabled rules, in the order prompts use them.
    pub fn enabled(&self) -> Result<Vec<Rule>, RuleError> {
        Ok(self.list()?.into_iter().filter(|r| r.enabled).collect())
    }

    pub fn create(&self, input: RuleInput) -> Result<Rule, RuleError> {
        let seq = self.db.generate_id()?;
        let rule = Rule {
            id: format!("rule-{seq}"),
            text: input
                .text
                .or(input.rule)
                .unwrap_or_default()
                .trim()
                .to_owned(),
            priority: input.priority.unwrap_or_else(|| "high".into()),
            category: input.category.unwrap_or_else(|| "general".into()),
            enabled: input.enabled.unwrap_or(true),
        };
        validate(&rule)?;
        self.tree
            .insert(rule.id.as_bytes(), serde_json::to_vec(&rule)?)?;
        self.db.flush()?;
        Ok(rule)
    }

    pub fn update(&self, id: &str, input: RuleInput) -> Result<Rule, RuleError> {
        let raw = self
            .tree
            .get(id.as_bytes())?
            .ok_or_else(|| RuleError::NotFound(id.to_owned()))?;
        let mut rule: Rule = serde_json::from_slice(&raw)?;
        if let Some(t) = input.text.or(input.rule) {
            rule.text = t.trim().to_owned();
        }
        if let Some(p) = input.priority {
            rule.priority = p;
        }
        if let Some(c) = input.category {
            rule.category = c;
        }
        if let Some(e) = input.enabled {
            rule.enabled = e;
        }
        validate(&rule)?;
        // Compare-and-swap: a concurrent delete is not silently undone.
        self.tree
            .compare_and_swap(id.as_bytes(), Some(raw), Some(serde_json::to_vec(&rule)?))?
            .map_err(|_| RuleError::Invalid("the rule changed meanwhile; try again".into()))?;
        self.db.flush()?;
        Ok(rule)
    }

    pub fn delete(&self, id: &str) -> Result<(), RuleError> {
        self.tree
            .remove(id.as_bytes())?
            .ok_or_else(|| RuleError::NotFound(id.to_owned()))?;
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_validate_order_update_delete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db =
            crate::store::open_locked(dir.path(), std::time::Duration::from_secs(5)).expect("db");
        let rules = Rules::open(&db).expect("rules");
        let low = rules
            .create(RuleInput {
                text: Some("prefer apt".into()),
                priority: Some("low".into()),
                ..Default::default()
            })
            .expect("low");
        let high = rules
            .create(RuleInput {
                rule: Some("bcachefs requires kernel 6.8 or earlier".into()),
                category: Some("storage".into()),
                ..Default::default()
            })
            .expect("old field name");
        assert_eq!(
            (high.priority.as_str(), high.category.as_str(), high.enabled),
            ("high", "storage", true)
        );
        assert_eq!(
            rules
                .list()
                .expect("list")
                .iter()
                .map(|r| r.id.clone())
                .collect::<Vec<_>>(),
            vec![high.id.clone(), low.id.clone()]
        );
        assert!(matches!(
            rules.create(RuleInput {
                text: Some("  ".into()),
                ..Default::default()
            }),
            Err(RuleError::Invalid(_))
        ));
        assert!(matches!(
            rules.create(RuleInput {
                text: Some("x".into()),
                priority: Some("urgent".into()),
                ..Default::default()
            }),
            Err(RuleError::Invalid(_))
        ));
        let off = rules
            .update(
                &low.id,
                RuleInput {
                    enabled: Some(false),
                    ..Default::default()
                },
            )
            .expect("update");
        assert!(!off.enabled);
        assert_eq!(rules.enabled().expect("enabled").len(), 1);
        assert!(matches!(
            rules.update("rule-nope", RuleInput::default()),
            Err(RuleError::NotFound(_))
        ));
        rules.delete(&low.id).expect("delete");
        assert!(matches!(rules.delete(&low.id), Err(RuleError::NotFound(_))));
    }
}
