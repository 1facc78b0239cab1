// The newest observation (fact JSON) of each run id.
UNWIND $ids AS id
MATCH (r:Node {id: id})
WHERE r.fact IS NOT NULL
RETURN r.id AS id, r.fact AS fact
