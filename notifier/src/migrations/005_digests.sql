-- Digests: a pending delivery that collects the deliveries of its trigger and channel until `digest_until`; each
-- event's own body is kept as an item, and the delivery's body is composed from all of them.
ALTER TABLE deliveries ADD COLUMN digest_until INTEGER;

CREATE TABLE digest_items (
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
    event_id    TEXT NOT NULL REFERENCES events (id),
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, event_id)
);
