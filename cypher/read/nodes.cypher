// Existing nodes whose id starts with a kind prefix (`system:`, `pipeline:`, `repository:`), sorted by id, after a
// cursor id. Uses the range index behind the node_id constraint for the prefix.
MATCH (n:Node)
WHERE n.id STARTS WITH $prefix
  AND ($after IS NULL OR n.id > $after)
  AND EXISTS { (n)--() }
RETURN n.id AS id
ORDER BY id
LIMIT $limit
