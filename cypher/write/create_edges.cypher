// Creates the edges that have an end this transaction created (cypher/read/created.cypher): none can exist yet,
// so they are created, not merged. MERGE looks for an existing edge first, and on a node created in the same
// transaction that look walks every relationship added to it so far: the first batch into an empty store was
// quadratic in its hub nodes' degree (25 s for a batch of 5000 runs).
UNWIND $rows AS row
MATCH (a:Node {id: row.from})
MATCH (b:Node {id: row.to})
CREATE (a)-[e:$(row.kind) {count: row.n}]->(b)
