// Takes the write lock of every run node a batch touches (creating missing ones) and returns the stored
// observation of each: its order key and its fact JSON. Locking first makes two writers of one run serialize
// instead of racing. $ids are sorted by the caller, so writers lock in one global order.
UNWIND $ids AS id
MERGE (r:Node {id: id})
SET r.lockedAt = timestamp()
RETURN r.id AS id, r.observation AS observation, r.fact AS fact
