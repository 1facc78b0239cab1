//! Checks of the identifiers a fact carries, beyond what its JSON shape can express.
//!
//! Every identifier becomes part of a node id, a Cypher parameter, a URL or a page, so each is held to the shape
//! its source system gives it (Kubernetes names, git object ids, OCI digests) and refused with the field and the
//! reason otherwise. The checks work on characters, never on byte offsets.

use crate::RunFact;
use crate::normalize::is_digest;

/// Longest name or namespace: a Kubernetes object name (a DNS subdomain) is at most 253 characters.
const MAX_NAME: usize = 253;
/// Longest commit id: a SHA-256 git object id is 64 hex digits; CDEvents change ids are free-form but short.
const MAX_COMMIT: usize = 128;
/// Longest repository URL or image reference.
const MAX_REFERENCE: usize = 2048;

/// The first identifier of `fact` that is malformed, as `field: reason`.
pub fn validate(fact: &RunFact) -> Result<(), String> {
    namespace("namespace", &fact.namespace)?;
    object_name("name", &fact.name)?;
    if let Some(owner) = &fact.pipeline_run {
        object_name("pipelineRun.name", &owner.name)?;
    }
    for (field, value) in [("pipeline", &fact.pipeline), ("task", &fact.task), ("pipelineTask", &fact.pipeline_task)] {
        if let Some(value) = value {
            object_name(field, value)?;
        }
    }
    for child in &fact.children {
        object_name("children[].name", &child.name)?;
    }
    let chain = &fact.supply_chain;
    if let Some(source) = &chain.source {
        if let Some(sha) = &source.commit_sha {
            commit("supplyChain.source.commitSha", sha)?;
        }
        for (field, value) in [
            ("supplyChain.source.repositoryUrl", &source.repository_url),
            ("supplyChain.source.repository", &source.repository),
        ] {
            if let Some(value) = value {
                reference(field, value)?;
            }
        }
    }
    for image in &chain.images {
        digest("supplyChain.images[].digest", &image.digest)?;
        if let Some(repository) = &image.repository {
            reference("supplyChain.images[].repository", repository)?;
        }
    }
    for artifact in &chain.artifacts {
        digest("supplyChain.artifacts[].digest", &artifact.digest)?;
        reference("supplyChain.artifacts[].uri", &artifact.uri)?;
    }
    for scan in &chain.scans {
        if let Some(d) = &scan.image_digest {
            digest("supplyChain.scans[].imageDigest", d)?;
        }
    }
    if let Some(original) = &chain.rerun_of {
        object_name("supplyChain.rerunOf", original)?;
    }
    Ok(())
}

fn refuse(field: &str, value: &str, reason: &str) -> Result<(), String> {
    // Quote a bounded, escaped prefix: the value may be huge or hold control characters.
    let shown: String = value.chars().take(80).collect();
    let more = if value.chars().count() > 80 { "…" } else { "" };
    Err(format!("{field} {shown:?}{more} {reason}"))
}

fn bounded(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() {
        return refuse(field, value, "is empty");
    }
    if value.chars().count() > max {
        return refuse(field, value, &format!("is longer than {max} characters"));
    }
    Ok(())
}

/// A namespace: a Kubernetes DNS label, or the percent-encoded source a CDEvent's run is filed under.
fn namespace(field: &str, value: &str) -> Result<(), String> {
    bounded(field, value, MAX_NAME)?;
    name_characters(field, value)
}

/// An object name: a Kubernetes name, or the subject id of a CDEvent.
fn object_name(field: &str, value: &str) -> Result<(), String> {
    bounded(field, value, MAX_NAME)?;
    name_characters(field, value)
}

/// Kubernetes names are lower-case DNS names; other producers (CDEvents) use URL-safe ids. Both fit in ASCII
/// letters, digits and `-._~%` — no `/`, whitespace, control or non-ASCII characters, and not `.` or `..`.
fn name_characters(field: &str, value: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '%');
    if let Some(bad) = value.chars().find(|&c| !allowed(c)) {
        return refuse(field, value, &format!("is not a name ({bad:?} is not allowed)"));
    }
    if value == "." || value == ".." {
        return refuse(field, value, "is not a name");
    }
    Ok(())
}

