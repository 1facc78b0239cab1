// Every PipelineRun built from one commit, newest first, with the images it produced.
// Parameters: $repository — repository key (host/path, no scheme, no .git), e.g. 'github.com/org/repo';
//             $sha — the full commit SHA.
MATCH (r:PipelineRun)-[:BUILT_FROM]->(c:Commit {repository: $repository, sha: $sha})
OPTIONAL MATCH (r)-[:PRODUCED]->(i:Image)
OPTIONAL MATCH (t:TaskRun)-[:PART_OF]->(r)
OPTIONAL MATCH (t)-[:PRODUCED]->(ti:Image)
RETURN r.namespace AS namespace, r.name AS pipelineRun, r.pipeline AS pipeline, r.status AS status,
       r.startTime AS started, r.durationSeconds AS durationSeconds,
       [d IN collect(DISTINCT i.digest) + collect(DISTINCT ti.digest) WHERE d IS NOT NULL] AS images
ORDER BY r.sortMillis DESC
