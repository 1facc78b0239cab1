//! # tekton-generate
//!
//! Generates realistic `tekton.dev/v1` PipelineRuns and TaskRuns as [`serde_json::Value`]s, for benchmarks and
//! load tests. The output follows the shapes of `testdata/seed-conventions/list-v1-idec-builds-scans-rerun.json`
//! (the seed conventions: `REPO_URL`, `REPO_COMMIT`, `COMMIT_*`, `TRIGGER`, `CHAINS-GIT_*`, `IMAGE_URL` +
//! `IMAGE_DIGEST` results; git-clone `commit`/`url`/`committer-date`; `dashboard.tekton.dev/rerunOf`; image-scan
//! runs with `SCAN_OUTPUT`/`CLAIR_SCAN_RESULT`), so the translator extracts commits, images, scans and re-runs.
//!
//! What is generated, for a [`GenerateConfig`]:
//!
//! * `repositories` repositories spread over `namespaces` namespaces, each with its own build pipeline
//!   (`<repo>-image-builds`) of `task_runs_per_build` tasks: `fetch-source`, `lint`, `unit-test`, `build-push`,
//!   `sbom`, `sign-image`, `integration-test`, `deploy-dev`, `notify` (then `check-<n>` for more than nine; fewer
//!   keep the most important ones). They form a DAG ([`BUILD_RUN_AFTER`]): `lint` and `unit-test` fan out from
//!   `fetch-source` and fan in to `build-push`; `sbom`, `sign-image` and `integration-test` fan out from the pushed
//!   image and fan in to `deploy-dev`; `check-<n>` run after `fetch-source`; `notify` is the `finally` task. Every
//!   PipelineRun carries its resolved `status.pipelineSpec` (`tasks` with `runAfter`, result references such as
//!   `$(tasks.build-push.results.IMAGE_DIGEST)` in params, and `finally`), and a task starts a second after the
//!   last task it runs after ends, so parallel branches overlap in time.
//! * Steps carry `terminated.startedAt`/`finishedAt`: one after another within their TaskRun's start and
//!   completion, the first (main) step taking most of the time.
//! * `pipeline_runs` build PipelineRuns (re-runs included), starting at strictly increasing times. Most builds are
//!   of a new commit of their repository, some rebuild the previous one.
//! * About `failure_rate` of the builds fail in `lint`, `unit-test` or `build-push`: the failing TaskRun's last
//!   step exits with code 1, tasks that had not started when it failed are not created (they are listed in
//!   `status.skippedTasks` with Tekton's reason `PipelineRun was stopping`), tasks already running finish, the
//!   `finally` task still runs, the PipelineRun's reason is `Failed` and no image result is written anywhere.
//! * About `rerun_rate` of the failed builds are re-run from the Dashboard: the next build of that repository is
//!   `<failed>-r-<hash>` with the label `dashboard.tekton.dev/rerunOf`, the same commit and params.
//! * Image-scan PipelineRuns (pipeline `image-scan`, two TaskRuns: `verify-signature`, `trivy-scan`) of the images
//!   the builds produced: of every succeeded build when `scan_every_build`, else of a third of them; plus, with
//!   probability `rescan_rate` per build, a re-scan of one of the recent images of a repository, with counts that
//!   drifted since.
//!
//! Everything is derived from `seed`: names, uids and digests are SHA-256 of names, the rest comes from a seeded
//! [`StdRng`]. Objects are produced one build at a time (a PipelineRun, then its TaskRuns, then the scans it
//! caused), so memory stays constant whatever the size.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Name of the image-scan pipeline (one per namespace).
pub const SCAN_PIPELINE: &str = "image-scan";

/// Suffix of build pipeline names: `<repository>-image-builds`.
pub const BUILD_PIPELINE_SUFFIX: &str = "-image-builds";

/// What to generate. See the crate documentation for the shape of the output.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateConfig {
    /// Build PipelineRuns to generate, re-runs included. Image-scan PipelineRuns come on top.
    pub pipeline_runs: usize,
    /// TaskRuns of a succeeded build (a failed build stops at the failing task). The default of 9, with two
    /// TaskRuns per scan run, gives about 1M TaskRuns for 100k builds.
    pub task_runs_per_build: usize,
    pub namespaces: usize,
    /// Repositories (one build pipeline each), assigned to namespaces round-robin.
    pub repositories: usize,
    pub seed: u64,
    /// Scan the image of every succeeded build (else a third of them).
    pub scan_every_build: bool,
    /// Share of builds that fail.
    pub failure_rate: f64,
    /// Share of failed builds that are re-run from the Dashboard.
    pub rerun_rate: f64,
    /// Probability, per build, of an extra scan of an earlier image.
    pub rescan_rate: f64,
    /// Start time of the first build.
    pub start: DateTime<Utc>,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        GenerateConfig {
            pipeline_runs: 1000,
            task_runs_per_build: 9,
            namespaces: 8,
            repositories: 32,
            seed: 42,
            scan_every_build: true,
            failure_rate: 0.10,
            rerun_rate: 0.5,
            rescan_rate: 0.10,
            start: Utc.with_ymd_and_hms(2024, 5, 15, 10, 0, 0).single().unwrap_or_default(),
        }
    }
}

/// Streams the objects of `config`: each build PipelineRun followed by its TaskRuns, then the scan runs it caused.
pub fn generate(config: &GenerateConfig) -> Generator {
    Generator::new(config.clone())
}

