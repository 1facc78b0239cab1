// Withdraws contributions from edges; an edge nobody contributes any more is deleted. Both ends are sought by id,
// with index seek hints: without them Neo4j 5.26 at times planned this statement as a scan of the id index (seen
// in tests/neo4j_plans.rs right after a load); a plain USING INDEX still let it scan the index for one end and
// hash-join it to the other.
UNWIND $rows AS row
MATCH (a:Node {id: row.from})
USING INDEX SEEK a:Node(id)
MATCH (b:Node {id: row.to})
USING INDEX SEEK b:Node(id)
MATCH (a)-[e:$(row.kind)]->(b)
SET e.count = e.count - row.n
WITH e
WHERE e.count <= 0
DELETE e
