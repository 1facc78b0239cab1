// Every PipelineRun built from one commit, newest first, with the images it (or its TaskRuns) produced.
// Parameters: $repository — repository key (host/path, no scheme, no .git), e.g. 'github.com/org/repo';
//             $sha — the full commit SHA.
MATCH (r:PipelineRun)-[:BUILT_FROM]->(:Commit {repository: $repository, sha: $sha})
CALL (r) {
  OPTIONAL MATCH (r)<-[:PART_OF*0..1]-(producer)-[:PRODUCED]->(i:Image)
  RETURN collect(DISTINCT i.digest) AS images
}
RETURN r.namespace AS namespace, r.name AS pipelineRun, r.pipeline AS pipeline, r.status AS status,
       r.startTime AS started, r.durationSeconds AS durationSeconds, images
ORDER BY r.sortMillis DESC