/// The streaming generator behind [`generate`].
pub struct Generator {
    config: GenerateConfig,
    rng: StdRng,
    /// The build pipeline's tasks, `finally` last; see [`build_tasks`].
    tasks: Vec<PlannedTask>,
    namespaces: Vec<Namespace>,
    repos: Vec<Repo>,
    clock: DateTime<Utc>,
    builds: usize,
    resource_version: u64,
    queue: VecDeque<Value>,
}

impl Iterator for Generator {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(object) = self.queue.pop_front() {
                return Some(object);
            }
            if self.builds >= self.config.pipeline_runs {
                return None;
            }
            self.next_build();
        }
    }
}

/// A task of the build pipeline: name, step containers (name, image) and typical duration range in seconds.
struct TaskDef {
    name: &'static str,
    steps: &'static [(&'static str, &'static str)],
    seconds: (i64, i64),
}

const FETCH_SOURCE: &str = "fetch-source";
const BUILD_PUSH: &str = "build-push";

/// Build tasks in pipeline order.
const BUILD_TASKS: &[TaskDef] = &[
    TaskDef { name: FETCH_SOURCE, steps: &[("clone", "ghcr.io/tektoncd-catalog/git-init")], seconds: (15, 60) },
    TaskDef { name: "lint", steps: &[("lint", "docker.io/golangci/golangci-lint")], seconds: (30, 150) },
    TaskDef { name: "unit-test", steps: &[("go-test", "docker.io/library/golang")], seconds: (20, 300) },
    TaskDef {
        name: BUILD_PUSH,
        steps: &[("build", "gcr.io/kaniko-project/executor"), ("write-url", "docker.io/library/bash")],
        seconds: (90, 420),
    },
    TaskDef { name: "sbom", steps: &[("syft", "docker.io/anchore/syft")], seconds: (15, 60) },
    TaskDef { name: "sign-image", steps: &[("cosign-sign", "gcr.io/projectsigstore/cosign")], seconds: (5, 25) },
    TaskDef { name: "integration-test", steps: &[("e2e", "docker.io/library/golang")], seconds: (60, 600) },
    TaskDef { name: "deploy-dev", steps: &[("kubectl-apply", "docker.io/bitnami/kubectl")], seconds: (20, 90) },
    TaskDef { name: "notify", steps: &[("send", "docker.io/curlimages/curl")], seconds: (2, 10) },
];

/// `runAfter` of the build tasks, by name. A predecessor the pipeline leaves out (fewer than nine tasks) is
/// replaced by its own predecessors. `check-<n>` tasks run after [`FETCH_SOURCE`]; [`FINALLY_TASK`] is `finally`.
pub const BUILD_RUN_AFTER: &[(&str, &[&str])] = &[
    (FETCH_SOURCE, &[]),
    ("lint", &[FETCH_SOURCE]),
    ("unit-test", &[FETCH_SOURCE]),
    (BUILD_PUSH, &["lint", "unit-test"]),
    ("sbom", &[BUILD_PUSH]),
    ("sign-image", &[BUILD_PUSH]),
    ("integration-test", &[BUILD_PUSH]),
    ("deploy-dev", &["sbom", "sign-image", "integration-test"]),
];

/// The build pipeline's `finally` task: it runs once every other task has ended, after a failure too.
pub const FINALLY_TASK: &str = "notify";

/// Tekton's `skippedTasks` reason for the tasks a failure kept from starting.
const STOPPING_SKIP: &str = "PipelineRun was stopping";

/// Which build tasks survive when a pipeline has fewer than nine: most important first.
const TASK_PRIORITY: &[&str] =
    &[FETCH_SOURCE, BUILD_PUSH, "unit-test", "lint", "sign-image", "sbom", "integration-test", "deploy-dev", "notify"];

/// Extra tasks beyond nine.
const CHECK_TASK: TaskDef =
    TaskDef { name: "check", steps: &[("check", "docker.io/library/alpine")], seconds: (5, 60) };

const VERIFY_TASK: TaskDef = TaskDef {
    name: "verify-signature",
    steps: &[("cosign-verify", "gcr.io/projectsigstore/cosign")],
    seconds: (5, 30),
};
const SCAN_TASK: TaskDef =
    TaskDef { name: "trivy-scan", steps: &[("scan", "docker.io/aquasec/trivy")], seconds: (30, 180) };

const NAMESPACE_WORDS: &[&str] = &[
    "payments",
    "checkout",
    "identity",
    "search",
    "ledger",
    "platform",
    "catalog",
    "mobile",
    "billing",
    "shipping",
    "analytics",
    "support",
];
const COMPONENT_WORDS: &[&str] =
    &["api", "worker", "gateway", "frontend", "scheduler", "exporter", "controller", "indexer", "notifier", "sync"];
/// Authors with their UTC offsets in hours.
const AUTHORS: &[(&str, i32)] = &[
    ("Joost van der Griendt", 2),
    ("Ana Souza", -3),
    ("Wei Zhang", 8),
    ("Priya Natarajan", 5),
    ("Lukas Becker", 1),
    ("Maria Garcia", 2),
    ("Kenji Sato", 9),
    ("Olivia Brown", 0),
    ("Ahmed Hassan", 3),
    ("Emily Chen", -7),
];
const VERBS: &[&str] = &["Fix", "Add", "Refactor", "Bump", "Remove", "Improve", "Document", "Simplify", "Test"];
const OBJECTS: &[&str] = &[
    "retry handling in the client",
    "controller-runtime to v0.19",
    "metrics for queue depth",
    "flaky integration test",
    "unused feature flag",
    "error messages on validation",
    "pagination of list endpoints",
    "base image to distroless",
    "cache invalidation on update",
    "README setup steps",
];

