// Creates the edge ends a batch needs that do not exist yet, with their label, the properties derived from their
// id and the transaction's random $token (cypher/read/created.cypher reads it back: edges to a node created here
// are created, not merged). An existing node is not written: hub nodes (a Pipeline, a Repository) take no per-row
// write. $rows are distinct and sorted by id, so two writers creating one node meet in the same order.
UNWIND $rows AS row
MERGE (n:Node {id: row.id})
  ON CREATE SET n:$(row.label), n += row.props, n.createdIn = $token
