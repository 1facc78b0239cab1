//! CDEvents (`dev.cdevents.*`, spec 0.3.0, 0.4.1 and 0.5.1) → [`RunFact`]s observed from
//! [`ObservedFrom::CdEvent`].
//!
//! The input is the CDEvent JSON (`{"context": …, "subject": …, "customData"?: …}`), which is also the data of a
//! CloudEvent carrying a CDEvent. One event says only part of a run's story, so its fact is partial: the graph
//! service merges it into the stored CDEvent observation of the same run with
//! [`tekton_graph_schema::merge::merge_observations`]. To make that merge order-independent every fact records its
//! event in annotation [`EVENT_IDS_ANNOTATION`] and carries resource version `1` (one event).
//!
//! # Spec versions
//!
//! | spec | context version key | event type versions | subject | run URL |
//! |---|---|---|---|---|
//! | 0.3.0 | `version` | `.0.1.x` | has `type` | `content.url` |
//! | 0.4.1 | `version` | `.0.2.0` | has `type` | `content.url` |
//! | 0.5.1 | `specversion` | `.0.3.0` | no `type` | `content.uri` |
//!
//! Only the fields below are read, and they mean the same in all three, so the version is not branched on; an
//! event type's version must merely be `N.N.N`.
//!
//! # Mapping
//!
//! * **Identity** of run subjects (pipelinerun, taskrun, build): namespace = `subject.source`, else
//!   `context.source`; name = `subject.id`; both with `%` and `/` percent-encoded ([`graph_key`]), so the source
//!   `/event/source/123` is the namespace `%2Fevent%2Fsource%2F123`.
//! * **pipelinerun** → PipelineRun, pipeline = `content.pipelineName`. **taskrun** → TaskRun, task =
//!   `content.taskName`, owner = `content.pipelineRun.id` (same namespace). **build** → PipelineRun labelled
//!   [`SUBJECT_TYPE_LABEL`]` = build`; `build.finished`'s `content.artifactId` (a purl) is an image or artifact.
//! * **Status**: queued → Pending; started → Running, start time = `context.timestamp`; finished → outcome from
//!   `content.outcome` (success → Succeeded, failure → Failed, cancel → Cancelled, error → Failed with reason
//!   `Error`), completion time = `context.timestamp`, message = `content.errors`. `build.finished` has no outcome in
//!   any spec: it counts as Succeeded when it names the artifact it produced. A finished event without either
//!   stays Unknown with reason `Finished`.
//! * `content.url` / `content.uri` → annotation [`URL_ANNOTATION`].
//! * **Chain subjects** (artifact packaged/published/signed, change created/updated/merged) name no run: they
//!   attach to the run of their chain, a PipelineRun with namespace = `context.source` and name = the chain id
//!   (`subject.id` when there is none). Artifact purls become images or artifacts; `artifact.packaged`'s
//!   `content.change {id, source}` and the change events (`subject.id`, `content.repository {id, source}`) become
//!   the source revision, with the change id as commit and the repository key of `source` (joined with the
//!   repository id for change events). `artifact.signed` sets `signed = true`.
//! * **Package URLs**: `pkg:oci/NAME@sha256%3A<hex>?repository_url=REG/PATH` → image (digest, repository =
//!   `repository_url` else NAME, tag from the `tag` qualifier); any other purl → artifact (uri = the purl, role
//!   Output) when it names a digest: its version if that is `alg:hex`, else its `checksum` qualifier. Versions
//!   such as `1.2.0` or a short commit are no digest, and the fact contract requires one, so such a purl records
//!   no artifact. Evidence is `cdevents:<subject>.<predicate>`. A malformed
//!   `build.finished` artifactId is skipped (a hint, like other supply-chain hints); a malformed artifact
//!   `subject.id` is an error (it is the event's subject).
//! * **Chains**: the chain id is `context.chainId`, else the `contextId` of a `TRIGGER` link (the smallest, if
//!   several). Every fact of a chain gets annotation [`CHAIN_ID_ANNOTATION`] and the trigger
//!   `{kind: cdevents-chain, eventListener: cdevents, trigger: <chain>, eventId: <chain>}`, so the PipelineRuns of
//!   one chain (in one namespace) share one Trigger node. The listener is a constant rather than
//!   `context.source` because the events of one chain come from different producers.
//! * **Event keys** are `<context.type>/<context.id>`. The spec makes `source` + `id` unique, but its conformance
//!   examples reuse one id across event types; keying by type too keeps a `started` and a `finished` event with
//!   one id from merging as a redelivery of each other. A real redelivery repeats both, so it is still a no-op.
//! * `customData` is not read.
//!
//! The `cdevents-sdk` crate (0.4) parses all three spec versions' examples, but it is not used: its context keeps
//! `chainId` and `links` private, which this mapping needs, and its types reject unknown fields (and its 0.4.2
//! needs Rust 1.94, above this workspace's 1.89). Package URLs are parsed here too ([`parse_purl`]): only the
//! type, name, version and qualifiers are needed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tekton_graph_schema::merge::encode_event_key;
use tekton_graph_schema::normalize::{normalize_digest, repository_key};
use tekton_graph_schema::{
    ArtifactFact, ArtifactRole, FACT_SCHEMA_VERSION, ImageFact, ObservedFrom, Outcome, OwnerRef, RunFact, RunKind,
    RunStatus, SourceFact, SupplyChain, TriggerFact,
};

