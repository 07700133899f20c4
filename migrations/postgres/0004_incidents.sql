-- Incidents and scheduled maintenance written by people (`fedimeter incident …`,
-- `fedimeter maintenance …`; src/store/incidents.rs). Times are unix milliseconds.
-- `source` is who wrote the incident ('human' today; 'alert' when alerts draft incidents),
-- `draft` = 1 keeps an incident off the public page and API until a person publishes it,
-- `alert_key` lets an alert find the incident it drafted (NULL for human ones).

CREATE TABLE incidents (
    id          BIGSERIAL PRIMARY KEY,
    title       TEXT    NOT NULL,
    status      TEXT    NOT NULL, -- investigating | identified | monitoring | resolved
    impact      TEXT    NOT NULL, -- none | minor | major | critical
    source      TEXT    NOT NULL DEFAULT 'human',
    draft       INTEGER NOT NULL DEFAULT 0,
    alert_key   TEXT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    resolved_at BIGINT
);
CREATE INDEX incidents_created_at ON incidents (created_at);
CREATE INDEX incidents_alert_key ON incidents (alert_key) WHERE alert_key IS NOT NULL;

-- The components an incident affects and the state the incident gives them.
CREATE TABLE incident_components (
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    component   TEXT   NOT NULL,
    state       TEXT   NOT NULL, -- a component status (operational … major_outage)
    PRIMARY KEY (incident_id, component)
);

CREATE TABLE incident_updates (
    id          BIGSERIAL PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    status      TEXT   NOT NULL,
    body        TEXT   NOT NULL, -- plain text; links are made clickable when rendered
    created_at  BIGINT NOT NULL
);
CREATE INDEX incident_updates_incident ON incident_updates (incident_id, created_at);

-- One-off maintenance windows; `[[maintenance]]` in the config is shown beside them.
CREATE TABLE maintenances (
    id           BIGSERIAL PRIMARY KEY,
    title        TEXT   NOT NULL,
    body         TEXT   NOT NULL DEFAULT '',
    starts_at    BIGINT NOT NULL,
    ends_at      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    cancelled_at BIGINT
);
CREATE INDEX maintenances_ends_at ON maintenances (ends_at);

-- Components under a maintenance; none = every component.
CREATE TABLE maintenance_components (
    maintenance_id BIGINT NOT NULL REFERENCES maintenances (id) ON DELETE CASCADE,
    component      TEXT   NOT NULL,
    PRIMARY KEY (maintenance_id, component)
);
