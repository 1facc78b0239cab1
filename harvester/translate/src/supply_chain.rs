//! Supply-chain facts from a run's results, labels and annotations: the source revision it built, what triggered
//! it, the images and artifacts it produced or consumed, and the vulnerability counts it reported.
//!
//! Conventions come from Tekton Chains type hints, the git-clone catalog task, Lighthouse, Pipelines-as-Code,
//! Tekton Results, the Dashboard and Konflux scan tasks (see `tekton-conventions.md`). Every extracted value names
//! its evidence, so a wrong fact can be traced back to the result or label it came from. Malformed values (an
//! invalid digest, a scan report that is not JSON) are skipped rather than failing the run: one odd result should
//! not hide the rest of the run, and nothing half-parsed is recorded.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use tekton_graph_schema::normalize::{digest_from_ref, normalize_digest, parse_image_ref, repository_key};
use tekton_graph_schema::{
    ArtifactFact, ArtifactRole, ImageFact, NamedValue, RunFact, ScanFact, SourceFact, SupplyChain, TriggerFact,
};

const RERUN_OF: &str = "dashboard.tekton.dev/rerunOf";
const CHAINS_SIGNED: &str = "chains.tekton.dev/signed";
const CHAINS_TRANSPARENCY: &str = "chains.tekton.dev/transparency";
const RESULT_ANNOTATIONS: &str = "results.tekton.dev/resultAnnotations";
const LIGHTHOUSE_CLONE_URI: &str = "lighthouse.jenkins-x.io/cloneURI";
const LIGHTHOUSE_LAST_COMMIT: &str = "lighthouse.jenkins-x.io/lastCommitSHA";
const LIGHTHOUSE_BASE_SHA: &str = "lighthouse.jenkins-x.io/baseSHA";
const LIGHTHOUSE_BRANCH: &str = "lighthouse.jenkins-x.io/branch";
const PAC_REPO_URL: &str = "pipelinesascode.tekton.dev/repo-url";
const PAC_SHA: &str = "pipelinesascode.tekton.dev/sha";
const PAC_BRANCH: &str = "pipelinesascode.tekton.dev/branch";
const EVENT_LISTENER: &str = "triggers.tekton.dev/eventlistener";
const TRIGGER: &str = "triggers.tekton.dev/trigger";
const TRIGGER_EVENT_ID: &str = "triggers.tekton.dev/triggers-eventid";
/// Results whose JSON value reports vulnerability counts (Konflux/Clair conventions).
const SCAN_RESULTS: &[&str] = &["CLAIR_SCAN_RESULT", "SCAN_OUTPUT"];

/// Extracts the supply-chain facts of a fact whose results, params, labels and annotations are filled in.
pub(crate) fn extract(fact: &RunFact) -> SupplyChain {
    let scans = scans(fact);
    let (images, artifacts) = produced(&fact.results);
    SupplyChain {
        source: source(fact),
        trigger: trigger(fact),
        // A scan run names the image it scanned in its image results; that image is not one it produced.
        images: if scans.is_empty() { images } else { Vec::new() },
        artifacts,
        scans,
        rerun_of: label(fact, RERUN_OF).or_else(|| annotation(fact, RERUN_OF)).map(|c| c.value),
        signed: annotation(fact, CHAINS_SIGNED).map(|c| c.value),
        transparency: annotation(fact, CHAINS_TRANSPARENCY).map(|c| c.value),
    }
}

/// A value and where it came from.
struct Candidate {
    evidence: String,
    value: String,
}

/// A non-empty string result; results often end in a newline (`echo` into the result file).
fn result_str<'a>(results: &'a [NamedValue], name: &str) -> Option<&'a str> {
    results.iter().find(|r| r.name == name).and_then(|r| r.value.as_str()).map(str::trim).filter(|s| !s.is_empty())
}

fn result(results: &[NamedValue], name: &str) -> Option<Candidate> {
    result_str(results, name).map(|v| Candidate { evidence: name.to_string(), value: v.to_string() })
}

/// A result named `<prefix><suffix>` with a non-empty prefix, e.g. `source-CHAINS-GIT_URL`.
fn prefixed_result(results: &[NamedValue], suffix: &str) -> Option<Candidate> {
    results
        .iter()
        .filter(|r| r.name.len() > suffix.len() && r.name.ends_with(suffix))
        .find_map(|r| result(results, &r.name))
}