struct Namespace {
    name: String,
    scans: u64,
    salt: u32,
}

#[derive(Clone)]
struct Commit {
    sha: String,
    author: &'static str,
    email: String,
    message: String,
    /// RFC 3339 with the author's offset.
    timestamp: String,
    tag: String,
}

struct PendingRerun {
    original: String,
    commit: Commit,
}

/// An image a build pushed, with the vulnerability counts its scans start from.
#[derive(Clone)]
struct BuiltImage {
    repository: String,
    digest: String,
    counts: [i64; 5],
}

struct Repo {
    namespace: usize,
    pipeline: String,
    url: String,
    image: String,
    salt: u32,
    builds: u64,
    commits: u64,
    commit: Option<Commit>,
    pending_rerun: Option<PendingRerun>,
    recent_images: VecDeque<BuiltImage>,
}

/// How a build is started.
enum BuildStart {
    Trigger(Commit),
    Rerun(PendingRerun),
}

/// A task of the build pipeline: its pipeline task name, definition, the indices of the (earlier) tasks it runs
/// after, and whether it is a `finally` task.
#[derive(Clone)]
struct PlannedTask {
    name: String,
    def: &'static TaskDef,
    run_after: Vec<usize>,
    finally: bool,
}

/// The timing and outcome of one TaskRun.
struct TaskTiming {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    failed: bool,
}

impl Generator {
    pub fn new(config: GenerateConfig) -> Self {
        let seed = config.seed;
        let namespaces: Vec<Namespace> = (0..config.namespaces.max(1))
            .map(|i| {
                let name = numbered(NAMESPACE_WORDS, i);
                Namespace { salt: salt(seed, &name), name, scans: 0 }
            })
            .collect();
        let repos = (0..config.repositories.max(1))
            .map(|i| {
                let namespace = i % namespaces.len();
                let ns = &namespaces[namespace].name;
                let name = format!("{ns}-{}", numbered(COMPONENT_WORDS, i / namespaces.len()));
                let pipeline = format!("{name}{BUILD_PIPELINE_SUFFIX}");
                Repo {
                    namespace,
                    url: format!("https://github.com/acme-{ns}/{name}.git"),
                    image: format!("ghcr.io/acme-{ns}/{name}"),
                    salt: salt(seed, &pipeline),
                    pipeline,
                    builds: 0,
                    commits: 0,
                    commit: None,
                    pending_rerun: None,
                    recent_images: VecDeque::new(),
                }
            })
            .collect();
        Generator {
            tasks: build_tasks(config.task_runs_per_build),
            rng: StdRng::seed_from_u64(seed),
            clock: config.start,
            namespaces,
            repos,
            builds: 0,
            resource_version: 100_000,
            queue: VecDeque::new(),
            config,
        }
    }

    fn next_build(&mut self) {
        if self.builds > 0 {
            self.clock += Duration::seconds(self.rng.random_range(15..=240));
        }
        self.builds += 1;
        let r = self.rng.random_range(0..self.repos.len());
        let start = match self.repos[r].pending_rerun.take() {
            Some(rerun) => BuildStart::Rerun(rerun),
            None => {
                let new_commit = self.repos[r].commit.is_none() || self.rng.random_bool(0.8);
                if new_commit {
                    let commit = self.new_commit(r);
                    self.repos[r].commit = Some(commit);
                }
                BuildStart::Trigger(self.repos[r].commit.clone().unwrap_or_else(|| self.new_commit(r)))
            }
        };
        if let Some((image, completed)) = self.build_run(r, start) {
            let scan = self.config.scan_every_build || self.rng.random_range(0..3) == 0;
            if scan {
                let at = completed + Duration::seconds(self.rng.random_range(30..=600));
                self.scan_run(r, &image, at, false);
            }
            let recent = &mut self.repos[r].recent_images;
            recent.push_back(image);
            if recent.len() > 4 {
                recent.pop_front();
            }
        }
        if self.config.rescan_rate > 0.0 && self.rng.random_bool(self.config.rescan_rate.min(1.0)) {
            let r = self.rng.random_range(0..self.repos.len());
            let recent = &self.repos[r].recent_images;
            if !recent.is_empty() {
                let image = recent[self.rng.random_range(0..recent.len())].clone();
                let at = self.clock + Duration::seconds(self.rng.random_range(5..=60));
                self.scan_run(r, &image, at, true);
            }
        }
    }

    fn new_commit(&mut self, r: usize) -> Commit {
        let repo = &mut self.repos[r];
        let index = repo.commits;
        repo.commits += 1;
        let sha = hash_hex(self.config.seed, &format!("commit/{}/{index}", repo.url))[..40].to_string();
        let (author, offset_hours) = AUTHORS[self.rng.random_range(0..AUTHORS.len())];
        let email = format!("{}@example.com", author.split(' ').next().unwrap_or(author).to_ascii_lowercase());
        let message = format!(
            "{} {}",
            VERBS[self.rng.random_range(0..VERBS.len())],
            OBJECTS[self.rng.random_range(0..OBJECTS.len())]
        );
        let committed = self.clock - Duration::seconds(self.rng.random_range(60..=3600));
        let offset = FixedOffset::east_opt(offset_hours * 3600).expect("author offsets are within a day");
        let timestamp = committed.with_timezone(&offset).to_rfc3339_opts(SecondsFormat::Secs, false);
        Commit { sha, author, email, message, timestamp, tag: format!("1.{}.{}", index / 25, index % 25) }
    }