use crate::json::{at, display_value, type_name};

pub use tekton_graph_schema::merge::EVENT_IDS_ANNOTATION;

/// The prefix of every CDEvent type.
pub const CDEVENT_TYPE_PREFIX: &str = "dev.cdevents.";
/// Annotation: the chain (`context.chainId` or a TRIGGER link's `contextId`) the event belongs to.
pub const CHAIN_ID_ANNOTATION: &str = "cdevents.dev/chain-id";
/// Annotation: the run's `content.url` (spec ≤ 0.4) or `content.uri` (0.5).
pub const URL_ANNOTATION: &str = "cdevents.dev/url";
/// Label on facts of `build` events, which are PipelineRuns in the graph.
pub const SUBJECT_TYPE_LABEL: &str = "cdevents.dev/subject-type";
/// `TriggerFact::kind` of the trigger shared by the runs of one chain.
pub const CHAIN_TRIGGER_KIND: &str = "cdevents-chain";
/// `TriggerFact::event_listener` of chain triggers.
pub const CHAIN_EVENT_LISTENER: &str = "cdevents";

const SUPPORTED: &str = "pipelinerun queued/started/finished, taskrun started/finished, build \
                         queued/started/finished, artifact packaged/published/signed, change created/updated/merged";

/// Why a CDEvent could not be translated. [`CdEventError::UnsupportedType`] is apart so that a service can ignore
/// event types it does not model rather than reject them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdEventError {
    #[error("unsupported CDEvent type `{0}`: supported are {SUPPORTED}")]
    UnsupportedType(String),
    #[error("a CDEvent must be a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("CDEvent has no `{0}`")]
    MissingField(&'static str),
    #[error("CDEvent `{field}` should be {expected}, found `{found}`")]
    BadField { field: &'static str, expected: &'static str, found: String },
}

/// True for CloudEvent types that carry a CDEvent (`dev.cdevents.…`).
pub fn is_cdevent_type(ce_type: &str) -> bool {
    ce_type.starts_with(CDEVENT_TYPE_PREFIX)
}

