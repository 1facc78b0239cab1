// PipelineRuns matching the filter strictly newer than $than ({sortMillis, namespace, name}) in listing order,
// oldest first: the runs that follow one. Null filter parameters match everything.
MATCH (r:PipelineRun)
WHERE r.fact IS NOT NULL
  AND ($namespace IS NULL OR r.namespace = $namespace)
  AND ($pipeline IS NULL OR r.pipeline = $pipeline)
  AND ($status IS NULL OR r.status = $status)
  AND ($repository IS NULL OR r.repository = $repository)
  AND ($since IS NULL OR r.sortMillis >= $since)
  AND ($until IS NULL OR r.sortMillis < $until)
  AND ($system IS NULL OR EXISTS { (r)-[:BELONGS_TO]->(:Node {id: $system}) })
  AND (r.sortMillis > $than.sortMillis
       OR (r.sortMillis = $than.sortMillis
           AND (r.namespace > $than.namespace OR (r.namespace = $than.namespace AND r.name > $than.name))))
RETURN r.sortMillis AS sortMillis, r.namespace AS namespace, r.name AS name
ORDER BY sortMillis ASC, namespace ASC, name ASC
LIMIT $limit
