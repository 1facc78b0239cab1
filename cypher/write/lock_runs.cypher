// Takes the write lock of every run node a batch touches (creating missing ones) and returns the order key of
// each one's stored observation (null when none is stored). Locking first makes two writers of one run serialize
// instead of racing. $ids are sorted by the caller, so writers lock in one global order. The fact JSON is not
// returned: only the runs a batch replaces or joins need it (cypher/read/facts.cypher), so a replay moves none.
UNWIND $ids AS id
MERGE (r:Node {id: id})
SET r.lockedAt = timestamp()
RETURN r.id AS id, r.observation AS observation
