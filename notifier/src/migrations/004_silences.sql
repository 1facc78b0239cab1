-- Silences added through the API (the rule file's own stay in the file): who added them, and until when.
CREATE TABLE silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger    TEXT,                -- NULL: every trigger
    channel    TEXT,                -- NULL: every channel
    from_ms    INTEGER,             -- NULL: from now on
    until_ms   INTEGER NOT NULL,
    comment    TEXT,
    created_by TEXT,                -- the caller's token name; NULL without authentication
    created_at INTEGER NOT NULL
);
