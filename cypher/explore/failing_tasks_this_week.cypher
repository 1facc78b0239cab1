// TaskRuns that failed or timed out in the last 7 days (or since $since), grouped by pipeline task.
// Parameters: $since — ISO date-time string or null for "7 days ago".
WITH coalesce(datetime($since), datetime() - duration('P7D')) AS since
MATCH (t:TaskRun)
WHERE t.status IN ['Failed', 'TimedOut'] AND t.startTime IS NOT NULL AND datetime(t.startTime) >= since
OPTIONAL MATCH (t)-[:PART_OF]->(r:PipelineRun)
RETURN t.namespace AS namespace, r.pipeline AS pipeline, coalesce(t.pipelineTask, t.task, t.name) AS task,
       count(t) AS failures, collect(t.name)[..5] AS examples, max(t.startTime) AS lastFailure
ORDER BY failures DESC, lastFailure DESC