fn label(fact: &RunFact, key: &str) -> Option<Candidate> {
    from_map(&fact.labels, key, "label")
}

fn annotation(fact: &RunFact, key: &str) -> Option<Candidate> {
    from_map(&fact.annotations, key, "annotation")
}

fn from_map(map: &BTreeMap<String, String>, key: &str, what: &str) -> Option<Candidate> {
    let value = map.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())?;
    Some(Candidate { evidence: format!("{what}:{key}"), value: value.to_string() })
}

fn param(fact: &RunFact, name: &str) -> Option<Candidate> {
    let value = fact.param(name)?.as_str().map(str::trim).filter(|v| !v.is_empty())?;
    Some(Candidate { evidence: format!("param:{name}"), value: value.to_string() })
}

/// A key of the JSON object in `results.tekton.dev/resultAnnotations` (the Results docs put repo/commit there).
fn result_annotation(fact: &RunFact, keys: &[&str]) -> Option<Candidate> {
    let raw = fact.annotations.get(RESULT_ANNOTATIONS)?;
    let parsed: Map<String, Value> = serde_json::from_str(raw).ok()?;
    let value = keys.iter().find_map(|k| parsed.get(*k)?.as_str().map(str::trim).filter(|v| !v.is_empty()))?;
    Some(Candidate { evidence: format!("annotation:{RESULT_ANNOTATIONS}"), value: value.to_string() })
}

/// Takes the first candidate and records its evidence.
fn pick(candidates: impl IntoIterator<Item = Option<Candidate>>, evidence: &mut Vec<String>) -> Option<String> {
    let chosen = candidates.into_iter().flatten().next()?;
    if !evidence.contains(&chosen.evidence) {
        evidence.push(chosen.evidence);
    }
    Some(chosen.value)
}

/// The source revision. Results written by the run win over labels set by whoever created it, because results
/// say what was actually fetched. Params are inputs (a `revision` param may be a branch), so they are never
/// evidence of a commit; a repository URL param is a last resort for the URL only.
fn source(fact: &RunFact) -> Option<SourceFact> {
    let r = &fact.results;
    // git-clone writes `url` and `commit` together; a lone `url` result is usually something else (a deployment).
    let git_clone = result_str(r, "commit").is_some();
    let mut evidence = Vec::new();
    let repository_url = pick(
        [
            result(r, "REPO_URL"),
            result(r, "CHAINS-GIT_URL"),
            prefixed_result(r, "CHAINS-GIT_URL"),
            git_clone.then(|| result(r, "url")).flatten(),
            result_annotation(fact, &["repo", "repository", "repo_url", "repoURL", "url"]),
            annotation(fact, LIGHTHOUSE_CLONE_URI),
            annotation(fact, PAC_REPO_URL),
        ],
        &mut evidence,
    )
    .or_else(|| pick(repository_url_params(fact), &mut evidence));
    let commit_sha = pick(
        [
            result(r, "REPO_COMMIT"),
            result(r, "CHAINS-GIT_COMMIT"),
            prefixed_result(r, "CHAINS-GIT_COMMIT"),
            result(r, "commit"),
            result_annotation(fact, &["commit", "sha", "commit_sha", "commitSHA"]),
            label(fact, LIGHTHOUSE_LAST_COMMIT),
            label(fact, LIGHTHOUSE_BASE_SHA),
            label(fact, PAC_SHA),
            annotation(fact, PAC_SHA),
        ],
        &mut evidence,
    );
    let author = pick([result(r, "COMMIT_AUTHOR")], &mut evidence);
    let author_email = pick([result(r, "COMMIT_AUTHOR_EMAIL")], &mut evidence);
    let message = pick([result(r, "COMMIT_MESSAGE")], &mut evidence);
    let timestamp = pick(
        [
            result(r, "COMMIT_TIMESTAMP"),
            result(r, "REPO_COMMIT_TIMESTAMP"),
            git_clone.then(|| result(r, "committer-date")).flatten(),
        ],
        &mut evidence,
    );
    let branch =
        pick([label(fact, LIGHTHOUSE_BRANCH), label(fact, PAC_BRANCH), annotation(fact, PAC_BRANCH)], &mut evidence);
    let source = SourceFact {
        repository: repository_url.as_deref().map(repository_key),
        repository_url,
        commit_sha,
        author,
        author_email,
        message,
        timestamp,
        branch,
        evidence,
    };
    (source != SourceFact::default()).then_some(source)
}