/// Translates one CDEvent into the facts it tells about (today always one). See the module docs for the mapping.
pub fn translate_cdevent(event: &Value) -> Result<Vec<RunFact>, CdEventError> {
    if !event.is_object() {
        return Err(CdEventError::NotAnObject(type_name(event)));
    }
    let context = at(event, &["context"]).ok_or(CdEventError::MissingField("context"))?;
    let ty = required_str(context, &["type"], "context.type")?;
    let (subject_kind, predicate) = parse_type(ty)?;
    let ctx = Context::read(context, ty, subject_kind, predicate)?;
    let subject = at(event, &["subject"]).ok_or(CdEventError::MissingField("subject"))?;
    let fact = match subject_kind {
        SubjectKind::PipelineRun | SubjectKind::TaskRun | SubjectKind::Build => run_fact(&ctx, subject)?,
        SubjectKind::Artifact | SubjectKind::Change => chain_fact(&ctx, subject)?,
    };
    Ok(vec![fact])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubjectKind {
    PipelineRun,
    TaskRun,
    Build,
    Artifact,
    Change,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Predicate {
    Queued,
    Started,
    Finished,
    Packaged,
    Published,
    Signed,
    Created,
    Updated,
    Merged,
}

/// `dev.cdevents.<subject>.<predicate>.<N.N.N>` → the pair, if we translate it.
fn parse_type(ty: &str) -> Result<(SubjectKind, Predicate), CdEventError> {
    let unsupported = || CdEventError::UnsupportedType(ty.to_string());
    let rest = ty.strip_prefix(CDEVENT_TYPE_PREFIX).ok_or_else(unsupported)?;
    let mut parts = rest.splitn(3, '.');
    let (Some(subject), Some(predicate), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(unsupported());
    };
    let numeric = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit());
    if version.split('.').count() != 3 || !version.split('.').all(numeric) {
        return Err(unsupported());
    }
    use {Predicate as P, SubjectKind as S};
    let pair = match (subject, predicate) {
        ("pipelinerun", "queued") => (S::PipelineRun, P::Queued),
        ("pipelinerun", "started") => (S::PipelineRun, P::Started),
        ("pipelinerun", "finished") => (S::PipelineRun, P::Finished),
        ("taskrun", "started") => (S::TaskRun, P::Started),
        ("taskrun", "finished") => (S::TaskRun, P::Finished),
        ("build", "queued") => (S::Build, P::Queued),
        ("build", "started") => (S::Build, P::Started),
        ("build", "finished") => (S::Build, P::Finished),
        ("artifact", "packaged") => (S::Artifact, P::Packaged),
        ("artifact", "published") => (S::Artifact, P::Published),
        ("artifact", "signed") => (S::Artifact, P::Signed),
        ("change", "created") => (S::Change, P::Created),
        ("change", "updated") => (S::Change, P::Updated),
        ("change", "merged") => (S::Change, P::Merged),
        _ => return Err(unsupported()),
    };
    Ok(pair)
}

/// What every fact of the event shares.
struct Context<'a> {
    /// `<subject>.<predicate>`, for evidence.
    short_type: &'a str,
    subject_kind: SubjectKind,
    predicate: Predicate,
    event_key: String,
    source: &'a str,
    timestamp: DateTime<Utc>,
    chain: Option<String>,
}

impl<'a> Context<'a> {
    fn read(
        context: &'a Value,
        ty: &'a str,
        subject_kind: SubjectKind,
        predicate: Predicate,
    ) -> Result<Self, CdEventError> {
        let id = required_str(context, &["id"], "context.id")?;
        let short_type = ty.strip_prefix(CDEVENT_TYPE_PREFIX).and_then(|r| r.rsplitn(4, '.').last()).unwrap_or(ty);
        Ok(Context {
            short_type,
            subject_kind,
            predicate,
            event_key: encode_event_key(&format!("{ty}/{id}")),
            source: required_str(context, &["source"], "context.source")?,
            timestamp: timestamp(context)?,
            chain: chain_id(context)?,
        })
    }

    fn evidence(&self) -> String {
        format!("cdevents:{}", self.short_type)
    }
}

fn timestamp(context: &Value) -> Result<DateTime<Utc>, CdEventError> {
    let text = required_str(context, &["timestamp"], "context.timestamp")?;
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|_| CdEventError::BadField {
        field: "context.timestamp",
        expected: "an RFC 3339 time",
        found: text.to_string(),
    })
}

/// `context.chainId`, else the smallest `target.contextId` of the `TRIGGER` links.
fn chain_id(context: &Value) -> Result<Option<String>, CdEventError> {
    if let Some(chain) = optional_str(context, &["chainId"], "context.chainId")? {
        return Ok(Some(chain.to_string()));
    }
    let links = at(context, &["links"]).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let triggers = links
        .iter()
        .filter(|l| at(l, &["linkKind"]).and_then(Value::as_str).is_some_and(|k| k.eq_ignore_ascii_case("TRIGGER")))
        .filter_map(|l| at(l, &["target", "contextId"]).and_then(Value::as_str))
        .map(str::trim)
        .filter(|id| !id.is_empty());
    Ok(triggers.min().map(str::to_string))
}

