// Which of the given node ids exist: an observed run, or an end of some edge.
UNWIND $ids AS id
MATCH (n:Node {id: id})
WHERE n.fact IS NOT NULL OR EXISTS { (n)--() }
RETURN n.id AS id
