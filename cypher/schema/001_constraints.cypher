// Every node of the graph carries the label Node and a unique id `<kind>:<natural key>` (see graph-service model.rs).
// Applied at start-up; each statement is idempotent. Statements are separated by semicolons.
CREATE CONSTRAINT node_id IF NOT EXISTS FOR (n:Node) REQUIRE n.id IS UNIQUE;
CREATE INDEX pipelinerun_listing IF NOT EXISTS FOR (r:PipelineRun) ON (r.sortMillis);
CREATE INDEX pipelinerun_by_pipeline IF NOT EXISTS FOR (r:PipelineRun) ON (r.namespace, r.pipeline);
CREATE INDEX pipelinerun_by_pipeline_time IF NOT EXISTS FOR (r:PipelineRun) ON (r.namespace, r.pipeline, r.sortMillis);
CREATE INDEX pipelinerun_by_status IF NOT EXISTS FOR (r:PipelineRun) ON (r.status);
CREATE INDEX pipelinerun_by_trigger_event IF NOT EXISTS FOR (r:PipelineRun) ON (r.triggerEventId);
CREATE INDEX taskrun_by_status IF NOT EXISTS FOR (t:TaskRun) ON (t.status);
CREATE INDEX image_digest IF NOT EXISTS FOR (i:Image) ON (i.digest);
CREATE INDEX commit_sha IF NOT EXISTS FOR (c:Commit) ON (c.sha);
