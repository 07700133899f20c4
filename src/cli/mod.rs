//! `fedimeter incident …` and `fedimeter maintenance …`: people write incidents and
//! maintenance windows into the configured store, which a running `serve` reads (its page
//! and API show an incident within seconds; a maintenance window applies — page, SLI
//! minutes, alert mute — within `sli::maintenance_watch::REFRESH_EVERY`, 15 s). The clap
//! types live here; `main.rs` only routes.

use std::fmt::Write as _;
use std::time::SystemTime;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::sli::ComponentStatus;
use crate::store::Store;
use crate::store::incidents::{
    AffectedComponent, Impact, Incident, IncidentSource, IncidentStatus, Maintenance, NewIncident,
    NewMaintenance, NewUpdate,
};

/// `fedimeter incident …`
#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Open an incident: a title, the affected components and a first message.
    Open {
        /// The public title, e.g. "Posts are delivered late".
        #[arg(long)]
        title: String,
        #[command(flatten)]
        update: UpdateArgs,
    },
    /// Add an update to an incident (status and message).
    Update {
        /// The incident id (see `incident list`).
        id: i64,
        #[command(flatten)]
        update: UpdateArgs,
    },
    /// Resolve an incident with a closing message.
    Resolve {
        id: i64,
        /// The closing message.
        #[arg(long, short = 'm', default_value = "This incident has been resolved.")]
        message: String,
    },
    /// List the most recent incidents.
    List {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

/// The fields every incident update carries.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// investigating, identified, monitoring or resolved.
    #[arg(long, default_value = "investigating", value_parser = parse_incident_status)]
    status: IncidentStatus,
    /// The update's text: plain text, links become clickable on the page.
    #[arg(long, short = 'm')]
    message: String,
    /// An affected component as `ID=STATE` (degraded_performance, partial_outage,
    /// major_outage, operational); repeat for several. On `update`, replaces the list.
    #[arg(long = "component", value_name = "ID=STATE", value_parser = parse_affected)]
    components: Vec<AffectedComponent>,
    /// none, minor, major or critical; default: from the components' states.
    #[arg(long, value_parser = parse_impact)]
    impact: Option<Impact>,
}

/// `fedimeter maintenance …`
#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Schedule a maintenance window (shown as upcoming, then in progress; its minutes
    /// count as maintenance, not as up or down).
    Add {
        #[arg(long)]
        title: String,
        /// Start, RFC 3339 (e.g. 2026-12-08T02:00:00Z).
        #[arg(long, value_parser = parse_time)]
        start: SystemTime,
        /// End, RFC 3339.
        #[arg(long, value_parser = parse_time)]
        end: SystemTime,
        /// A component id under maintenance; repeat for several; none = every component.
        #[arg(long = "component", value_name = "ID")]
        components: Vec<String>,
        /// A longer public description.
        #[arg(long, short = 'm', default_value = "")]
        message: String,
    },
    /// List maintenance windows that have not ended.
    List {
        /// Include cancelled windows.
        #[arg(long)]
        all: bool,
    },
    /// Cancel a maintenance window (it disappears from the page).
    Cancel { id: i64 },
}

fn parse_incident_status(s: &str) -> Result<IncidentStatus, String> {
    IncidentStatus::parse(s)
        .ok_or_else(|| "expected investigating, identified, monitoring or resolved".to_string())
}

fn parse_impact(s: &str) -> Result<Impact, String> {
    Impact::parse(s).ok_or_else(|| "expected none, minor, major or critical".to_string())
}

fn parse_affected(s: &str) -> Result<AffectedComponent, String> {
    let (id, state) = s
        .split_once('=')
        .ok_or_else(|| "expected ID=STATE, e.g. web=partial_outage".to_string())?;
    let state = ComponentStatus::parse(state.trim()).ok_or_else(|| {
        "STATE is one of operational, degraded_performance, partial_outage, major_outage, \
         under_maintenance"
            .to_string()
    })?;
    Ok(AffectedComponent {
        component: id.trim().to_string(),
        state,
    })
}

fn parse_time(s: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(s).map_err(|e| format!("expected an RFC 3339 time: {e}"))
}

/// Rejects component ids the config does not define (so a typo never silently affects
/// nothing); with no components configured any id is refused.
fn check_components<'a>(
    config: &Config,
    ids: impl IntoIterator<Item = &'a str>,
) -> anyhow::Result<()> {
    let known: Vec<String> = config.components.iter().map(|c| c.id.clone()).collect();
    for id in ids {
        if !known.iter().any(|k| k == id) {
            bail!(
                "unknown component {id:?}; the configured components are: {}",
                if known.is_empty() {
                    "(none)".to_string()
                } else {
                    known.join(", ")
                }
            );
        }
    }
    Ok(())
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    Store::open(&config.store.url)
        .await
        .context("opening the store")
}

