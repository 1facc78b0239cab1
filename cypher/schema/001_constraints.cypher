// Every node of the graph carries the label Node and a unique id `<kind>:<natural key>` (see graph-service model.rs).
// Applied at start-up; each statement is idempotent. Statements are separated by semicolons.
CREATE CONSTRAINT node_id IF NOT EXISTS FOR (n:Node) REQUIRE n.id IS UNIQUE;
CREATE INDEX pipelinerun_listing IF NOT EXISTS FOR (r:PipelineRun) ON (r.sortMillis);
CREATE INDEX pipelinerun_by_pipeline IF NOT EXISTS FOR (r:PipelineRun) ON (r.namespace, r.pipeline);
CREATE INDEX pipelinerun_by_pipeline_time IF NOT EXISTS FOR (r:PipelineRun) ON (r.namespace, r.pipeline, r.sortMillis);
// The run summary (cypher/read/run_summary.cypher) reads every property it groups by from this index, not from the
// store. summaryPipeline and summaryDuration are pipeline and durationSeconds with '' and -1 for none.
CREATE INDEX pipelinerun_summary IF NOT EXISTS
  FOR (r:PipelineRun) ON (r.sortMillis, r.namespace, r.summaryPipeline, r.status, r.summaryDuration, r.name);
// Stores written before that index lack the two properties: add them once (later starts find nothing to do).
MATCH (r:PipelineRun) WHERE r.sortMillis IS NOT NULL AND r.summaryDuration IS NULL
CALL (r) {
  SET r.summaryPipeline = coalesce(r.pipeline, ''), r.summaryDuration = coalesce(r.durationSeconds, -1.0)
} IN TRANSACTIONS OF 10000 ROWS;
CREATE INDEX pipelinerun_by_status IF NOT EXISTS FOR (r:PipelineRun) ON (r.status);
CREATE INDEX pipelinerun_by_trigger_event IF NOT EXISTS FOR (r:PipelineRun) ON (r.triggerEventId);
CREATE INDEX taskrun_by_status IF NOT EXISTS FOR (t:TaskRun) ON (t.status);
CREATE INDEX image_digest IF NOT EXISTS FOR (i:Image) ON (i.digest);
CREATE INDEX commit_sha IF NOT EXISTS FOR (c:Commit) ON (c.sha);
