// Images whose latest scans report at least $minCritical critical vulnerabilities, and the systems that ship them.
// Parameters: $minCritical — integer, e.g. 1.
MATCH (scanner)-[:REPORTED]->(:Scan)-[:SCANNED]->(i:Image)
WHERE scanner.vulnCritical >= $minCritical
WITH i, max(scanner.vulnCritical) AS critical, max(scanner.vulnHigh) AS high
OPTIONAL MATCH (builder)-[:PRODUCED]->(i)
OPTIONAL MATCH (builder)-[:PART_OF]->(parent:PipelineRun)
WITH i, critical, high, coalesce(parent, builder) AS run
OPTIONAL MATCH (run)-[:BELONGS_TO]->(s:System)
RETURN i.digest AS image, critical, high,
       collect(DISTINCT s.name) AS systems, collect(DISTINCT run.name) AS builtBy
ORDER BY critical DESC, high DESC, image
