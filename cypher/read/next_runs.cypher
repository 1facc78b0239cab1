// For each of $places ({namespace, pipeline, sortMillis, name}), the next observed run of its pipeline in its
// namespace: the smallest (sortMillis, name) strictly above its own. Rows only for places that have
// one. With $visibleNamespaces (and $visibleSystems, System node ids), only runs the caller may see count.
UNWIND range(0, size($places) - 1) AS index
WITH index, $places[index] AS place
CALL (place) {
  MATCH (r:PipelineRun {namespace: place.namespace, pipeline: place.pipeline})
  WHERE r.sortMillis >= place.sortMillis
    AND (r.sortMillis > place.sortMillis OR r.name > place.name)
    AND ($visibleNamespaces IS NULL OR r.namespace IN $visibleNamespaces
         OR EXISTS { (r)-[:BELONGS_TO]->(s:Node) WHERE s.id IN $visibleSystems })
  RETURN r.name AS name
  ORDER BY r.sortMillis ASC, r.name ASC
  LIMIT 1
}
RETURN index, name