    fn next_resource_version(&mut self) -> String {
        self.resource_version += self.rng.random_range(1..=40);
        self.resource_version.to_string()
    }

    fn uid(&self, kind: &str, namespace: &str, name: &str) -> String {
        uuid_like(&hash_hex(self.config.seed, &format!("uid/{kind}/{namespace}/{name}")))
    }
}

impl Generator {
    /// Emits one build PipelineRun and its TaskRuns; returns the image it pushed and its completion time.
    fn build_run(&mut self, r: usize, start: BuildStart) -> Option<(BuiltImage, DateTime<Utc>)> {
        let seed = self.config.seed;
        let (commit, rerun_of) = match start {
            BuildStart::Trigger(commit) => (commit, None),
            BuildStart::Rerun(pending) => (pending.commit, Some(pending.original)),
        };
        let repo = &mut self.repos[r];
        let ns = self.namespaces[repo.namespace].name.clone();
        let name = match &rerun_of {
            Some(original) => format!("{original}-r-{}", &hash_hex(seed, &format!("rerun/{ns}/{original}"))[..5]),
            None => format!("{}-run-{}", repo.pipeline, run_suffix(repo.builds, repo.salt)),
        };
        if rerun_of.is_none() {
            repo.builds += 1;
        }
        let (pipeline, url, image_repo) = (repo.pipeline.clone(), repo.url.clone(), repo.image.clone());
        let uid = self.uid("PipelineRun", &ns, &name);
        let start_time = self.clock;

        let failed = self.rng.random_bool(self.config.failure_rate.clamp(0.0, 1.0));
        let failing = if failed { self.failing_task() } else { None };
        let (timings, skipped) = self.schedule(start_time, failing);
        let completion = timings.iter().map(|(_, t)| t.end).max().unwrap_or(start_time + Duration::seconds(5));
        let image_url = format!("{image_repo}:{}", commit.tag);
        let digest =
            (!failed).then(|| format!("sha256:{}", hash_hex(seed, &format!("image/{image_repo}/{ns}/{name}"))));
        let pinned = digest.as_ref().map_or_else(|| image_url.clone(), |d| format!("{image_repo}@{d}"));

        let mut labels = json!({
            "app.kubernetes.io/managed-by": "tekton-pipelines",
            "tekton.dev/pipeline": pipeline,
        });
        match &rerun_of {
            Some(original) => labels["dashboard.tekton.dev/rerunOf"] = json!(original),
            None => {
                labels["triggers.tekton.dev/eventlistener"] = json!(pipeline);
                labels["triggers.tekton.dev/trigger"] = json!("github-listener");
                labels["triggers.tekton.dev/triggers-eventid"] =
                    json!(uuid_like(&hash_hex(seed, &format!("event/{ns}/{name}"))));
            }
        }
        let annotations = if failed { json!({}) } else { json!({"chains.tekton.dev/signed": "true"}) };
        let mut results = vec![
            nv("REPO_URL", &url),
            nv("REPO_COMMIT", &commit.sha),
            nv("REPO_COMMIT_TIMESTAMP", &commit.timestamp),
            nv("COMMIT_AUTHOR", commit.author),
            nv("COMMIT_AUTHOR_EMAIL", &commit.email),
            nv("COMMIT_MESSAGE", &commit.message),
            nv("COMMIT_TIMESTAMP", &commit.timestamp),
            nv("TRIGGER", if rerun_of.is_some() { "manual" } else { "git" }),
            nv("CHAINS-GIT_URL", &url),
            nv("CHAINS-GIT_COMMIT", &commit.sha),
        ];
        if let Some(digest) = &digest {
            results.push(nv("IMAGE_URL", &image_url));
            results.push(nv("IMAGE_DIGEST", digest));
        }
        let task_count = self.tasks.len();
        let completed = timings.len();
        let pipeline_spec = self.build_pipeline_spec(&url, &commit.sha, &image_url, &image_repo, &ns);
        let (status, reason, message) = if failed {
            let message =
                format!("Tasks Completed: {completed} (Failed: 1, Cancelled 0), Skipped: {}", task_count - completed);
            ("False", "Failed", message)
        } else {
            ("True", "Succeeded", format!("Tasks Completed: {task_count} (Failed: 0, Cancelled 0), Skipped: 0"))
        };
        let children: Vec<Value> = timings.iter().map(|(i, _)| child_reference(&name, &self.tasks[*i].name)).collect();
        let mut pipeline_run = json!({
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": uid,
                "resourceVersion": self.next_resource_version(),
                "generation": 1,
                "creationTimestamp": ts(start_time),
                "labels": labels,
                "annotations": annotations,
            },
            "spec": {
                "pipelineRef": {"name": pipeline},
                "params": [
                    nv("repo-url", &url),
                    nv("revision", &commit.sha),
                    nv("image", &image_repo),
                    nv("tags", &format!("{},latest", commit.tag)),
                ],
                "taskRunTemplate": {"serviceAccountName": "pipeline"},
                "timeouts": {"pipeline": "1h0m0s"},
            },
            "status": {
                "startTime": ts(start_time),
                "completionTime": ts(completion),
                "conditions": [condition(status, reason, &message, completion)],
                "results": results,
                "childReferences": children,
                "pipelineSpec": pipeline_spec,
            },
        });
        if !skipped.is_empty() {
            pipeline_run["status"]["skippedTasks"] = skipped
                .iter()
                .map(|&i| json!({"name": self.tasks[i].name, "reason": STOPPING_SKIP}))
                .collect::<Vec<_>>()
                .into();
        }
        self.queue.push_back(pipeline_run);

