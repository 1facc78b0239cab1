-- Events seen (by CloudEvent id), the oncePer keys used, and every delivery.
CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    received_at INTEGER NOT NULL,   -- Unix ms
    body        TEXT NOT NULL       -- the event as rules saw it (JSON)
);

CREATE TABLE once_keys (
    trigger    TEXT NOT NULL,
    key        TEXT NOT NULL,
    event_id   TEXT NOT NULL REFERENCES events (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (trigger, key)
);

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES events (id),
    trigger         TEXT NOT NULL,
    channel         TEXT NOT NULL,
    body            TEXT NOT NULL,  -- the rendered request body (JSON); secrets are added when sending
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'dead', 'silenced')),
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    response        TEXT,           -- what the channel answered that matters (an EventListener's eventID)
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    UNIQUE (event_id, trigger, channel)
);

CREATE INDEX deliveries_due ON deliveries (channel, status, next_attempt_at);
