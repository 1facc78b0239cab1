// PipelineRuns matching the filter, newest first (sortMillis, namespace, name descending), strictly after the
// cursor ($after: {sortMillis, namespace, name} or null). Null filter parameters match everything. With
// $visibleNamespaces (and $visibleSystems, System node ids), only the runs a caller may see.
// Only observed runs have a sortMillis, and the range on it (always present, bounded by since/until/after) lets
// the planner seek the sortMillis index in order and stop at the limit instead of sorting every run; the hint keeps
// that seek whatever the statistics say.
MATCH (r:PipelineRun)
USING INDEX SEEK r:PipelineRun(sortMillis)
WHERE r.sortMillis >= coalesce($since, -9223372036854775807 - 1)
  AND r.sortMillis <= coalesce($after.sortMillis, $until - 1, 9223372036854775807)
  AND ($until IS NULL OR r.sortMillis < $until)
  AND ($namespace IS NULL OR r.namespace = $namespace)
  AND ($pipeline IS NULL OR r.pipeline = $pipeline)
  AND ($status IS NULL OR r.status = $status)
  AND ($repository IS NULL OR r.repository = $repository)
  AND ($triggerEventId IS NULL OR r.triggerEventId = $triggerEventId)
  AND ($system IS NULL OR EXISTS { (r)-[:BELONGS_TO]->(:Node {id: $system}) })
  AND ($visibleNamespaces IS NULL OR r.namespace IN $visibleNamespaces
       OR EXISTS { (r)-[:BELONGS_TO]->(s:Node) WHERE s.id IN $visibleSystems })
  AND ($after IS NULL
       OR r.sortMillis < $after.sortMillis
       OR (r.sortMillis = $after.sortMillis
           AND (r.namespace < $after.namespace OR (r.namespace = $after.namespace AND r.name < $after.name))))
RETURN r.sortMillis AS sortMillis, r.namespace AS namespace, r.name AS name
ORDER BY sortMillis DESC, namespace DESC, name DESC
LIMIT $limit