/// A pipelinerun, taskrun or build event: the subject is the run.
fn run_fact(ctx: &Context, subject: &Value) -> Result<RunFact, CdEventError> {
    let name = required_str(subject, &["id"], "subject.id")?;
    let namespace = optional_str(subject, &["source"], "subject.source")?.unwrap_or(ctx.source);
    let kind = if ctx.subject_kind == SubjectKind::TaskRun { RunKind::TaskRun } else { RunKind::PipelineRun };
    let mut fact = base_fact(ctx, kind, namespace, name);
    let content = at(subject, &["content"]).unwrap_or(&Value::Null);
    let url = optional_str(content, &["url"], "subject.content.url")?;
    if let Some(url) = url.or(optional_str(content, &["uri"], "subject.content.uri")?) {
        fact.annotations.insert(URL_ANNOTATION.to_string(), url.to_string());
    }
    match ctx.subject_kind {
        SubjectKind::TaskRun => {
            fact.task = optional_str(content, &["taskName"], "subject.content.taskName")?.map(str::to_string);
            let parent = optional_str(content, &["pipelineRun", "id"], "subject.content.pipelineRun.id")?;
            fact.pipeline_run = parent.map(|name| OwnerRef { name: graph_key(name), uid: None });
        }
        SubjectKind::Build => {
            fact.labels.insert(SUBJECT_TYPE_LABEL.to_string(), "build".to_string());
            let artifact = optional_str(content, &["artifactId"], "subject.content.artifactId")?;
            // A hint: a malformed purl is skipped, the rest of the run is still worth recording.
            if let Some(purl) = artifact.and_then(|a| parse_purl(a).ok()) {
                add_package(&mut fact.supply_chain, &purl, ctx);
            }
        }
        _ => {
            fact.pipeline =
                optional_str(content, &["pipelineName"], "subject.content.pipelineName")?.map(str::to_string)
        }
    }
    fact.status = run_status(ctx, content)?;
    Ok(fact)
}

fn run_status(ctx: &Context, content: &Value) -> Result<RunStatus, CdEventError> {
    let mut status = RunStatus::default();
    match ctx.predicate {
        Predicate::Queued => status.outcome = Outcome::Pending,
        Predicate::Started => {
            status.outcome = Outcome::Running;
            status.start_time = Some(ctx.timestamp);
        }
        _ => {
            let (outcome, reason) = finished_outcome(ctx, content)?;
            status.outcome = outcome;
            status.reason = reason.map(str::to_string);
            status.completion_time = Some(ctx.timestamp);
            status.message = optional_str(content, &["errors"], "subject.content.errors")?.map(str::to_string);
        }
    }
    Ok(status)
}

fn finished_outcome(ctx: &Context, content: &Value) -> Result<(Outcome, Option<&'static str>), CdEventError> {
    let Some(raw) = optional_str(content, &["outcome"], "subject.content.outcome")? else {
        let built = ctx.subject_kind == SubjectKind::Build && at(content, &["artifactId"]).is_some();
        return Ok(if built { (Outcome::Succeeded, None) } else { (Outcome::Unknown, Some("Finished")) });
    };
    match raw.to_ascii_lowercase().as_str() {
        "success" => Ok((Outcome::Succeeded, None)),
        "failure" => Ok((Outcome::Failed, None)),
        "cancel" => Ok((Outcome::Cancelled, None)),
        "error" => Ok((Outcome::Failed, Some("Error"))),
        _ => Err(CdEventError::BadField {
            field: "subject.content.outcome",
            expected: "success, failure, cancel or error",
            found: raw.to_string(),
        }),
    }
}