        let parent = Parent { namespace: &ns, name: &name, uid: &uid, pipeline: &pipeline };
        for (i, timing) in &timings {
            let PlannedTask { name: task, def, .. } = self.tasks[*i].clone();
            let ok = !timing.failed;
            let (params, results) = match def.name {
                FETCH_SOURCE => (
                    vec![nv("url", &url), nv("revision", &commit.sha)],
                    vec![
                        typed_nv("commit", &commit.sha),
                        typed_nv("url", &url),
                        typed_nv("committer-date", &commit.timestamp),
                    ],
                ),
                BUILD_PUSH => {
                    let results = match (&digest, ok) {
                        (Some(d), true) => vec![typed_nv("IMAGE_URL", &image_url), typed_nv("IMAGE_DIGEST", d)],
                        _ => vec![],
                    };
                    (vec![nv("IMAGE", &image_url)], results)
                }
                "unit-test" | "integration-test" => {
                    let results =
                        if ok { vec![typed_nv("TEST_OUTPUT", &self.test_output(timing.end))] } else { vec![] };
                    (vec![], results)
                }
                "sbom" | "sign-image" => (vec![nv("IMAGE", &pinned)], vec![]),
                "deploy-dev" => (vec![nv("environment", "dev"), nv("image", &pinned)], vec![]),
                "notify" => (vec![nv("channel", &format!("#{ns}-builds"))], vec![]),
                _ => (vec![], vec![]),
            };
            let object = self.task_run(&parent, &task, def, timing, params, results);
            self.queue.push_back(object);
        }

