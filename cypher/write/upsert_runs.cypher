// Stores the newest observation of each locked run. Which observation wins was decided under the lock (the caller
// read the stored keys in the same transaction), so there is no guard here: a WHERE on `observation`, or a map
// write (`+=`), would make the planner add Eager. Properties are named one by one for the same reason.
UNWIND $rows AS row
MATCH (r:Node {id: row.id})
SET r.observation = row.observation, r.fact = row.fact,
    r.kind = row.kind, r.namespace = row.namespace, r.name = row.name, r.uid = row.uid,
    r.status = row.status, r.reason = row.reason,
    r.startTime = row.startTime, r.completionTime = row.completionTime, r.durationSeconds = row.durationSeconds,
    r.deletedAt = row.deletedAt, r.deletedFromCluster = row.deletedFromCluster, r.sortMillis = row.sortMillis,
    r.pipeline = row.pipeline, r.task = row.task, r.pipelineTask = row.pipelineTask,
    r.repository = row.repository, r.triggerEventId = row.triggerEventId,
    r.commit = row.commit, r.commitAuthor = row.commitAuthor, r.commitMessage = row.commitMessage,
    r.vulnCritical = row.vulnCritical, r.vulnHigh = row.vulnHigh, r.vulnMedium = row.vulnMedium,
    r.vulnLow = row.vulnLow, r.summaryPipeline = row.summaryPipeline,
    r.summaryDuration = row.summaryDuration