/// An artifact or change event: it belongs to the run of its chain.
fn chain_fact(ctx: &Context, subject: &Value) -> Result<RunFact, CdEventError> {
    let subject_id = required_str(subject, &["id"], "subject.id")?;
    let name = ctx.chain.clone().unwrap_or_else(|| subject_id.to_string());
    let mut fact = base_fact(ctx, RunKind::PipelineRun, ctx.source, &name);
    let content = at(subject, &["content"]).unwrap_or(&Value::Null);
    if ctx.subject_kind == SubjectKind::Artifact {
        let purl = parse_purl(subject_id).map_err(|reason| CdEventError::BadField {
            field: "subject.id",
            expected: "a package URL with a version (pkg:type/name@version)",
            found: format!("{} ({reason})", display_value(&Value::String(subject_id.to_string()))),
        })?;
        add_package(&mut fact.supply_chain, &purl, ctx);
        if ctx.predicate == Predicate::Signed {
            fact.supply_chain.signed = Some("true".to_string());
        }
        if let Some(change) = at(content, &["change"]) {
            let id = required_str(change, &["id"], "subject.content.change.id")?;
            let repository = optional_str(change, &["source"], "subject.content.change.source")?;
            fact.supply_chain.source = Some(source_fact(id, repository.map(str::to_string), ctx));
        }
    } else {
        let repository = match at(content, &["repository"]) {
            Some(repo) => repository_url(repo)?,
            None => None,
        };
        fact.supply_chain.source = Some(source_fact(subject_id, repository, ctx));
    }
    Ok(fact)
}

/// `content.repository {id, source}` as a URL: `source/id`, or `id` alone when it already is a URL.
fn repository_url(repo: &Value) -> Result<Option<String>, CdEventError> {
    let id = required_str(repo, &["id"], "subject.content.repository.id")?;
    let source = optional_str(repo, &["source"], "subject.content.repository.source")?;
    Ok(Some(match source {
        Some(source) if !id.contains("://") => {
            format!("{}/{}", source.trim_end_matches('/'), id.trim_start_matches('/'))
        }
        _ => id.to_string(),
    }))
}

fn source_fact(change_id: &str, repository_url: Option<String>, ctx: &Context) -> SourceFact {
    SourceFact {
        repository: repository_url.as_deref().map(repository_key),
        repository_url,
        commit_sha: Some(change_id.to_string()),
        evidence: vec![ctx.evidence()],
        ..SourceFact::default()
    }
}

/// A CDEvent source or id as a run's namespace or name. Both are free text (`/event/source/123`), while the graph
/// writes a run as `namespace/name`, as Kubernetes names never contain `/`: so `%` and `/` are percent-encoded
/// (`%2Fevent%2Fsource%2F123`), which keeps distinct sources distinct.
pub fn graph_key(raw: &str) -> String {
    raw.replace('%', "%25").replace('/', "%2F")
}

/// The fact every event starts from: identity, provenance annotations and the chain's trigger.
fn base_fact(ctx: &Context, kind: RunKind, namespace: &str, name: &str) -> RunFact {
    let mut annotations = BTreeMap::from([(EVENT_IDS_ANNOTATION.to_string(), ctx.event_key.clone())]);
    if let Some(chain) = &ctx.chain {
        annotations.insert(CHAIN_ID_ANNOTATION.to_string(), chain.clone());
    }
    let trigger = ctx.chain.as_ref().map(|chain| TriggerFact {
        kind: Some(CHAIN_TRIGGER_KIND.to_string()),
        event_listener: Some(CHAIN_EVENT_LISTENER.to_string()),
        trigger: Some(chain.clone()),
        event_id: Some(chain.clone()),
    });
    RunFact {
        schema_version: FACT_SCHEMA_VERSION,
        kind,
        api_version: None,
        uid: None,
        namespace: graph_key(namespace),
        name: graph_key(name),
        name_derived: false,
        resource_version: Some("1".to_string()),
        generation: None,
        creation_timestamp: None,
        observed_from: ObservedFrom::CdEvent,
        pipeline: None,
        task: None,
        pipeline_task: None,
        pipeline_run: None,
        labels: BTreeMap::new(),
        annotations,
        params: Vec::new(),
        results: Vec::new(),
        status: RunStatus::default(),
        children: Vec::new(),
        steps: Vec::new(),
        pipeline_tasks: Vec::new(),
        skipped_tasks: Vec::new(),
        supply_chain: SupplyChain { trigger, ..SupplyChain::default() },
        deleted_at: None,
    }
}