        if failed {
            if self.config.rerun_rate > 0.0 && self.rng.random_bool(self.config.rerun_rate.min(1.0)) {
                self.repos[r].pending_rerun = Some(PendingRerun { original: name, commit });
            }
            return None;
        }
        let mut counts = [0; 5];
        for (count, max) in counts.iter_mut().zip([3, 10, 30, 60, 4]) {
            *count = self.rng.random_range(0..=max);
        }
        Some((BuiltImage { repository: image_repo, digest: digest?, counts }, completion))
    }

    /// The index of the task a failing build fails in: `lint`, `unit-test` or `build-push` (never after the
    /// image is pushed, so a failed build has no image).
    fn failing_task(&mut self) -> Option<usize> {
        let push = self.tasks.iter().position(|t| t.def.name == BUILD_PUSH).unwrap_or(self.tasks.len());
        let regular: Vec<usize> = (0..self.tasks.len()).filter(|&i| !self.tasks[i].finally).collect();
        let mut candidates: Vec<usize> =
            regular.iter().copied().filter(|&i| i <= push && self.tasks[i].def.name != FETCH_SOURCE).collect();
        if candidates.is_empty() {
            candidates = regular;
        }
        (!candidates.is_empty()).then(|| candidates[self.rng.random_range(0..candidates.len())])
    }

    /// When each task of a build runs, in order of start: a task starts a second after the last task it runs after
    /// ends. A failure stops the run: tasks that had not started when the failing task ended are skipped (the
    /// second list), running ones finish. `finally` tasks start a second after every task that ran has ended.
    fn schedule(
        &mut self,
        start_time: DateTime<Utc>,
        failing: Option<usize>,
    ) -> (Vec<(usize, TaskTiming)>, Vec<usize>) {
        let mut durations = Vec::with_capacity(self.tasks.len());
        for i in 0..self.tasks.len() {
            let (low, high) = self.tasks[i].def.seconds;
            durations.push(Duration::seconds(self.rng.random_range(low..=high)));
        }
        // Tasks only run after earlier ones, so one pass in order schedules every task.
        let mut planned: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(self.tasks.len());
        for (task, duration) in self.tasks.iter().zip(&durations) {
            let start = task
                .run_after
                .iter()
                .map(|&before| planned[before].1 + Duration::seconds(1))
                .max()
                .unwrap_or(start_time);
            planned.push((start, start + *duration));
        }
        let stop = failing.map(|f| planned[f].1);
        let (mut ran, mut skipped) = (Vec::new(), Vec::new());
        // A task after a skipped one starts later than it would have, so it is skipped too.
        for (i, _) in self.tasks.iter().enumerate().filter(|(_, t)| !t.finally) {
            let (start, end) = planned[i];
            if stop.is_none_or(|stop| start <= stop) {
                ran.push((i, TaskTiming { start, end, failed: failing == Some(i) }));
            } else {
                skipped.push(i);
            }
        }
        let finally_start = ran.iter().map(|(_, t)| t.end + Duration::seconds(1)).max().unwrap_or(start_time);
        for (i, _) in self.tasks.iter().enumerate().filter(|(_, t)| t.finally) {
            ran.push((i, TaskTiming { start: finally_start, end: finally_start + durations[i], failed: false }));
        }
        ran.sort_by_key(|(i, t)| (t.start, *i));
        (ran, skipped)
    }

    /// The build pipeline as the controller resolves it into `status.pipelineSpec`: params substituted, result
    /// references (`$(tasks.build-push.results.IMAGE_DIGEST)`) left for each TaskRun.
    fn build_pipeline_spec(&self, url: &str, revision: &str, image_url: &str, image_repo: &str, ns: &str) -> Value {
        let pinned = format!("{image_repo}@$(tasks.{BUILD_PUSH}.results.IMAGE_DIGEST)");
        let channel = format!("#{ns}-builds");
        let spec = |task: &PlannedTask| {
            let params = match task.def.name {
                FETCH_SOURCE => vec![nv("url", url), nv("revision", revision)],
                BUILD_PUSH => vec![nv("IMAGE", image_url)],
                "sbom" | "sign-image" => vec![nv("IMAGE", &pinned)],
                "deploy-dev" => vec![nv("environment", "dev"), nv("image", &pinned)],
                "notify" => vec![nv("channel", &channel)],
                _ => vec![],
            };
            let mut value = json!({"name": task.name, "taskRef": {"kind": "Task", "name": task.def.name}});
            if !task.run_after.is_empty() {
                let run_after: Vec<&str> = task.run_after.iter().map(|&i| self.tasks[i].name.as_str()).collect();
                value["runAfter"] = json!(run_after);
            }
            if !params.is_empty() {
                value["params"] = json!(params);
            }
            value
        };
        let tasks: Vec<Value> = self.tasks.iter().filter(|t| !t.finally).map(spec).collect();
        let finally: Vec<Value> = self.tasks.iter().filter(|t| t.finally).map(spec).collect();
        let params = ["repo-url", "revision", "image", "tags"].map(|name| json!({"name": name, "type": "string"}));
        let mut pipeline_spec = json!({"params": params, "tasks": tasks});
        if !finally.is_empty() {
            pipeline_spec["finally"] = json!(finally);
        }
        pipeline_spec
    }

    fn test_output(&mut self, at: DateTime<Utc>) -> String {
        let successes = self.rng.random_range(20..=400);
        let warnings = self.rng.random_range(0..=5);
        format!(
            "{{\"result\": \"SUCCESS\", \"timestamp\": \"{}\", \"successes\": {successes}, \"failures\": 0, \"warnings\": {warnings}}}",
            ts(at)
        )
    }

    /// Emits an image-scan PipelineRun (`verify-signature`, then `trivy-scan`) of `image`, starting at `at`.
    fn scan_run(&mut self, r: usize, image: &BuiltImage, at: DateTime<Utc>, rescan: bool) {
        let seed = self.config.seed;
        let namespace = &mut self.namespaces[self.repos[r].namespace];
        let name = format!("{SCAN_PIPELINE}-run-{}", run_suffix(namespace.scans, namespace.salt));
        namespace.scans += 1;
        let ns = namespace.name.clone();
        let uid = self.uid("PipelineRun", &ns, &name);
        let mut counts = image.counts;
        if rescan {
            for (count, drift) in counts.iter_mut().zip([1, 2, 4, 6, 1]) {
                *count += self.rng.random_range(0..=drift);
            }
        }
        let unpatched: Vec<i64> = counts.iter().map(|&c| self.rng.random_range(0..=c / 3)).collect();
        let [critical, high, medium, low, unknown] = counts;
        let vulnerabilities = format!(
            "{{\"critical\": {critical}, \"high\": {high}, \"medium\": {medium}, \"low\": {low}, \"unknown\": {unknown}}}"
        );
        let scan_output = format!("{{\"vulnerabilities\": {vulnerabilities}}}");
        let clair = format!(
            "{{\"vulnerabilities\": {vulnerabilities}, \"unpatched_vulnerabilities\": {{\"critical\": {}, \"high\": {}, \"medium\": {}, \"low\": {}, \"unknown\": {}}}}}",
            unpatched[0], unpatched[1], unpatched[2], unpatched[3], unpatched[4]
        );
        let pinned = format!("{}@{}", image.repository, image.digest);

        let verify_end = at + Duration::seconds(self.rng.random_range(VERIFY_TASK.seconds.0..=VERIFY_TASK.seconds.1));
        let scan_start = verify_end + Duration::seconds(1);
        let scan_end = scan_start + Duration::seconds(self.rng.random_range(SCAN_TASK.seconds.0..=SCAN_TASK.seconds.1));
        let tasks = [(&VERIFY_TASK, at, verify_end), (&SCAN_TASK, scan_start, scan_end)];
        let children: Vec<Value> = tasks.iter().map(|(def, _, _)| child_reference(&name, def.name)).collect();
        let pipeline_run = json!({
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": uid,
                "resourceVersion": self.next_resource_version(),
                "generation": 1,
                "creationTimestamp": ts(at),
                "labels": {
                    "app.kubernetes.io/managed-by": "tekton-pipelines",
                    "tekton.dev/pipeline": SCAN_PIPELINE,
                    "triggers.tekton.dev/eventlistener": "harbor-push",
                    "triggers.tekton.dev/trigger": if rescan { "nightly-rescan" } else { "harbor-image-push" },
                    "triggers.tekton.dev/triggers-eventid": uuid_like(&hash_hex(seed, &format!("event/{ns}/{name}"))),
                },
                "annotations": {"chains.tekton.dev/signed": "true"},
            },
            "spec": {
                "pipelineRef": {"name": SCAN_PIPELINE},
                "params": [nv("image", &pinned)],
                "taskRunTemplate": {"serviceAccountName": "pipeline"},
                "timeouts": {"pipeline": "1h0m0s"},
            },
            "status": {
                "startTime": ts(at),
                "completionTime": ts(scan_end),
                "conditions": [condition(
                    "True",
                    "Succeeded",
                    "Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 0",
                    scan_end,
                )],
                "results": [
                    nv("SCAN_OUTPUT", &scan_output),
                    nv("IMAGE_URL", &image.repository),
                    nv("IMAGE_DIGEST", &image.digest),
                ],
                "childReferences": children,
                "pipelineSpec": {
                    "params": [{"name": "image", "type": "string"}],
                    "tasks": [
                        {
                            "name": VERIFY_TASK.name,
                            "taskRef": {"kind": "Task", "name": VERIFY_TASK.name},
                            "params": [nv("IMAGE", &pinned)],
                        },
                        {
                            "name": SCAN_TASK.name,
                            "taskRef": {"kind": "Task", "name": SCAN_TASK.name},
                            "runAfter": [VERIFY_TASK.name],
                            "params": [nv("IMAGE", &pinned)],
                        },
                    ],
                },
            },
        });
        self.queue.push_back(pipeline_run);
        let parent = Parent { namespace: &ns, name: &name, uid: &uid, pipeline: SCAN_PIPELINE };
        for (def, start, end) in tasks {
            let timing = TaskTiming { start, end, failed: false };
            let results = if def.name == SCAN_TASK.name {
                vec![typed_nv("CLAIR_SCAN_RESULT", &clair), typed_nv("SCAN_OUTPUT", &scan_output)]
            } else {
                vec![]
            };
            let object = self.task_run(&parent, def.name, def, &timing, vec![nv("IMAGE", &pinned)], results);
            self.queue.push_back(object);
        }
    }

    /// A TaskRun of `parent` executing pipeline task `task`.
    fn task_run(
        &mut self,
        parent: &Parent<'_>,
        task: &str,
        def: &TaskDef,
        timing: &TaskTiming,
        params: Vec<Value>,
        results: Vec<Value>,
    ) -> Value {
        let name = format!("{}-{task}", parent.name);
        // Tool images move to a new digest every 5000 builds.
        let epoch = self.builds / 5000;
        let last = def.steps.len().saturating_sub(1);
        let step_times = step_times(timing, def.steps.len());
        let steps: Vec<Value> = def
            .steps
            .iter()
            .zip(step_times)
            .enumerate()
            .map(|(i, ((step, image), (started, finished)))| {
                let digest = hash_hex(self.config.seed, &format!("tool/{image}/{epoch}"));
                let (exit_code, reason) = if timing.failed && i == last { (1, "Error") } else { (0, "Completed") };
                json!({
                    "name": step,
                    "container": format!("step-{step}"),
                    "imageID": format!("{image}@sha256:{digest}"),
                    "terminated": {
                        "exitCode": exit_code,
                        "reason": reason,
                        "startedAt": ts(started),
                        "finishedAt": ts(finished),
                    },
                })
            })
            .collect();
        let condition = if timing.failed {
            let step = def.steps.last().map_or("step", |(s, _)| s);
            let message = format!("\"step-{step}\" exited with code 1");
            condition("False", "Failed", &message, timing.end)
        } else {
            condition("True", "Succeeded", "All Steps have completed executing", timing.end)
        };
        json!({
            "apiVersion": "tekton.dev/v1",
            "kind": "TaskRun",
            "metadata": {
                "name": name,
                "namespace": parent.namespace,
                "uid": self.uid("TaskRun", parent.namespace, &name),
                "resourceVersion": self.next_resource_version(),
                "creationTimestamp": ts(timing.start),
                "labels": {
                    "app.kubernetes.io/managed-by": "tekton-pipelines",
                    "tekton.dev/pipeline": parent.pipeline,
                    "tekton.dev/pipelineRun": parent.name,
                    "tekton.dev/pipelineTask": task,
                    "tekton.dev/memberOf": if def.name == FINALLY_TASK { "finally" } else { "tasks" },
                    "tekton.dev/task": def.name,
                },
                "ownerReferences": [{
                    "apiVersion": "tekton.dev/v1",
                    "kind": "PipelineRun",
                    "name": parent.name,
                    "uid": parent.uid,
                    "controller": true,
                    "blockOwnerDeletion": true,
                }],
            },
            "spec": {
                "params": params,
                "taskRef": {"kind": "Task", "name": def.name},
                "serviceAccountName": "pipeline",
                "timeout": "1h0m0s",
            },
            "status": {
                "podName": format!("{name}-pod"),
                "startTime": ts(timing.start),
                "completionTime": ts(timing.end),
                "conditions": [condition],
                "results": results,
                "steps": steps,
            },
        })
    }
}

