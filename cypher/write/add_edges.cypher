// Adds contributions to edges: each edge counts the runs whose newest observation contributes it. Both ends exist
// (the locked runs and cypher/write/create_nodes.cypher), so they are matched, not merged, and nothing is written
// on them; MERGE on two bound nodes expands from the one with fewer relationships.
UNWIND $rows AS row
MATCH (a:Node {id: row.from})
MATCH (b:Node {id: row.to})
MERGE (a)-[e:$(row.kind)]->(b)
  ON CREATE SET e.count = row.n
  ON MATCH SET e.count = e.count + row.n
