// PipelineRuns matching the filter, newest first (sortMillis, namespace, name descending), strictly after the
// cursor ($after: {sortMillis, namespace, name} or null). Null filter parameters match everything.
MATCH (r:PipelineRun)
WHERE r.fact IS NOT NULL
  AND ($namespace IS NULL OR r.namespace = $namespace)
  AND ($pipeline IS NULL OR r.pipeline = $pipeline)
  AND ($status IS NULL OR r.status = $status)
  AND ($repository IS NULL OR r.repository = $repository)
  AND ($since IS NULL OR r.sortMillis >= $since)
  AND ($until IS NULL OR r.sortMillis < $until)
  AND ($system IS NULL OR EXISTS { (r)-[:BELONGS_TO]->(:Node {id: $system}) })
  AND ($after IS NULL
       OR r.sortMillis < $after.sortMillis
       OR (r.sortMillis = $after.sortMillis
           AND (r.namespace < $after.namespace OR (r.namespace = $after.namespace AND r.name < $after.name))))
RETURN r.sortMillis AS sortMillis, r.namespace AS namespace, r.name AS name
ORDER BY sortMillis DESC, namespace DESC, name DESC
LIMIT $limit
