// After cypher/write/create_runs.cypher or create_nodes.cypher, in the same transaction: which of the given nodes
// this transaction created (marked with its random $token), and the stored observation key of the others (null
// when none is stored, as for every node that is not a run).
UNWIND $ids AS id
MATCH (n:Node {id: id})
RETURN n.id AS id, n.observation AS observation, coalesce(n.createdIn = $token, false) AS created