/// Params that name a repository. A plain `url` param counts only when it is unmistakably a git URL: tasks
/// such as `curl` take a `url` too.
fn repository_url_params(fact: &RunFact) -> [Option<Candidate>; 3] {
    let git_like = |c: &Candidate| {
        let v = c.value.as_str();
        v.ends_with(".git") || v.starts_with("git@") || v.starts_with("ssh://") || v.starts_with("git://")
    };
    [param(fact, "repo-url"), param(fact, "git-url"), param(fact, "url").filter(git_like)]
}

fn trigger(fact: &RunFact) -> Option<TriggerFact> {
    let trigger = TriggerFact {
        kind: result_str(&fact.results, "TRIGGER").map(str::to_string),
        event_listener: label(fact, EVENT_LISTENER).map(|c| c.value),
        trigger: label(fact, TRIGGER).map(|c| c.value),
        event_id: label(fact, TRIGGER_EVENT_ID).map(|c| c.value),
    };
    (trigger != TriggerFact::default()).then_some(trigger)
}

/// A result value as JSON: objects as they are, strings parsed (Tekton results were strings before object
/// results existed, so reports are usually JSON inside a string).
fn json_value(value: &Value) -> Option<Value> {
    match value {
        Value::Object(_) => Some(value.clone()),
        Value::String(s) => serde_json::from_str(s).ok(),
        _ => None,
    }
}

/// One scan per scan result whose value has a `vulnerabilities` object.
fn scans(fact: &RunFact) -> Vec<ScanFact> {
    let (image_digest, image_repository) = scanned_image(fact);
    fact.results
        .iter()
        .filter(|r| SCAN_RESULTS.contains(&r.name.as_str()))
        .filter_map(|r| {
            let report = json_value(&r.value)?;
            let mut scan = severity_counts(report.get("vulnerabilities")?.as_object()?, &r.name);
            scan.unpatched = report
                .get("unpatched_vulnerabilities")
                .and_then(Value::as_object)
                .map(|counts| Box::new(severity_counts(counts, &r.name)));
            scan.image_digest = image_digest.clone();
            scan.image_repository = image_repository.clone();
            Some(scan)
        })
        .collect()
}

