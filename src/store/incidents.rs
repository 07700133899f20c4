//! Incidents and scheduled maintenance written by people, on either store backend.
//!
//! An incident has a title, an impact, the components it affects (each with the state the
//! incident gives it) and a timeline of updates, each with a status (`investigating`,
//! `identified`, `monitoring`, `resolved`) and a plain-text body. Incidents are never
//! deleted: resolved ones stay in the history. The table also carries `source`, `draft`
//! and `alert_key` so that a later issue can let alerts draft incidents that a person then
//! publishes; drafts are never shown publicly ([`Store::public_incidents`]).
//!
//! Maintenance windows stored here are one-off `[start, end)` windows; cancelling one keeps
//! the row (with `cancelled_at`) and hides it from the page.

use std::collections::HashMap;
use std::fmt;
use std::time::SystemTime;

use anyhow::{Context, bail};

use crate::on_pool;
use crate::sli::ComponentStatus;
use crate::store::{Store, from_unix_ms, unix_ms};

/// An incident's (or one update's) status, Statuspage's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 4] = [
        IncidentStatus::Investigating,
        IncidentStatus::Identified,
        IncidentStatus::Monitoring,
        IncidentStatus::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Identified => "identified",
            IncidentStatus::Monitoring => "monitoring",
            IncidentStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<IncidentStatus> {
        IncidentStatus::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Title-case label for the page and the feeds.
    pub fn label(self) -> &'static str {
        match self {
            IncidentStatus::Investigating => "Investigating",
            IncidentStatus::Identified => "Identified",
            IncidentStatus::Monitoring => "Monitoring",
            IncidentStatus::Resolved => "Resolved",
        }
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An incident's impact (Statuspage `impact`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    None,
    Minor,
    Major,
    Critical,
}

impl Impact {
    pub const ALL: [Impact; 4] = [Impact::None, Impact::Minor, Impact::Major, Impact::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Impact::None => "none",
            Impact::Minor => "minor",
            Impact::Major => "major",
            Impact::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Impact> {
        Impact::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The impact the affected components' states imply, as Statuspage computes it:
    /// degraded → minor, partial outage → major, major outage → critical.
    pub fn of_components(components: &[AffectedComponent]) -> Impact {
        components
            .iter()
            .map(|c| match c.state {
                ComponentStatus::Operational | ComponentStatus::UnderMaintenance => Impact::None,
                ComponentStatus::DegradedPerformance => Impact::Minor,
                ComponentStatus::PartialOutage => Impact::Major,
                ComponentStatus::MajorOutage => Impact::Critical,
            })
            .max()
            .unwrap_or(Impact::None)
    }
}

/// Who wrote an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentSource {
    /// A person, with `fedimeter incident open`.
    Human,
    /// Drafted by an alert (a later issue).
    Alert,
}

impl IncidentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentSource::Human => "human",
            IncidentSource::Alert => "alert",
        }
    }

    fn parse(s: &str) -> IncidentSource {
        if s == "alert" {
            IncidentSource::Alert
        } else {
            IncidentSource::Human
        }
    }
}

/// A component an incident affects, with the state the incident gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedComponent {
    pub component: String,
    pub state: ComponentStatus,
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentUpdate {
    pub id: i64,
    pub status: IncidentStatus,
    /// Plain text, never HTML.
    pub body: String,
    pub created_at: SystemTime,
}

/// A stored incident with its components and updates (oldest update first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: i64,
    pub title: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub source: IncidentSource,
    pub draft: bool,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
    pub resolved_at: Option<SystemTime>,
    pub components: Vec<AffectedComponent>,
    pub updates: Vec<IncidentUpdate>,
}

impl Incident {
    /// When the first update reported `monitoring`, if one did.
    pub fn monitoring_at(&self) -> Option<SystemTime> {
        self.updates
            .iter()
            .find(|u| u.status == IncidentStatus::Monitoring)
            .map(|u| u.created_at)
    }

    pub fn is_resolved(&self) -> bool {
        self.status == IncidentStatus::Resolved
    }
}

/// What `fedimeter incident open` writes.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub title: String,
    pub status: IncidentStatus,
    /// `None` = computed from the components' states.
    pub impact: Option<Impact>,
    pub components: Vec<AffectedComponent>,
    /// The first update's text.
    pub body: String,
    pub source: IncidentSource,
    pub draft: bool,
    pub alert_key: Option<String>,
    pub at: SystemTime,
}

