-- The last slot each schedule fired (Unix ms): a restart fires a slot it missed, never one it fired.
CREATE TABLE schedule_slots (
    schedule     TEXT PRIMARY KEY,
    last_slot_ms INTEGER NOT NULL
);