/// An OCI purl with a digest becomes an image, any other purl with a digest an artifact.
fn add_package(supply_chain: &mut SupplyChain, purl: &Purl, ctx: &Context) {
    let Some(digest) = purl_digest(purl) else { return };
    if purl.ty == "oci" {
        supply_chain.images.push(ImageFact {
            digest,
            repository: Some(oci_repository(purl)),
            tag: purl.qualifiers.get("tag").cloned(),
            url: Some(purl.raw.clone()),
            evidence: ctx.evidence(),
        });
    } else {
        let (uri, evidence) = (purl.raw.clone(), ctx.evidence());
        supply_chain.artifacts.push(ArtifactFact { uri, digest, role: ArtifactRole::Output, evidence });
    }
}

/// The version when it is a digest (OCI purls), else the first valid `checksum` qualifier (`alg:hex,alg:hex`).
fn purl_digest(purl: &Purl) -> Option<String> {
    let checksums = purl.qualifiers.get("checksum").into_iter().flat_map(|c| c.split(','));
    std::iter::once(purl.version.as_str()).chain(checksums).find_map(normalize_digest)
}

/// `repository_url` (without scheme or trailing slash), else the purl's name.
fn oci_repository(purl: &Purl) -> String {
    match purl.qualifiers.get("repository_url").map(|u| u.trim()).filter(|u| !u.is_empty()) {
        Some(url) => url.split_once("://").map_or(url, |(_, rest)| rest).trim_end_matches('/').to_string(),
        None => purl.name.clone(),
    }
}

/// The parts of a package URL this mapping reads, percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    /// The purl as written.
    pub raw: String,
    /// Lower-cased, e.g. `oci`, `golang`.
    pub ty: String,
    /// Namespace segments joined with `/`, when present.
    pub namespace: Option<String>,
    pub name: String,
    pub version: String,
    /// Keys lower-cased.
    pub qualifiers: BTreeMap<String, String>,
}

/// Parses `pkg:type/namespace/name@version?qualifiers#subpath` (the purl spec); the version is required here,
/// because it is what identifies the artifact. The error says what is wrong.
pub fn parse_purl(raw: &str) -> Result<Purl, String> {
    let text = raw.trim();
    let rest = match text.split_once(':') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("pkg") => rest.trim_start_matches('/'),
        _ => return Err("does not start with `pkg:`".to_string()),
    };
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (rest, qualifiers) = match rest.split_once('?') {
        Some((before, query)) => (before, qualifiers(query)?),
        None => (rest, BTreeMap::new()),
    };
    let (path, version) = rest.rsplit_once('@').ok_or("has no `@version`")?;
    let version = percent_decode(version)?;
    let (ty, path) = path.split_once('/').ok_or("has no name")?;
    let (namespace, name) = match path.trim_end_matches('/').rsplit_once('/') {
        Some((ns, name)) => (Some(decode_segments(ns)?), name),
        None => (None, path.trim_end_matches('/')),
    };
    if ty.is_empty() || name.is_empty() || version.is_empty() {
        return Err("has an empty type, name or version".to_string());
    }
    let name = percent_decode(name)?;
    Ok(Purl { raw: text.to_string(), ty: ty.to_ascii_lowercase(), namespace, name, version, qualifiers })
}

fn qualifiers(query: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').ok_or_else(|| format!("qualifier `{pair}` has no `=`"))?;
        map.insert(key.to_ascii_lowercase(), percent_decode(value)?);
    }
    Ok(map)
}

