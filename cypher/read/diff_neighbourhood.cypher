// The edges a diff reads around PipelineRuns, in one statement instead of one round trip per hop
// (graph-service/src/store/neighbourhood.rs defines them): the runs' PART_OF, BUILT_FROM and PRODUCED edges, the
// PRODUCED edges of their TaskRuns, the BUILT_FROM edges of their commits, the SCANNED edges of the images and the
// REPORTED edges of the scans. Every hop starts from nodes found by the one before: no scan of a label or a type.
UNWIND $ids AS id
MATCH (run:Node {id: id})
OPTIONAL MATCH (run)-[own:PART_OF|BUILT_FROM|PRODUCED]-(:Node)
WITH collect(DISTINCT run) AS runs, collect(DISTINCT own) AS owns
WITH runs, owns,
     [e IN owns WHERE type(e) = 'PART_OF' AND endNode(e) IN runs AND startNode(e).id STARTS WITH 'taskrun:'
        | startNode(e)] AS tasks,
     [e IN owns WHERE type(e) = 'BUILT_FROM' AND startNode(e) IN runs | endNode(e)] AS commits
CALL (tasks) {
  UNWIND tasks AS task
  MATCH (task)-[e:PRODUCED]-(:Node)
  RETURN collect(DISTINCT e) AS produced
}
CALL (commits) {
  UNWIND commits AS commit
  MATCH (commit)-[e:BUILT_FROM]-(:Node)
  RETURN collect(DISTINCT e) AS sameCommit
}
WITH owns, produced, sameCommit, runs + tasks AS producers
WITH owns, produced, sameCommit,
     [e IN owns + produced WHERE type(e) = 'PRODUCED' AND startNode(e) IN producers | endNode(e)] AS images
CALL (images) {
  UNWIND images AS image
  MATCH (image)-[e:SCANNED]-(:Node)
  RETURN collect(DISTINCT e) AS scanned
}
WITH owns, produced, sameCommit, scanned,
     [e IN scanned WHERE endNode(e) IN images | startNode(e)] AS scans
CALL (scans) {
  UNWIND scans AS scan
  MATCH (scan)-[e:REPORTED]-(:Node)
  RETURN collect(DISTINCT e) AS reported
}
UNWIND owns + produced + sameCommit + scanned + reported AS e
RETURN DISTINCT startNode(e).id AS from, type(e) AS kind, endNode(e).id AS to