fn severity_counts(counts: &Map<String, Value>, evidence: &str) -> ScanFact {
    // Counts are numbers, but shell-written reports sometimes quote them; anything else counts as none.
    let count = |key: &str| {
        let n = match counts.get(key) {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        n.unwrap_or(0).max(0)
    };
    ScanFact {
        critical: count("critical"),
        high: count("high"),
        medium: count("medium"),
        low: count("low"),
        unknown: count("unknown"),
        evidence: evidence.to_string(),
        ..ScanFact::default()
    }
}

/// The image a scan run scanned: its `IMAGE_DIGEST`/`IMAGE_URL` results, else an `image`/`IMAGE` param pinned
/// by digest (a tag-only param could have moved since, so it is not used).
fn scanned_image(fact: &RunFact) -> (Option<String>, Option<String>) {
    let url = result_str(&fact.results, "IMAGE_URL").map(parse_image_ref);
    let digest = result_str(&fact.results, "IMAGE_DIGEST")
        .and_then(digest_from_ref)
        .or_else(|| url.as_ref().and_then(|u| u.digest.clone()));
    let pinned_param = ["image", "IMAGE"]
        .iter()
        .filter_map(|name| fact.param(name)?.as_str())
        .map(parse_image_ref)
        .find(|image| image.digest.is_some());
    let digest = digest.or_else(|| pinned_param.as_ref().and_then(|p| p.digest.clone()));
    let repository = url.map(|u| u.repository).or_else(|| pinned_param.map(|p| p.repository));
    (digest, repository.filter(|r| !r.is_empty()))
}

/// Images and artifacts named by Chains type hints, images de-duplicated by digest.
fn produced(results: &[NamedValue]) -> (Vec<ImageFact>, Vec<ArtifactFact>) {
    let mut images = image_url_digest_pairs(results);
    images.extend(images_list(results));
    let mut artifacts = Vec::new();
    for r in results.iter().filter(|r| r.name.ends_with("ARTIFACT_OUTPUTS")) {
        for (uri, digest) in structured_artifacts(&r.value) {
            match oci_reference(&uri) {
                Some(reference) => images.push(image_fact(digest, Some(reference), &uri, &r.name)),
                None => {
                    artifacts.push(ArtifactFact { uri, digest, role: ArtifactRole::Output, evidence: r.name.clone() })
                }
            }
        }
    }
    artifacts.extend(artifact_uri_digest_pairs(results));
    for r in results.iter().filter(|r| r.name.ends_with("ARTIFACT_INPUTS")) {
        artifacts.extend(structured_artifacts(&r.value).into_iter().map(|(uri, digest)| ArtifactFact {
            uri,
            digest,
            role: ArtifactRole::Input,
            evidence: r.name.clone(),
        }));
    }
    let mut seen = BTreeSet::new();
    images.retain(|image| seen.insert(image.digest.clone()));
    let mut seen = BTreeSet::new();
    artifacts.retain(|a| seen.insert((a.uri.clone(), a.digest.clone(), a.role == ArtifactRole::Input)));
    (images, artifacts)
}

fn image_fact(digest: String, reference: Option<&str>, url: &str, evidence: &str) -> ImageFact {
    let parsed = reference.map(parse_image_ref);
    ImageFact {
        digest,
        repository: parsed.as_ref().map(|p| p.repository.clone()).filter(|r| !r.is_empty()),
        tag: parsed.and_then(|p| p.tag),
        url: Some(url.to_string()).filter(|u| !u.is_empty()),
        evidence: evidence.to_string(),
    }
}

/// `<P>IMAGE_DIGEST` with its `<P>IMAGE_URL` (any prefix P). A digest without a URL still identifies an image.
fn image_url_digest_pairs(results: &[NamedValue]) -> Vec<ImageFact> {
    results
        .iter()
        .filter_map(|r| {
            let prefix = r.name.strip_suffix("IMAGE_DIGEST")?;
            let digest = result_str(results, &r.name).and_then(digest_from_ref)?;
            let url = result_str(results, &format!("{prefix}IMAGE_URL"));
            Some(image_fact(digest, url, url.unwrap_or_default(), &r.name))
        })
        .collect()
}

/// `IMAGES`: comma- or newline-separated `ref@sha256:…`; entries without a digest are skipped.
fn images_list(results: &[NamedValue]) -> Vec<ImageFact> {
    let Some(list) = result_str(results, "IMAGES") else { return Vec::new() };
    list.split([',', '\n'])
        .map(str::trim)
        .filter_map(|entry| {
            let digest = parse_image_ref(entry).digest?;
            Some(image_fact(digest, Some(entry), entry, "IMAGES"))
        })
        .collect()
}

/// `<P>ARTIFACT_URI` with `<P>ARTIFACT_DIGEST`.
fn artifact_uri_digest_pairs(results: &[NamedValue]) -> Vec<ArtifactFact> {
    results
        .iter()
        .filter_map(|r| {
            let prefix = r.name.strip_suffix("ARTIFACT_DIGEST")?;
            let digest = result_str(results, &r.name).and_then(normalize_digest)?;
            let uri = result_str(results, &format!("{prefix}ARTIFACT_URI"))?;
            Some(ArtifactFact { uri: uri.to_string(), digest, role: ArtifactRole::Output, evidence: r.name.clone() })
        })
        .collect()
}

/// `{uri, digest}` or `{uri, sha256}` objects (or an array of them) with a valid digest.
fn structured_artifacts(value: &Value) -> Vec<(String, String)> {
    let objects: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    objects
        .into_iter()
        .filter_map(|o| {
            let uri = o.get("uri")?.as_str()?.trim();
            let digest = o.get("digest").or_else(|| o.get("sha256"))?.as_str().and_then(normalize_digest)?;
            (!uri.is_empty()).then(|| (uri.to_string(), digest))
        })
        .collect()
}

/// The image reference of an artifact URI that names an OCI image: `oci://…`, or no scheme and a registry host
/// (`ghcr.io/…`, `localhost:5000/…`). Anything else (`pkg:…`, `https://…`, a bare file name) is an artifact.
fn oci_reference(uri: &str) -> Option<&str> {
    if let Some(reference) = uri.strip_prefix("oci://") {
        return Some(reference);
    }
    if has_scheme(uri) {
        return None;
    }
    let (host, path) = uri.split_once('/')?;
    let registry_host = host.contains('.') || host.contains(':') || host == "localhost";
    (registry_host && !path.is_empty()).then_some(uri)
}

/// `scheme:` at the start, where a ':' followed by a digit is a port (`localhost:5000/x`), not a scheme.
fn has_scheme(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else { return false };
    !scheme.is_empty()
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        && !rest.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const D1: &str = "sha256:827521c857fdcd4374f4da5442fbae2edb01e7fbae285c3ec15673d4c1daecb7";
    const D2: &str = "sha256:daa1a56e13c85cf164e7d9e595006649e3a04c47fe4a8261320e18a0bf3b0367";

    fn nv(name: &str, value: Value) -> NamedValue {
        NamedValue { name: name.to_string(), value }
    }

    #[test]
    fn oci_references_need_a_registry_host_or_oci_scheme() {
        assert_eq!(oci_reference("oci://ghcr.io/a/b"), Some("ghcr.io/a/b"));
        assert_eq!(oci_reference("ghcr.io/a/b:1.0"), Some("ghcr.io/a/b:1.0"));
        assert_eq!(oci_reference("localhost:5000/app"), Some("localhost:5000/app"));
        assert_eq!(oci_reference("pkg:oci/app?repository_url=ghcr.io/a"), None);
        assert_eq!(oci_reference("https://example.com/file.tgz"), None);
        assert_eq!(oci_reference("hello_world"), None);
        assert_eq!(oci_reference("library/busybox"), None);
    }

    #[test]
    fn prefixed_image_pairs_with_tags() {
        let results = vec![
            nv("first-image-IMAGE_URL", json!("ghcr.io/x/y:0.1.0\n")),
            nv("first-image-IMAGE_DIGEST", json!(D1)),
            nv("IMAGES", json!(format!("gcr.io/a@{D2}\nnot-pinned:latest, gcr.io/dup@{D1}"))),
            nv("bad-IMAGE_DIGEST", json!("sha256:")),
        ];
        let (images, artifacts) = produced(&results);
        assert!(artifacts.is_empty());
        assert_eq!(images.len(), 2, "{images:?}");
        assert_eq!(images[0].digest, D1);
        assert_eq!(images[0].repository.as_deref(), Some("ghcr.io/x/y"));
        assert_eq!(images[0].tag.as_deref(), Some("0.1.0"));
        assert_eq!(images[0].evidence, "first-image-IMAGE_DIGEST");
        assert_eq!(images[1].digest, D2);
        assert_eq!(images[1].repository.as_deref(), Some("gcr.io/a"));
        assert_eq!(images[1].evidence, "IMAGES");
    }

    #[test]
    fn artifact_outputs_split_into_images_and_artifacts() {
        let hex = D1.trim_start_matches("sha256:");
        let results = vec![
            nv("img-ARTIFACT_OUTPUTS", json!({"uri": "oci://ghcr.io/a/b", "sha256": hex})),
            nv("bin-ARTIFACT_OUTPUTS", json!({"uri": "https://example.com/app.tgz", "digest": D2})),
            nv("bin-ARTIFACT_URI", json!("gs://bucket/app")),
            nv("bin-ARTIFACT_DIGEST", json!(D2)),
            nv("src-ARTIFACT_INPUTS", json!({"uri": "git+https://example.com/r", "digest": "sha1:xyz"})),
        ];
        let (images, artifacts) = produced(&results);
        assert_eq!(images.len(), 1);
        assert_eq!(
            (images[0].repository.as_deref(), images[0].url.as_deref()),
            (Some("ghcr.io/a/b"), Some("oci://ghcr.io/a/b"))
        );
        let uris: Vec<_> = artifacts.iter().map(|a| (a.uri.as_str(), a.role)).collect();
        assert_eq!(
            uris,
            vec![("https://example.com/app.tgz", ArtifactRole::Output), ("gs://bucket/app", ArtifactRole::Output)]
        );
    }
}
