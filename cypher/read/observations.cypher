// The stored observation order key of each run id that has one, read without locking. A run whose stored
// observation is already at least as new as the batch's is skipped without a lock or a write (a replay writes
// nothing); the others are locked (cypher/write/lock_runs.cypher), which reads their key again under the lock.
UNWIND $ids AS id
MATCH (r:Node {id: id})
WHERE r.observation IS NOT NULL
RETURN r.id AS id, r.observation AS observation
