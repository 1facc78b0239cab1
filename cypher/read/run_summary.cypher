// PipelineRuns matching the filter (as pipeline_runs.cypher, without a cursor), grouped by namespace, pipeline and
// status: how many, the median duration (percentileCont, the interpolated 50th percentile) and the newest run.
MATCH (r:PipelineRun)
WHERE r.fact IS NOT NULL
  AND ($namespace IS NULL OR r.namespace = $namespace)
  AND ($pipeline IS NULL OR r.pipeline = $pipeline)
  AND ($status IS NULL OR r.status = $status)
  AND ($repository IS NULL OR r.repository = $repository)
  AND ($since IS NULL OR r.sortMillis >= $since)
  AND ($until IS NULL OR r.sortMillis < $until)
  AND ($system IS NULL OR EXISTS { (r)-[:BELONGS_TO]->(:Node {id: $system}) })
WITH r.namespace AS namespace, r.pipeline AS pipeline, r.status AS status,
     count(r) AS runs, percentileCont(r.durationSeconds, 0.5) AS median,
     max(r.sortMillis) AS latestMillis, collect(r) AS members
// The newest run of the group: the largest (sortMillis, namespace, name), as in the listing order.
CALL (members, latestMillis) {
  UNWIND members AS m
  WITH m WHERE m.sortMillis = latestMillis
  RETURN m.name AS latestName ORDER BY latestName DESC LIMIT 1
}
RETURN namespace, pipeline, status, runs, median, latestMillis, latestName
ORDER BY namespace, pipeline, status
