// PipelineRuns matching the filter (as pipeline_runs.cypher, without a cursor), grouped by namespace, pipeline and
// status: how many, the median duration (percentileCont, the interpolated 50th percentile) and the newest run —
// the largest (sortMillis, name), as in the listing order (lists compare element by element). The sortMillis range
// seeks its index: only the runs of the chosen time range are read.
MATCH (r:PipelineRun)
WHERE r.sortMillis >= coalesce($since, -9223372036854775807 - 1)
  AND r.sortMillis < coalesce($until, 9223372036854775807)
  AND ($namespace IS NULL OR r.namespace = $namespace)
  AND ($pipeline IS NULL OR r.pipeline = $pipeline)
  AND ($status IS NULL OR r.status = $status)
  AND ($repository IS NULL OR r.repository = $repository)
  AND ($triggerEventId IS NULL OR r.triggerEventId = $triggerEventId)
  AND ($system IS NULL OR EXISTS { (r)-[:BELONGS_TO]->(:Node {id: $system}) })
  AND ($visibleNamespaces IS NULL OR r.namespace IN $visibleNamespaces
       OR EXISTS { (r)-[:BELONGS_TO]->(s:Node) WHERE s.id IN $visibleSystems })
WITH r.namespace AS namespace, r.pipeline AS pipeline, r.status AS status,
     count(r) AS runs, percentileCont(r.durationSeconds, 0.5) AS median, max([r.sortMillis, r.name]) AS latest
RETURN namespace, pipeline, status, runs, median, latest[0] AS latestMillis, latest[1] AS latestName
ORDER BY namespace, pipeline, status