/// Runs `fedimeter incident …`, printing what it did to stdout.
pub async fn run_incident(config: &Config, command: IncidentCommand) -> anyhow::Result<String> {
    let now = SystemTime::now();
    let mut out = String::new();
    match command {
        IncidentCommand::Open { title, update } => {
            check_components(
                config,
                update.components.iter().map(|c| c.component.as_str()),
            )?;
            let store = open_store(config).await?;
            let id = store
                .open_incident(&NewIncident {
                    title,
                    status: update.status,
                    impact: update.impact,
                    components: update.components,
                    body: update.message,
                    source: IncidentSource::Human,
                    draft: false,
                    alert_key: None,
                    at: now,
                })
                .await?;
            store.close().await;
            let _ = writeln!(out, "opened incident {id}");
        }
        IncidentCommand::Update { id, update } => {
            check_components(
                config,
                update.components.iter().map(|c| c.component.as_str()),
            )?;
            let store = open_store(config).await?;
            let components = (!update.components.is_empty()).then_some(update.components);
            store
                .update_incident(
                    id,
                    &NewUpdate {
                        status: update.status,
                        body: update.message,
                        components,
                        impact: update.impact,
                        at: now,
                    },
                )
                .await?;
            store.close().await;
            let _ = writeln!(out, "updated incident {id}: {}", update.status);
        }
        IncidentCommand::Resolve { id, message } => {
            let store = open_store(config).await?;
            store
                .update_incident(
                    id,
                    &NewUpdate {
                        status: IncidentStatus::Resolved,
                        body: message,
                        components: None,
                        impact: None,
                        at: now,
                    },
                )
                .await?;
            store.close().await;
            let _ = writeln!(out, "resolved incident {id}");
        }
        IncidentCommand::List { limit } => {
            let store = open_store(config).await?;
            let incidents = store.incidents(limit).await?;
            store.close().await;
            out = list_incidents(&incidents);
        }
    }
    Ok(out)
}

/// Runs `fedimeter maintenance …`, printing what it did to stdout.
pub async fn run_maintenance(
    config: &Config,
    command: MaintenanceCommand,
) -> anyhow::Result<String> {
    let now = SystemTime::now();
    let mut out = String::new();
    match command {
        MaintenanceCommand::Add {
            title,
            start,
            end,
            components,
            message,
        } => {
            check_components(config, components.iter().map(String::as_str))?;
            let store = open_store(config).await?;
            let id = store
                .add_maintenance(&NewMaintenance {
                    title,
                    body: message,
                    starts_at: start,
                    ends_at: end,
                    components,
                    at: now,
                })
                .await?;
            store.close().await;
            let _ = writeln!(out, "scheduled maintenance {id}");
        }
        MaintenanceCommand::List { all } => {
            let store = open_store(config).await?;
            let list = store.maintenances(now, all).await?;
            store.close().await;
            out = list_maintenances(&list);
        }
        MaintenanceCommand::Cancel { id } => {
            let store = open_store(config).await?;
            store.cancel_maintenance(id, now).await?;
            store.close().await;
            let _ = writeln!(out, "cancelled maintenance {id}");
        }
    }
    Ok(out)
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `incident list`: one line per incident, newest first.
pub fn list_incidents(incidents: &[Incident]) -> String {
    let mut out = String::new();
    if incidents.is_empty() {
        out.push_str("no incidents\n");
    }
    for i in incidents {
        let components: Vec<String> = i
            .components
            .iter()
            .map(|c| format!("{}={}", c.component, c.state))
            .collect();
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}{}\t{}\t[{}]",
            i.id,
            rfc3339(i.created_at),
            i.status,
            i.impact.as_str(),
            if i.draft { " (draft)" } else { "" },
            i.title,
            components.join(" ")
        );
    }
    out
}

/// `maintenance list`: one line per window, by start.
pub fn list_maintenances(list: &[Maintenance]) -> String {
    let mut out = String::new();
    if list.is_empty() {
        out.push_str("no maintenance scheduled\n");
    }
    for m in list {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}{}\t[{}]",
            m.id,
            rfc3339(m.starts_at),
            rfc3339(m.ends_at),
            m.title,
            if m.cancelled_at.is_some() {
                " (cancelled)"
            } else {
                ""
            },
            if m.components.is_empty() {
                "all components".to_string()
            } else {
                m.components.join(" ")
            }
        );
    }
    out
}
