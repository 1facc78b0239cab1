// Adds contributions to edges: each edge counts the runs whose newest observation contributes it. Nodes are
// created on first use with the properties derived from their id.
UNWIND $rows AS row
MERGE (a:Node {id: row.from})
  ON CREATE SET a += row.fromProps
SET a:$(row.fromLabel)
MERGE (b:Node {id: row.to})
  ON CREATE SET b += row.toProps
SET b:$(row.toLabel)
MERGE (a)-[e:$(row.kind)]->(b)
  ON CREATE SET e.count = 0
SET e.count = e.count + row.n
