// Where did this image come from? The run and task that produced it, the commit and repository it was built
// from, and the scans of it.
// Parameters: $digest — the image digest, e.g. 'sha256:b29e0ef9…'.
// cypher-shell: :param digest => 'sha256:…'
MATCH (producer)-[:PRODUCED]->(i:Image {digest: $digest})
OPTIONAL MATCH (producer)-[:PART_OF]->(parent:PipelineRun)
WITH i, producer, coalesce(parent, producer) AS run
OPTIONAL MATCH (run)-[:BUILT_FROM]->(c:Commit)-[:IN_REPOSITORY]->(repo:Repository)
OPTIONAL MATCH (scanner)-[:REPORTED]->(:Scan)-[:SCANNED]->(i)
RETURN i.digest AS image,
       run.namespace AS namespace,
       run.name AS pipelineRun,
       run.status AS status,
       collect(DISTINCT producer.name) AS producedBy,
       c.sha AS commit,
       run.commitAuthor AS author,
       run.commitMessage AS message,
       repo.url AS repository,
       collect(DISTINCT scanner.name) AS scannedBy,
       max(scanner.vulnCritical) AS critical,
       max(scanner.vulnHigh) AS high
ORDER BY pipelineRun
