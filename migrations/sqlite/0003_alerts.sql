-- Alerting (src/notify/outbox.rs, src/alert/). Times are unix milliseconds.

-- The durable outbox: a notification is written here before it is sent and marked sent only
-- after Discord accepted it. Rows of one route are sent in id order, one at a time: only the
-- oldest unsent row of a route can be claimed, and only when no live claim holds it.
CREATE TABLE alert_outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    route         TEXT    NOT NULL,
    kind          TEXT    NOT NULL, -- 'post' | 'edit' (edit the message posted for alert_key)
    alert_key     TEXT,             -- the alert this message is about (rule + labels), if one
    body          TEXT    NOT NULL, -- the Discord message (JSON)
    created_at    BIGINT  NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    not_before    BIGINT  NOT NULL DEFAULT 0,
    claimed_by    TEXT,
    claimed_until BIGINT,
    done_at       BIGINT,           -- NULL while pending
    result        TEXT              -- 'sent' | 'rejected' | 'gone'
);
CREATE INDEX alert_outbox_pending ON alert_outbox (route, id) WHERE done_at IS NULL;

-- The message posted (with ?wait=true) for an alert, so that the resolve edits it in place.
CREATE TABLE alert_messages (
    route      TEXT   NOT NULL,
    alert_key  TEXT   NOT NULL,
    message_id TEXT   NOT NULL,
    posted_at  BIGINT NOT NULL,
    PRIMARY KEY (route, alert_key)
);

-- Alert state, so that pending/firing alerts survive a restart. Written in the same
-- transaction as the outbox rows of the evaluation that changed it.
CREATE TABLE alert_state (
    alert_key    TEXT    NOT NULL PRIMARY KEY,
    alertname    TEXT    NOT NULL,
    rule_index   INTEGER NOT NULL, -- position in the configured rule list (checked by name)
    state        TEXT    NOT NULL, -- 'pending' | 'firing'
    active_since BIGINT  NOT NULL, -- the condition became true
    firing_since BIGINT,
    last_true_at BIGINT  NOT NULL, -- for keep_firing_for
    last_sent_at BIGINT,           -- for repeat_interval
    announced    INTEGER NOT NULL, -- 0/1: the firing was sent (not muted)
    target       TEXT    NOT NULL,
    labels       TEXT    NOT NULL, -- JSON object
    value        DOUBLE PRECISION
);
