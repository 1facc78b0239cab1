-- Chain checks: an EventListener call that answered an eventID must start a PipelineRun the graph sees.
CREATE TABLE chains (
    delivery_id INTEGER PRIMARY KEY REFERENCES deliveries (id),
    channel     TEXT NOT NULL,
    trigger     TEXT NOT NULL,
    cause       TEXT NOT NULL,      -- the event that led to the call
    event_id    TEXT NOT NULL,      -- what the EventListener answered
    deadline_ms INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('waiting', 'started', 'missed')),
    run         TEXT                -- namespace/name of the PipelineRun it started
);
CREATE INDEX chains_waiting ON chains (status, deadline_ms);
