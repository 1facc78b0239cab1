// The status of each observed run id: what a lineage label needs, without moving the fact JSON.
UNWIND $ids AS id
MATCH (r:Node {id: id})
WHERE r.fact IS NOT NULL
RETURN r.id AS id, r.status AS status
