// PipelineRuns that took more than $factor times as long as the previous run of the same pipeline.
// Parameters: $factor — e.g. 1.2 for "20% slower".
MATCH (r:PipelineRun)
WHERE r.durationSeconds IS NOT NULL AND r.pipeline IS NOT NULL
WITH r ORDER BY r.sortMillis, r.name
WITH r.namespace AS namespace, r.pipeline AS pipeline, collect(r) AS runs
UNWIND range(1, size(runs) - 1) AS i
WITH namespace, pipeline, runs[i - 1] AS previous, runs[i] AS current
WHERE current.durationSeconds > previous.durationSeconds * $factor
RETURN namespace, pipeline, previous.name AS previousRun, current.name AS run,
       previous.durationSeconds AS previousSeconds, current.durationSeconds AS seconds,
       round(100.0 * (current.durationSeconds - previous.durationSeconds) / previous.durationSeconds, 1) AS percentSlower
ORDER BY percentSlower DESC