fn decode_segments(path: &str) -> Result<String, String> {
    let segments: Result<Vec<_>, _> = path.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect();
    Ok(segments?.join("/"))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(|| format!("`{s}` has a truncated %-escape"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("`{s}` has an invalid %-escape"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{s}` does not decode to UTF-8"))
}

/// A required non-empty string.
fn required_str<'a>(value: &'a Value, path: &[&str], field: &'static str) -> Result<&'a str, CdEventError> {
    optional_str(value, path, field)?.ok_or(CdEventError::MissingField(field))
}

/// An optional string: absent, null or blank is `None`; any other non-string is an error naming the field.
fn optional_str<'a>(value: &'a Value, path: &[&str], field: &'static str) -> Result<Option<&'a str>, CdEventError> {
    match at(value, path) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim()).filter(|s| !s.is_empty())),
        Some(other) => Err(CdEventError::BadField { field, expected: "a string", found: display_value(other) }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn purls_decode_versions_names_and_qualifiers() {
        let p = parse_purl("pkg:oci/myapp@sha256%3Aabc?repository_url=ghcr.io%2Forg%2Fmyapp&Tag=v1#sub/path")
            .expect("valid");
        assert_eq!((p.ty.as_str(), p.name.as_str(), p.version.as_str()), ("oci", "myapp", "sha256:abc"));
        assert_eq!(p.qualifiers["repository_url"], "ghcr.io/org/myapp");
        assert_eq!(p.qualifiers["tag"], "v1");
        assert_eq!(p.namespace, None);
        let p = parse_purl("pkg:golang/mygit.com/myorg/myapp@234fd47e07d1004f0aed9c").expect("valid");
        assert_eq!(p.namespace.as_deref(), Some("mygit.com/myorg"));
        assert_eq!((p.name.as_str(), p.version.as_str()), ("myapp", "234fd47e07d1004f0aed9c"));
        let p = parse_purl("pkg:npm/%40angular/animation@12.3.1").expect("scoped npm");
        assert_eq!((p.namespace.as_deref(), p.name.as_str()), (Some("@angular"), "animation"));
    }

    #[test]
    fn malformed_purls_say_why() {
        assert_eq!(parse_purl("oci/myapp@1").unwrap_err(), "does not start with `pkg:`");
        assert_eq!(parse_purl("pkg:oci/myapp").unwrap_err(), "has no `@version`");
        assert_eq!(parse_purl("pkg:myapp@1").unwrap_err(), "has no name");
        assert!(parse_purl("pkg:oci/myapp@sha256%3").unwrap_err().contains("truncated"));
        assert!(parse_purl("pkg:oci/myapp@1?tag").unwrap_err().contains("no `=`"));
        assert_eq!(parse_purl("pkg:oci/@1").unwrap_err(), "has an empty type, name or version");
    }

    #[test]
    fn types_need_a_known_subject_predicate_and_a_version() {
        assert!(parse_type("dev.cdevents.pipelinerun.started.0.3.0").is_ok());
        assert!(parse_type("dev.cdevents.change.merged.0.1.2").is_ok());
        for ty in [
            "dev.cdevents.taskrun.queued.0.2.0",
            "dev.cdevents.pipelinerun.started",
            "dev.cdevents.pipelinerun.started.0.x.0",
            "dev.cdevents.testcaserun.finished.0.1.0",
            "dev.tekton.event.pipelinerun.started.v1",
        ] {
            assert_eq!(parse_type(ty), Err(CdEventError::UnsupportedType(ty.to_string())));
        }
    }

    #[test]
    fn trigger_links_name_the_chain_when_there_is_no_chain_id() {
        let link =
            |kind: &str, id: &str| json!({"linkType": "RELATION", "linkKind": kind, "target": {"contextId": id}});
        let context = json!({"links": [link("TRIGGER", "b"), link("OTHER", "a"), link("TRIGGER", "c")]});
        assert_eq!(chain_id(&context), Ok(Some("b".to_string())));
        assert_eq!(chain_id(&json!({"chainId": "x", "links": [link("TRIGGER", "b")]})), Ok(Some("x".to_string())));
        assert_eq!(chain_id(&json!({})), Ok(None));
    }

    #[test]
    fn short_types_drop_prefix_and_version() {
        let ctx = json!({"id": "1", "source": "/s", "timestamp": "2023-03-20T14:27:05Z"});
        let ty = "dev.cdevents.pipelinerun.finished.0.2.0";
        let c = Context::read(&ctx, ty, SubjectKind::PipelineRun, Predicate::Finished).expect("context");
        assert_eq!(c.evidence(), "cdevents:pipelinerun.finished");
        assert_eq!(c.event_key, "dev.cdevents.pipelinerun.finished.0.2.0/1");
    }
}
