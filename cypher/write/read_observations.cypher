// The stored observation of each run in $ids (after lock_runs): its order key and its fact JSON.
UNWIND $ids AS id
MATCH (r:Node {id: id})
WHERE r.fact IS NOT NULL
RETURN r.id AS id, r.observation AS observation, r.fact AS fact
