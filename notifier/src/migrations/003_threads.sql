-- Slack threads: the first message about a run (its thread key) starts a thread; later ones reply in it.
ALTER TABLE deliveries ADD COLUMN thread_key TEXT;

CREATE TABLE threads (
    channel TEXT NOT NULL,
    key     TEXT NOT NULL,
    ts      TEXT NOT NULL,      -- the thread's first message (Slack's `ts`)
    PRIMARY KEY (channel, key)
);