/// What `fedimeter incident update|resolve` writes.
#[derive(Debug, Clone)]
pub struct NewUpdate {
    pub status: IncidentStatus,
    pub body: String,
    /// `Some` replaces the affected components (and recomputes the impact unless given).
    pub components: Option<Vec<AffectedComponent>>,
    pub impact: Option<Impact>,
    pub at: SystemTime,
}

/// A stored maintenance window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub starts_at: SystemTime,
    pub ends_at: SystemTime,
    pub created_at: SystemTime,
    pub cancelled_at: Option<SystemTime>,
    /// Component ids; empty = every component.
    pub components: Vec<String>,
}

/// What `fedimeter maintenance add` writes.
#[derive(Debug, Clone)]
pub struct NewMaintenance {
    pub title: String,
    pub body: String,
    pub starts_at: SystemTime,
    pub ends_at: SystemTime,
    pub components: Vec<String>,
    pub at: SystemTime,
}

type IncidentRow = (
    i64,
    String,
    String,
    String,
    String,
    i32,
    i64,
    i64,
    Option<i64>,
);

type MaintenanceRow = (i64, String, String, i64, i64, i64, Option<i64>);

/// (update id, status, body, created_at)
type UpdateRow = (i64, String, String, i64);
/// (component, state)
type ComponentRow = (String, String);

/// An incident from its row, its (component, state) rows and its update rows (oldest first).
fn assemble_incident(
    row: IncidentRow,
    components: Vec<ComponentRow>,
    updates: Vec<UpdateRow>,
) -> Incident {
    let (id, title, status, impact, source, draft, created, updated, resolved) = row;
    Incident {
        id,
        title,
        status: IncidentStatus::parse(&status).unwrap_or(IncidentStatus::Investigating),
        impact: Impact::parse(&impact).unwrap_or(Impact::None),
        source: IncidentSource::parse(&source),
        draft: draft != 0,
        created_at: from_unix_ms(created),
        updated_at: from_unix_ms(updated),
        resolved_at: resolved.map(from_unix_ms),
        components: components
            .into_iter()
            .filter_map(|(component, state)| {
                ComponentStatus::parse(&state).map(|state| AffectedComponent { component, state })
            })
            .collect(),
        updates: updates
            .into_iter()
            .map(|(uid, status, body, at)| IncidentUpdate {
                id: uid,
                status: IncidentStatus::parse(&status).unwrap_or(IncidentStatus::Investigating),
                body,
                created_at: from_unix_ms(at),
            })
            .collect(),
    }
}

const INCIDENT_COLUMNS: &str =
    "id, title, status, impact, source, draft, created_at, updated_at, resolved_at";

impl Store {
    /// Opens an incident with its first update; returns its id.
    pub async fn open_incident(&self, new: &NewIncident) -> anyhow::Result<i64> {
        if new.title.trim().is_empty() {
            bail!("an incident needs a title");
        }
        let impact = new
            .impact
            .unwrap_or_else(|| Impact::of_components(&new.components));
        let at = unix_ms(new.at);
        let resolved_at = (new.status == IncidentStatus::Resolved).then_some(at);
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await.context("starting an incident")?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO incidents (title, status, impact, source, draft, alert_key, \
                 created_at, updated_at, resolved_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id",
            )
            .bind(new.title.trim())
            .bind(new.status.as_str())
            .bind(impact.as_str())
            .bind(new.source.as_str())
            .bind(i32::from(new.draft))
            .bind(new.alert_key.as_deref())
            .bind(at)
            .bind(resolved_at)
            .fetch_one(&mut *tx)
            .await
            .context("inserting an incident")?;
            for c in &new.components {
                sqlx::query(
                    "INSERT INTO incident_components (incident_id, component, state) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(&c.component)
                .bind(c.state.as_str())
                .execute(&mut *tx)
                .await
                .context("inserting an incident's components")?;
            }
            sqlx::query(
                "INSERT INTO incident_updates (incident_id, status, body, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(new.status.as_str())
            .bind(&new.body)
            .bind(at)
            .execute(&mut *tx)
            .await
            .context("inserting an incident update")?;
            tx.commit().await.context("committing an incident")?;
            Ok(id)
        })
    }

