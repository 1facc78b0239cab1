//! The policy file: who (a group, or a subject) gets which role, over which namespaces and Systems.
//!
//! ```yaml
//! rules:
//!   - group: org-a:team-build        # an OIDC group (the claim named by --oidc-groups-claim)
//!     role: viewer
//!     namespaces: [ci, build]        # runs in these namespaces …
//!     systems: [payments]            # … or of these Systems; neither given: everything
//!   - subject: harvester@example.com # an OIDC subject or e-mail, or a static token's name
//!     role: ingester
//! ```
//!
//! A caller gets the roles of every rule that matches them; their scope is the union of those rules' grants
//! (one unrestricted rule: everything). An OIDC caller no rule matches gets no role at all.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Role, Scope};

/// The parsed policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One rule: exactly one of `group` and `subject`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    pub role: Role,
    #[serde(default)]
    pub namespaces: Option<BTreeSet<String>>,
    #[serde(default)]
    pub systems: Option<BTreeSet<String>>,
}

/// What one rule lets its caller see: runs in `namespaces` or of `systems`; neither: everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub namespaces: BTreeSet<String>,
    pub systems: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read the policy file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the policy file {path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl Policy {
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read { path: path.into(), source })?;
        Policy::parse(&text).map_err(|reason| PolicyError::Invalid { path: path.into(), reason })
    }

    pub fn parse(text: &str) -> Result<Policy, String> {
        let policy: Policy = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        for (i, rule) in policy.rules.iter().enumerate() {
            if rule.group.is_some() == rule.subject.is_some() {
                return Err(format!("rule {}: give exactly one of `group` and `subject`", i + 1));
            }
        }
        Ok(policy)
    }

    /// The roles and scope of a caller; the scope is `None` when no rule matches them.
    pub fn resolve(&self, subject: &str, groups: &[String]) -> (BTreeSet<Role>, Option<Scope>) {
        let matching: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|r| r.subject.as_deref() == Some(subject) || r.group.as_ref().is_some_and(|g| groups.contains(g)))
            .collect();
        if matching.is_empty() {
            return (BTreeSet::new(), None);
        }
        let roles = matching.iter().map(|r| r.role).collect();
        let unrestricted = matching.iter().any(|r| r.namespaces.is_none() && r.systems.is_none());
        let scope = if unrestricted {
            Scope::everything()
        } else {
            let grants = matching
                .iter()
                .map(|r| Grant {
                    namespaces: r.namespaces.clone().unwrap_or_default(),
                    systems: r.systems.clone().unwrap_or_default(),
                })
                .collect();
            Scope { grants: Some(grants) }
        };
        (roles, Some(scope))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
rules:
  - group: team-a
    role: viewer
    namespaces: [ci, build]
  - group: team-b
    role: viewer
    systems: [payments]
  - subject: harvester@example.com
    role: ingester
  - group: admins
    role: admin
"#;

    #[test]
    fn groups_and_subjects_map_to_roles_and_scopes() {
        let policy = Policy::parse(POLICY).expect("policy");
        let (roles, scope) = policy.resolve("alice@example.com", &["team-a".into()]);
        let scope = scope.expect("matched");
        assert_eq!(roles, [Role::Viewer].into());
        assert!(scope.allows("ci", None) && scope.allows("build", Some("other")));
        assert!(!scope.allows("payments", Some("payments-api")), "another namespace");

        let (_, scope) = policy.resolve("bob@example.com", &["team-b".into()]);
        let scope = scope.expect("matched");
        assert!(scope.allows("anything", Some("payments")) && !scope.allows("ci", None));

        let (roles, scope) = policy.resolve("carol@example.com", &["team-a".into(), "admins".into()]);
        assert_eq!(roles, [Role::Viewer, Role::Admin].into());
        assert!(scope.expect("matched").is_everything(), "an unrestricted rule widens the scope");

        let (roles, scope) = policy.resolve("harvester@example.com", &[]);
        assert_eq!((roles, scope.map(|s| s.is_everything())), ([Role::Ingester].into(), Some(true)));
        assert_eq!(policy.resolve("mallory@example.com", &["team-c".into()]), (BTreeSet::new(), None));
    }

    #[test]
    fn bad_policies_name_the_problem() {
        let both = "rules:\n  - group: a\n    subject: b\n    role: viewer\n";
        assert_eq!(Policy::parse(both).expect_err("refused"), "rule 1: give exactly one of `group` and `subject`");
        let role = Policy::parse("rules:\n  - group: a\n    role: owner\n").expect_err("refused");
        assert!(role.contains("unknown variant `owner`"), "{role}");
        let typo = Policy::parse("rules:\n  - group: a\n    role: viewer\n    namespace: [x]\n").expect_err("refused");
        assert!(typo.contains("unknown field `namespace`"), "{typo}");
    }
}
