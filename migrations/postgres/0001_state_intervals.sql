-- Each target's up/down history: one row per interval in which its state did not change.
-- An open interval (ended_at IS NULL) is the current state; last_seen_at is the last time a
-- running fedimeter confirmed it, so after a crash the interval is closed there and the gap
-- until the next start is "no data", never up or down.
CREATE TABLE state_intervals (
    id           BIGSERIAL PRIMARY KEY,
    target_kind  TEXT    NOT NULL,
    target_name  TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    started_at   BIGINT  NOT NULL, -- unix milliseconds
    ended_at     BIGINT,           -- unix milliseconds, NULL while open
    last_seen_at BIGINT  NOT NULL  -- unix milliseconds
);
CREATE INDEX state_intervals_target ON state_intervals (target_kind, target_name, started_at);
CREATE INDEX state_intervals_open ON state_intervals (ended_at) WHERE ended_at IS NULL;