    /// Adds an update to incident `id` and moves the incident to its status. Resolving sets
    /// `resolved_at`; an update after that (a correction) re-opens it only if its status is
    /// not `resolved`. Fails when there is no such incident.
    pub async fn update_incident(&self, id: i64, update: &NewUpdate) -> anyhow::Result<()> {
        let at = unix_ms(update.at);
        let resolved_at = (update.status == IncidentStatus::Resolved).then_some(at);
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await.context("starting an incident update")?;
            let done = sqlx::query(
                "UPDATE incidents SET status = $2, updated_at = $3, \
                 resolved_at = CASE WHEN $4 IS NULL THEN NULL ELSE COALESCE(resolved_at, $4) END \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(update.status.as_str())
            .bind(at)
            .bind(resolved_at)
            .execute(&mut *tx)
            .await
            .context("updating an incident")?;
            if done.rows_affected() == 0 {
                bail!("there is no incident {id}");
            }
            if let Some(components) = &update.components {
                sqlx::query("DELETE FROM incident_components WHERE incident_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .context("replacing an incident's components")?;
                for c in components {
                    sqlx::query(
                        "INSERT INTO incident_components (incident_id, component, state) VALUES ($1, $2, $3)",
                    )
                    .bind(id)
                    .bind(&c.component)
                    .bind(c.state.as_str())
                    .execute(&mut *tx)
                    .await
                    .context("inserting an incident's components")?;
                }
            }
            let impact = match (update.impact, &update.components) {
                (Some(impact), _) => Some(impact),
                (None, Some(components)) => Some(Impact::of_components(components)),
                (None, None) => None,
            };
            if let Some(impact) = impact {
                sqlx::query("UPDATE incidents SET impact = $2 WHERE id = $1")
                    .bind(id)
                    .bind(impact.as_str())
                    .execute(&mut *tx)
                    .await
                    .context("setting an incident's impact")?;
            }
            sqlx::query(
                "INSERT INTO incident_updates (incident_id, status, body, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(update.status.as_str())
            .bind(&update.body)
            .bind(at)
            .execute(&mut *tx)
            .await
            .context("inserting an incident update")?;
            tx.commit().await.context("committing an incident update")?;
            Ok(())
        })
    }

    /// Publishes a draft incident (for alert-drafted incidents).
    pub async fn publish_incident(&self, id: i64) -> anyhow::Result<()> {
        let done = on_pool!(self, |pool| sqlx::query(
            "UPDATE incidents SET draft = 0 WHERE id = $1"
        )
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .context("publishing an incident")?;
        if done == 0 {
            bail!("there is no incident {id}");
        }
        Ok(())
    }

    /// The `limit` most recent incidents (drafts included), newest first.
    pub async fn incidents(&self, limit: i64) -> anyhow::Result<Vec<Incident>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents ORDER BY created_at DESC, id DESC LIMIT $1"
        );
        let rows: Vec<IncidentRow> = on_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .bind(limit)
        .fetch_all(pool)
        .await)
        .context("reading incidents")?;
        self.complete_incidents(rows).await
    }

    /// The `limit` most recent published incidents plus every unresolved published one,
    /// newest first: what the page, the API and the feeds show.
    pub async fn public_incidents(&self, limit: i64) -> anyhow::Result<Vec<Incident>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE draft = 0 AND (status <> 'resolved' \
             OR id IN (SELECT id FROM incidents WHERE draft = 0 ORDER BY created_at DESC, id DESC LIMIT $1)) \
             ORDER BY created_at DESC, id DESC"
        );
        let rows: Vec<IncidentRow> = on_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .bind(limit)
        .fetch_all(pool)
        .await)
        .context("reading incidents")?;
        self.complete_incidents(rows).await
    }

    /// One incident by id.
    pub async fn incident(&self, id: i64) -> anyhow::Result<Option<Incident>> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
        let rows: Vec<IncidentRow> = on_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .bind(id)
        .fetch_all(pool)
        .await)
        .context("reading an incident")?;
        Ok(self.complete_incidents(rows).await?.into_iter().next())
    }

    /// Every published incident, newest first, in three queries whatever their number:
    /// what `/history` and the incident pages show (past incidents never disappear).
    pub async fn all_public_incidents(&self) -> anyhow::Result<Vec<Incident>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE draft = 0 ORDER BY created_at DESC, id DESC"
        );
        let rows: Vec<IncidentRow> = on_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .fetch_all(pool)
        .await)
        .context("reading incidents")?;
        let components: Vec<(i64, String, String)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT c.incident_id, c.component, c.state FROM incident_components c \
             JOIN incidents i ON i.id = c.incident_id WHERE i.draft = 0 \
             ORDER BY c.incident_id, c.component"
        )
        .fetch_all(pool)
        .await)
        .context("reading the incidents' components")?;
        let updates: Vec<(i64, i64, String, String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT u.incident_id, u.id, u.status, u.body, u.created_at FROM incident_updates u \
                 JOIN incidents i ON i.id = u.incident_id WHERE i.draft = 0 \
                 ORDER BY u.incident_id, u.created_at, u.id",
            )
            .fetch_all(pool)
            .await
        })
        .context("reading the incidents' updates")?;
        let mut by_id: HashMap<i64, (Vec<ComponentRow>, Vec<UpdateRow>)> = HashMap::new();
        for (id, component, state) in components {
            by_id.entry(id).or_default().0.push((component, state));
        }
        for (id, uid, status, body, at) in updates {
            by_id.entry(id).or_default().1.push((uid, status, body, at));
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let (components, updates) = by_id.remove(&row.0).unwrap_or_default();
                assemble_incident(row, components, updates)
            })
            .collect())
    }

    async fn complete_incidents(&self, rows: Vec<IncidentRow>) -> anyhow::Result<Vec<Incident>> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id = row.0;
            let components: Vec<(String, String)> = on_pool!(self, |pool| sqlx::query_as(
                "SELECT component, state FROM incident_components WHERE incident_id = $1 ORDER BY component"
            )
            .bind(id)
            .fetch_all(pool)
            .await)
            .context("reading an incident's components")?;
            let updates: Vec<UpdateRow> = on_pool!(self, |pool| {
                sqlx::query_as(
                "SELECT id, status, body, created_at FROM incident_updates WHERE incident_id = $1 \
                 ORDER BY created_at, id"
            )
            .bind(id)
            .fetch_all(pool)
            .await
            })
            .context("reading an incident's updates")?;
            out.push(assemble_incident(row, components, updates));
        }
        Ok(out)
    }

    /// Stores a maintenance window; returns its id.
    pub async fn add_maintenance(&self, new: &NewMaintenance) -> anyhow::Result<i64> {
        if new.title.trim().is_empty() {
            bail!("a maintenance needs a title");
        }
        if new.ends_at <= new.starts_at {
            bail!("a maintenance must end after it starts");
        }
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await.context("starting a maintenance")?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO maintenances (title, body, starts_at, ends_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(new.title.trim())
            .bind(&new.body)
            .bind(unix_ms(new.starts_at))
            .bind(unix_ms(new.ends_at))
            .bind(unix_ms(new.at))
            .fetch_one(&mut *tx)
            .await
            .context("inserting a maintenance")?;
            for c in &new.components {
                sqlx::query(
                    "INSERT INTO maintenance_components (maintenance_id, component) VALUES ($1, $2)",
                )
                .bind(id)
                .bind(c)
                .execute(&mut *tx)
                .await
                .context("inserting a maintenance's components")?;
            }
            tx.commit().await.context("committing a maintenance")?;
            Ok(id)
        })
    }

    /// Cancels maintenance `id` (the row stays); fails when there is none to cancel.
    pub async fn cancel_maintenance(&self, id: i64, at: SystemTime) -> anyhow::Result<()> {
        let done = on_pool!(self, |pool| sqlx::query(
            "UPDATE maintenances SET cancelled_at = $2 WHERE id = $1 AND cancelled_at IS NULL"
        )
        .bind(id)
        .bind(unix_ms(at))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .context("cancelling a maintenance")?;
        if done == 0 {
            bail!("there is no maintenance {id} to cancel");
        }
        Ok(())
    }

    /// Maintenance windows ending after `since`, cancelled ones only when asked, by start.
    pub async fn maintenances(
        &self,
        since: SystemTime,
        with_cancelled: bool,
    ) -> anyhow::Result<Vec<Maintenance>> {
        let rows: Vec<MaintenanceRow> =
            on_pool!(self, |pool| sqlx::query_as(
                "SELECT id, title, body, starts_at, ends_at, created_at, cancelled_at FROM maintenances \
                 WHERE ends_at > $1 AND ($2 = 1 OR cancelled_at IS NULL) ORDER BY starts_at, id"
            )
            .bind(unix_ms(since))
            .bind(i32::from(with_cancelled))
            .fetch_all(pool)
            .await)
            .context("reading maintenances")?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, title, body, starts, ends, created, cancelled) in rows {
            let components: Vec<(String,)> = on_pool!(self, |pool| sqlx::query_as(
                "SELECT component FROM maintenance_components WHERE maintenance_id = $1 ORDER BY component"
            )
            .bind(id)
            .fetch_all(pool)
            .await)
            .context("reading a maintenance's components")?;
            out.push(Maintenance {
                id,
                title,
                body,
                starts_at: from_unix_ms(starts),
                ends_at: from_unix_ms(ends),
                created_at: from_unix_ms(created),
                cancelled_at: cancelled.map(from_unix_ms),
                components: components.into_iter().map(|(c,)| c).collect(),
            });
        }
        Ok(out)
    }
}
