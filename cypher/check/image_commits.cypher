// For one image: every commit the supply chain reaches by walking the graph alone — the image's producing run's own
// BUILT_FROM commit, else (a TaskRun) the commit of the PipelineRun it is PART_OF. The read model's `image.commit`
// must be one of these (and null exactly when there are none); a test compares the two.
MATCH (i:Image {digest: $digest})<-[:PRODUCED]-(run)
OPTIONAL MATCH (run)-[:BUILT_FROM]->(own:Commit)
OPTIONAL MATCH (run)-[:PART_OF]->(:PipelineRun)-[:BUILT_FROM]->(inherited:Commit)
WITH coalesce(own, inherited) AS commit
WHERE commit IS NOT NULL
RETURN DISTINCT commit.sha AS sha, commit.repository AS repository
ORDER BY repository, sha
