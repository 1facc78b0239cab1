-- Personal subscriptions added through the API (the rule file's and the policies' stay there): one user, one
-- trigger, one channel. They refer to names; one whose trigger or channel is gone is kept but not routed.
CREATE TABLE subscriptions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user       TEXT NOT NULL,
    trigger    TEXT NOT NULL,
    channel    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (user, trigger, channel)
);