/// The owning PipelineRun of TaskRuns being generated.
struct Parent<'a> {
    namespace: &'a str,
    name: &'a str,
    uid: &'a str,
    pipeline: &'a str,
}

/// The build pipeline's tasks for `count` TaskRuns: the kept [`BUILD_TASKS`] in pipeline order, then the
/// `check-<n>` tasks, then the `finally` task. Every task runs after earlier ones only.
fn build_tasks(count: usize) -> Vec<PlannedTask> {
    let keep: Vec<&str> = TASK_PRIORITY.iter().take(count).copied().collect();
    let kept: Vec<&'static TaskDef> = BUILD_TASKS.iter().filter(|d| keep.contains(&d.name)).collect();
    let mut tasks: Vec<PlannedTask> = Vec::with_capacity(count);
    for &def in kept.iter().filter(|d| d.name != FINALLY_TASK) {
        let run_after = run_after_indices(def.name, &tasks);
        tasks.push(PlannedTask { name: def.name.to_string(), def, run_after, finally: false });
    }
    let after_fetch: Vec<usize> = tasks.iter().position(|t| t.name == FETCH_SOURCE).into_iter().collect();
    for i in 1..=count.saturating_sub(BUILD_TASKS.len()) {
        let name = format!("check-{i}");
        tasks.push(PlannedTask { name, def: &CHECK_TASK, run_after: after_fetch.clone(), finally: false });
    }
    for &def in kept.iter().filter(|d| d.name == FINALLY_TASK) {
        tasks.push(PlannedTask { name: def.name.to_string(), def, run_after: Vec::new(), finally: true });
    }
    tasks
}

