// Takes the write lock of every run node a batch touches (creating missing ones) before their stored
// observations are read, so two writers of one run serialize instead of racing. $ids are sorted by the caller.
UNWIND $ids AS id
MERGE (r:Node {id: id})
SET r.lockedAt = timestamp()
