// Every edge touching the given nodes, optionally only of the given types ($kinds null for all).
UNWIND $ids AS id
MATCH (n:Node {id: id})-[e]-(:Node)
WHERE $kinds IS NULL OR type(e) IN $kinds
RETURN DISTINCT startNode(e).id AS from, type(e) AS kind, endNode(e).id AS to