/// Indices in `planned` of the tasks `name` runs after ([`BUILD_RUN_AFTER`]); a predecessor that is not planned
/// stands for its own predecessors. Edges implied by others are left out (`build-push` of a pipeline without
/// `lint` runs after `unit-test`, not also after `fetch-source`).
fn run_after_indices(name: &str, planned: &[PlannedTask]) -> Vec<usize> {
    let declared = BUILD_RUN_AFTER.iter().find(|(task, _)| *task == name).map_or(&[][..], |(_, before)| before);
    let mut indices = Vec::new();
    for before in declared {
        let found = match planned.iter().position(|t| t.name == *before) {
            Some(i) => vec![i],
            None => run_after_indices(before, planned),
        };
        for i in found {
            if !indices.contains(&i) {
                indices.push(i);
            }
        }
    }
    let implied: Vec<usize> =
        indices.iter().copied().filter(|&i| indices.iter().any(|&j| j != i && runs_after(planned, j, i))).collect();
    indices.retain(|i| !implied.contains(i));
    indices
}

/// Whether planned task `later` runs after `earlier`, directly or through other tasks.
fn runs_after(planned: &[PlannedTask], later: usize, earlier: usize) -> bool {
    planned[later].run_after.iter().any(|&before| before == earlier || runs_after(planned, before, earlier))
}

/// `(startedAt, finishedAt)` of `count` steps run one after another within `timing`: the first step weighs
/// eight times each later one, the last one finishes with the TaskRun.
fn step_times(timing: &TaskTiming, count: usize) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let total = (timing.end - timing.start).num_seconds().max(0);
    let weight_sum = 8 + count.saturating_sub(1) as i64;
    let at = |weight: i64| timing.start + Duration::seconds(total * weight / weight_sum);
    (0..count as i64)
        .map(|i| {
            let before = if i == 0 { 0 } else { 8 + (i - 1) };
            let through = 8 + i;
            (at(before), if i + 1 == count as i64 { timing.end } else { at(through) })
        })
        .collect()
}

fn condition(status: &str, reason: &str, message: &str, at: DateTime<Utc>) -> Value {
    json!({
        "type": "Succeeded",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": ts(at),
    })
}

/// A param or PipelineRun result.
fn nv(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

/// A TaskRun result (TaskRun results carry their type).
fn typed_nv(name: &str, value: &str) -> Value {
    json!({"name": name, "type": "string", "value": value})
}

/// Kubernetes time: RFC 3339, seconds, `Z`.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Hex SHA-256 of `seed/what`.
fn hash_hex(seed: u64, what: &str) -> String {
    hex::encode(Sha256::digest(format!("{seed}/{what}").as_bytes()))
}

/// A UUID-shaped string from 32 hex digits.
fn uuid_like(hex: &str) -> String {
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

fn salt(seed: u64, what: &str) -> u32 {
    let digest = Sha256::digest(format!("{seed}/salt/{what}").as_bytes());
    u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// `words[i]`, numbered once the words run out (`payments`, …, `payments-2`).
fn numbered(words: &[&str], i: usize) -> String {
    match i / words.len() {
        0 => words[i].to_string(),
        round => format!("{}-{}", words[i % words.len()], round + 1),
    }
}

/// A random-looking, unique-per-salt run name suffix like Kubernetes' `generateName` (`fb422`): a bijection of the
/// low 20 bits of `seq`, then the higher bits (if any) in hex.
fn run_suffix(seq: u64, salt: u32) -> String {
    const MASK: u64 = 0xF_FFFF;
    let mut x = (seq ^ u64::from(salt)) & MASK;
    x ^= x >> 10;
    x = x.wrapping_mul(0x9_E3B5) & MASK;
    x ^= x >> 7;
    x = x.wrapping_mul(0x5_8F6B) & MASK;
    x ^= x >> 11;
    match seq >> 20 {
        0 => format!("{x:05x}"),
        high => format!("{x:05x}{high:x}"),
    }
}

/// A PipelineRun's `status.childReferences` entry for the TaskRun of one pipeline task (named `<run>-<task>`).
fn child_reference(run_name: &str, pipeline_task: &str) -> Value {
    json!({
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "name": format!("{run_name}-{pipeline_task}"),
        "pipelineTaskName": pipeline_task,
    })
}
