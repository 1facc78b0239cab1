// For each of $places ({namespace, pipeline, sortMillis, name}), the next observed run of its pipeline in its
// namespace: the smallest (sortMillis, name) strictly above its own. Rows only for places that have
// one. With $visibleNamespaces (and $visibleSystems, System node ids), only runs the caller may see count.
// The ORDER BY names the (namespace, pipeline, sortMillis) index's properties first, both bound by the seek, so
// the planner reads the index in order and stops after the first rows (PartialTop). Ordered by (sortMillis, name)
// alone it read every later run of the pipeline and sorted them (the previous-run read, the same way: 420k rows
// for 50 places at 200k runs). The hint keeps the seek when the statistics are those of a small or just-loaded
// store (a scan of another index, then a sort, was planned there).
UNWIND range(0, size($places) - 1) AS index
WITH index, $places[index] AS place
CALL (place) {
  MATCH (r:PipelineRun {namespace: place.namespace, pipeline: place.pipeline})
  USING INDEX SEEK r:PipelineRun(namespace, pipeline, sortMillis)
  WHERE r.sortMillis >= place.sortMillis
    AND (r.sortMillis > place.sortMillis OR r.name > place.name)
    AND ($visibleNamespaces IS NULL OR r.namespace IN $visibleNamespaces
         OR EXISTS { (r)-[:BELONGS_TO]->(s:Node) WHERE s.id IN $visibleSystems })
  RETURN r.name AS name
  ORDER BY r.namespace ASC, r.pipeline ASC, r.sortMillis ASC, r.name ASC
  LIMIT 1
}
RETURN index, name
