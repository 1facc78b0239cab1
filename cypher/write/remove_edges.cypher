// Withdraws contributions from edges; an edge nobody contributes any more is deleted.
UNWIND $rows AS row
MATCH (a:Node {id: row.from})-[e:$(row.kind)]->(b:Node {id: row.to})
SET e.count = e.count - row.n
WITH e
WHERE e.count <= 0
DELETE e
