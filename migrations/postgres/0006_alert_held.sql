-- What alerting must not forget across a restart (src/notify/outbox.rs, src/alert/,
-- src/notify/dispatch.rs). Times are unix milliseconds.

-- A firing alert held while fedimeter is blind (every probe failing at once, collection
-- stopped): it is announced once fedimeter sees again, if it still fires. fedimeter's own
-- MonitoringDegraded alert is a row of alert_state too (rule_index -1, its reason in
-- labels), so that its resolve edits the message its firing posted.
ALTER TABLE alert_state ADD COLUMN held INTEGER NOT NULL DEFAULT 0; -- 0/1

-- Routes whose webhook Discord reported deleted (404 / code 10015): not called again. The
-- webhook URL is a secret and is not stored; its fingerprint (the first 16 hex digits of
-- its SHA-256) tells whether the configured URL is still the deleted one: a new URL in the
-- config enables the route again at the next start.
CREATE TABLE alert_disabled_routes (
    route       TEXT   NOT NULL PRIMARY KEY,
    since       BIGINT NOT NULL,
    code        BIGINT,         -- Discord's error code (10015), NULL for a bare 404
    fingerprint TEXT   NOT NULL
);
