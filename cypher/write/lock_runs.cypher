// Takes the write lock of each run node the batch will write (creating missing ones with their label) and returns
// the order key of each one's stored observation (null when none is stored). Locking first makes two writers of
// one run serialize instead of racing. $rows are in run order, the one global order every writer locks in.
// The label is set only on creation: a dynamic label in ON CREATE plans without Eager, one in a plain SET does not.
UNWIND $rows AS row
MERGE (r:Node {id: row.id})
  ON CREATE SET r:$(row.label)
SET r.lockedAt = timestamp()
RETURN r.id AS id, r.observation AS observation
