-- SLI history (src/sli/store.rs). Times are unix milliseconds; buckets are indexed by unix
-- minute / hour / day (UTC). A bucket row exists only when fedimeter recorded a state in it:
-- a missing row is "no data", never up or down.

-- Every probe attempt; short retention (default 14 days).
CREATE TABLE probe_results (
    probe            TEXT             NOT NULL,
    at               BIGINT           NOT NULL,
    success          INTEGER          NOT NULL, -- 0/1
    degraded         INTEGER          NOT NULL, -- 0/1: succeeded over its latency threshold
    duration_seconds REAL             NOT NULL
);
CREATE INDEX probe_results_probe_at ON probe_results (probe, at);
CREATE INDEX probe_results_at ON probe_results (at);

-- One row per SLI (component id) and minute: the worst state evaluated in that minute
-- (0 operational, 1 degraded_performance, 2 partial_outage, 3 major_outage, 4 under_maintenance).
CREATE TABLE sli_minutes (
    minute BIGINT  NOT NULL,
    sli    TEXT    NOT NULL,
    state  INTEGER NOT NULL,
    PRIMARY KEY (minute, sli)
) WITHOUT ROWID;

-- Rollups recomputed from the level below whenever it changes: windows read at most
-- 59 minutes + 23 hours + N days + 23 hours + 59 minutes per SLI.
-- worst = the worst outage rank (1..3) among bad minutes, NULL when none.
CREATE TABLE sli_hours (
    hour        BIGINT  NOT NULL,
    sli         TEXT    NOT NULL,
    good        INTEGER NOT NULL,
    bad         INTEGER NOT NULL,
    maintenance INTEGER NOT NULL,
    worst       INTEGER,
    PRIMARY KEY (hour, sli)
) WITHOUT ROWID;
CREATE TABLE sli_days (
    day         BIGINT  NOT NULL,
    sli         TEXT    NOT NULL,
    good        INTEGER NOT NULL,
    bad         INTEGER NOT NULL,
    maintenance INTEGER NOT NULL,
    worst       INTEGER,
    PRIMARY KEY (day, sli)
) WITHOUT ROWID;

-- Component states over time, as state_intervals: an open interval is the current state,
-- closed at last_seen_at when fedimeter restarts.
CREATE TABLE component_intervals (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    component    TEXT   NOT NULL,
    state        TEXT   NOT NULL,
    started_at   BIGINT NOT NULL,
    ended_at     BIGINT,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX component_intervals_component ON component_intervals (component, started_at);
CREATE INDEX component_intervals_open ON component_intervals (ended_at) WHERE ended_at IS NULL;
