//! Bundled sample data for `graph-service demo`: the seed-conventions scenario (four builds of one repository, a
//! failed build re-run from the Dashboard, each image scanned) plus real Tekton objects from Chains, Lighthouse,
//! the Dashboard and a Konflux build (a 14-task DAG with `finally` and skipped tasks, and seven of its TaskRuns).

use tekton_graph_schema::RunFact;

/// (file name, contents) of every bundled sample.
pub const SAMPLES: &[(&str, &str)] = &[
    (
        "list-v1-idec-builds-scans-rerun.json",
        include_str!("../../testdata/seed-conventions/list-v1-idec-builds-scans-rerun.json"),
    ),
    (
        "pipelinerun-v1-chains-build-push-git-image-results-taskruns.json",
        include_str!("../../testdata/tekton/pipelinerun-v1-chains-build-push-git-image-results-taskruns.json"),
    ),
    (
        "pipelinerun-v1-lighthouse-succeeded-multiple-tasks.yaml",
        include_str!("../../testdata/tekton/pipelinerun-v1-lighthouse-succeeded-multiple-tasks.yaml"),
    ),
    (
        "taskrun-v1-lighthouse-succeeded-steps.yaml",
        include_str!("../../testdata/tekton/taskrun-v1-lighthouse-succeeded-steps.yaml"),
    ),
    (
        "pipelinerun-v1beta1-pipeline-service-exporter-build-finally-skipped-childrefs.yaml",
        include_str!(
            "../../testdata/tekton/pipelinerun-v1beta1-pipeline-service-exporter-build-finally-skipped-childrefs.yaml"
        ),
    ),
    (
        "taskrun-v1beta1-pipeline-service-exporter-clone-repository-commit-url.yaml",
        include_str!(
            "../../testdata/tekton/taskrun-v1beta1-pipeline-service-exporter-clone-repository-commit-url.yaml"
        ),
    ),
    (
        "taskrun-v1beta1-pipeline-service-exporter-build-container-image-digest-steps.yaml",
        include_str!(
            "../../testdata/tekton/taskrun-v1beta1-pipeline-service-exporter-build-container-image-digest-steps.yaml"
        ),
    ),
    (
        "taskrun-v1beta1-pipeline-service-exporter-clair-scan-vulnerability-counts.yaml",
        include_str!(
            "../../testdata/tekton/taskrun-v1beta1-pipeline-service-exporter-clair-scan-vulnerability-counts.yaml"
        ),
    ),
    (
        "taskrun-v1beta1-pipeline-service-exporter-show-summary-finally.yaml",
        include_str!("../../testdata/tekton/taskrun-v1beta1-pipeline-service-exporter-show-summary-finally.yaml"),
    ),
    (
        "taskrun-v1beta1-pipeline-service-exporter-init-build-result.yaml",
        include_str!("../../testdata/tekton/taskrun-v1beta1-pipeline-service-exporter-init-build-result.yaml"),
    ),
    (
        "taskrun-v1beta1-pipeline-service-exporter-inspect-image-base-image.yaml",
        include_str!("../../testdata/tekton/taskrun-v1beta1-pipeline-service-exporter-inspect-image-base-image.yaml"),
    ),
    (
        "taskrun-v1beta1-pipeline-service-exporter-clamav-scan-sidecar.yaml",
        include_str!("../../testdata/tekton/taskrun-v1beta1-pipeline-service-exporter-clamav-scan-sidecar.yaml"),
    ),
    (
        "taskrun-list-v1beta1-dashboard-kaniko-build-failed.json",
        include_str!("../../testdata/tekton/taskrun-list-v1beta1-dashboard-kaniko-build-failed.json"),
    ),
];

/// Translates every bundled sample into facts.
pub fn sample_facts() -> Result<Vec<RunFact>, String> {
    let mut facts = Vec::new();
    for (name, text) in SAMPLES {
        for (index, doc) in tekton_translate::parse_documents(text).into_iter().enumerate() {
            let doc = doc.map_err(|e| format!("{name}: {e}"))?;
            let translated =
                tekton_translate::translate_value(&doc).map_err(|e| format!("{name}: document {}: {e}", index + 1))?;
            facts.extend(translated);
        }
    }
    Ok(facts)
}

/// Example queries printed by the demo (and tested against the sample data).
pub const EXAMPLE_IMAGE_QUERY: &str = r#"{ image(digest: "sha256:b29e0ef986b98535b9cbad3ef3399b2f5dbcfca775f304586e3d5c53f0e6e0e9") { repository tags builtBy { name status } taskRun { name } commit { sha author message repository { url } } scans { vulnerabilities { critical high medium low } } } }"#;
pub const EXAMPLE_DIFF_QUERY: &str = r#"{ diff(namespace: "idec", name: "idec-image-builds-run-5ca46-r-9f9f7") { base { name status } head { name status } commitChanged statusChanged durationDeltaSeconds params { key before after } tasks { pipelineTask change statusBefore statusAfter } images { added removed } scans { delta { critical high } } } }"#;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::build_schema;
    use crate::model::ProjectionConfig;
    use crate::store::GraphStore;
    use crate::store::embedded::EmbeddedStore;

    #[tokio::test]
    async fn printed_example_queries_answer_on_the_bundled_data() {
        let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
        let facts = sample_facts().expect("bundled samples translate");
        assert!(facts.len() > 27, "seed scenario plus real fixtures");
        store.apply(&facts).await.expect("apply");
        let schema = build_schema(store);
        let image = schema.execute(EXAMPLE_IMAGE_QUERY).await;
        assert!(image.errors.is_empty(), "{:?}", image.errors);
        let image = image.data.into_json().expect("json");
        assert_eq!(image["image"]["builtBy"]["name"], "idec-image-builds-run-fb422");
        assert_eq!(image["image"]["commit"]["author"], "Joost van der Griendt");
        let diff = schema.execute(EXAMPLE_DIFF_QUERY).await;
        assert!(diff.errors.is_empty(), "{:?}", diff.errors);
        let diff = diff.data.into_json().expect("json");
        assert_eq!(diff["diff"]["base"]["name"], "idec-image-builds-run-5ca46");
        assert_eq!(diff["diff"]["statusChanged"], true);
    }
}