/// A git object id, or another system's change id: ASCII letters, digits, `.`, `_` and `-`.
fn commit(field: &str, value: &str) -> Result<(), String> {
    bounded(field, value, MAX_COMMIT)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if let Some(bad) = value.chars().find(|&c| !allowed(c)) {
        return refuse(field, value, &format!("is not a commit id ({bad:?} is not allowed)"));
    }
    Ok(())
}

fn digest(field: &str, value: &str) -> Result<(), String> {
    bounded(field, value, MAX_REFERENCE)?;
    if !is_digest(value) {
        return refuse(field, value, "is not a digest of the form alg:hex");
    }
    Ok(())
}

/// A URL or image reference: no whitespace or control characters.
fn reference(field: &str, value: &str) -> Result<(), String> {
    bounded(field, value, MAX_REFERENCE)?;
    if let Some(bad) = value.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return refuse(field, value, &format!("is not a reference ({bad:?} is not allowed)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fact(patch: serde_json::Value) -> RunFact {
        let mut value = json!({
            "schemaVersion": crate::FACT_SCHEMA_VERSION, "kind": "PipelineRun", "namespace": "ci", "name": "build-1",
            "status": { "outcome": "Succeeded" }
        });
        for (k, v) in patch.as_object().expect("object") {
            value[k] = v.clone();
        }
        serde_json::from_value(value).expect("fact")
    }

    fn source(sha: &str) -> serde_json::Value {
        json!({ "supplyChain": { "source": { "repositoryUrl": "https://github.com/o/r", "commitSha": sha } } })
    }

    #[test]
    fn well_formed_facts_pass() {
        assert_eq!(validate(&fact(source("0123456789abcdef0123456789abcdef01234567"))), Ok(()));
        assert_eq!(validate(&fact(source("myChange123"))), Ok(()), "a CDEvents change id");
    }

    #[test]
    fn a_non_ascii_commit_is_refused_with_its_field() {
        let err = validate(&fact(source("abcdefgé"))).expect_err("refused");
        assert!(err.starts_with("supplyChain.source.commitSha \"abcdefgé\" is not a commit id"), "{err}");
    }

    #[test]
    fn names_are_kubernetes_or_url_safe_ids() {
        let cdevent = fact(json!({ "namespace": "%2Fevent%2Fsource%2F123", "name": "mySubject123" }));
        assert_eq!(validate(&cdevent), Ok(()), "a CDEvent's run");
        for (patch, field) in [
            (json!({ "namespace": "ci/../x" }), "namespace"),
            (json!({ "namespace": "a".repeat(254) }), "namespace"),
            (json!({ "name": ".." }), "name"),
            (json!({ "name": "build run" }), "name"),
            (json!({ "name": "bü" }), "name"),
            (json!({ "name": "ä".repeat(300) }), "name"),
            (json!({ "pipeline": "build/../x" }), "pipeline"),
        ] {
            let err = validate(&fact(patch.clone())).expect_err("refused");
            assert!(err.starts_with(field), "{patch}: {err}");
        }
        let long = validate(&fact(json!({ "name": "ä".repeat(300) }))).expect_err("refused");
        assert!(long.ends_with("is longer than 253 characters"), "{long}");
        assert!(long.contains('…'), "a bounded quote: {long}");
    }

    #[test]
    fn digests_and_references_are_checked() {
        let bad_digest =
            fact(json!({ "supplyChain": { "images": [{ "digest": "sha256:xyz", "evidence": "IMAGE_DIGEST" }] } }));
        assert!(validate(&bad_digest).expect_err("refused").starts_with("supplyChain.images[].digest"));
        let bad_url = fact(json!({ "supplyChain": { "source": { "repositoryUrl": "https://x/\n" } } }));
        assert!(validate(&bad_url).expect_err("refused").contains("'\\n' is not allowed"));
    }
}
