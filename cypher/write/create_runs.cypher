// Creates the run nodes a batch is the first to observe, with their label, properties and observation, in one
// write (a lock then an upsert would write each new node twice), marked with the transaction's random $token. A
// node that exists by now (another writer made it since the batch read the stored keys, or an edge made it) is
// only locked, as cypher/write/lock_runs.cypher does; cypher/read/created_runs.cypher then tells the two apart,
// and the caller decides under that lock, as for any stored run. $rows are in run order, the order every writer
// locks in. Nothing is returned and properties are named one by one: reading a property written here, or a map
// write (`+=`), plans an Eager.
UNWIND $rows AS row
MERGE (r:Node {id: row.id})
  ON CREATE SET r:$(row.label), r.observation = row.observation, r.fact = row.fact,
    r.kind = row.kind, r.namespace = row.namespace, r.name = row.name, r.uid = row.uid,
    r.status = row.status, r.reason = row.reason,
    r.startTime = row.startTime, r.completionTime = row.completionTime, r.durationSeconds = row.durationSeconds,
    r.deletedAt = row.deletedAt, r.deletedFromCluster = row.deletedFromCluster, r.sortMillis = row.sortMillis,
    r.pipeline = row.pipeline, r.task = row.task, r.pipelineTask = row.pipelineTask,
    r.repository = row.repository, r.triggerEventId = row.triggerEventId,
    r.commit = row.commit, r.commitAuthor = row.commitAuthor, r.commitMessage = row.commitMessage,
    r.vulnCritical = row.vulnCritical, r.vulnHigh = row.vulnHigh, r.vulnMedium = row.vulnMedium,
    r.vulnLow = row.vulnLow, r.summaryPipeline = row.summaryPipeline,
    r.summaryDuration = row.summaryDuration, r.createdIn = $token
  ON MATCH SET r.lockedAt = timestamp()
