// Deletes nodes the batch touched that are neither an observed run nor an end of any edge.
UNWIND $ids AS id
MATCH (n:Node {id: id})
WHERE n.fact IS NULL AND NOT EXISTS { (n)--() }
DELETE n
