// What the graph holds: observed runs by kind, nodes with at least one edge, edges.
CALL () { MATCH (r:PipelineRun) WHERE r.fact IS NOT NULL RETURN count(r) AS pipelineRuns }
CALL () { MATCH (t:TaskRun) WHERE t.fact IS NOT NULL RETURN count(t) AS taskRuns }
CALL () { MATCH (n:Node) WHERE EXISTS { (n)--() } RETURN count(n) AS nodes }
CALL () { MATCH ()-[e]->() RETURN count(e) AS edges }
RETURN pipelineRuns, taskRuns, nodes, edges
