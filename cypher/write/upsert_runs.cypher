// Stores the newest observation of each run. The WHERE guard keeps the out-of-order rule inside Neo4j too: an
// older observation never overwrites a newer one, even if the caller's view was stale.
UNWIND $rows AS row
MATCH (r:Node {id: row.id})
WHERE r.observation IS NULL OR r.observation < row.observation
SET r:$(row.label)
SET r += row.props
SET r.observation = row.observation, r.fact = row.fact
RETURN count(r) AS written
