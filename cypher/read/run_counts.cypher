// Observed runs a caller may see: PipelineRuns in $visibleNamespaces or belonging to one of $visibleSystems
// (System node ids); TaskRuns in those namespaces or part of such a PipelineRun.
CALL () {
  MATCH (r:PipelineRun)
  WHERE r.fact IS NOT NULL
    AND (r.namespace IN $visibleNamespaces OR EXISTS { (r)-[:BELONGS_TO]->(s:Node) WHERE s.id IN $visibleSystems })
  RETURN count(r) AS pipelineRuns
}
CALL () {
  MATCH (t:TaskRun)
  WHERE t.fact IS NOT NULL
    AND (t.namespace IN $visibleNamespaces
         OR EXISTS { (t)-[:PART_OF]->(:PipelineRun)-[:BELONGS_TO]->(s:Node) WHERE s.id IN $visibleSystems })
  RETURN count(t) AS taskRuns
}
RETURN pipelineRuns, taskRuns
