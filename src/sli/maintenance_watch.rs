//! The maintenance windows now: one source for the SLI task, the alert evaluator and the
//! page, so the three always agree. It is the config's `[[maintenance]]` plus the store's
//! windows that have not ended (written by `fedimeter maintenance add|cancel`), merged by
//! the pure [`merge`] and re-read by [`run`] every [`REFRESH_EVERY`]; readers take the
//! latest immutable [`MaintenanceNow`] from a `watch` channel ([`channel`]) and never wait.
//!
//! The store is a soft dependency: before its first read the list holds the config's
//! windows, and while it is away the last list read stays. A stored window applies over
//! `[start, min(end, cancelled_at))` exactly like a one-off `[[maintenance]]` window
//! ([`super::maintenance::under_maintenance`]). Its component ids are mapped to the
//! configured components: an unknown id is ignored with one warning, and a window left
//! without any known component is ignored altogether (an empty list would mean "every
//! component").

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::maintenance;
use crate::config::{MaintenanceSchedule, MaintenanceWindow};
use crate::store::handle::{StoreError, StoreHandle};
use crate::store::incidents::Maintenance;

/// How often a running `serve` re-reads the stored windows: a window added or cancelled
/// with the CLI applies within this.
pub const REFRESH_EVERY: Duration = Duration::from_secs(15);
/// How often to look again while the store is down (the handle answers at once, no I/O),
/// so the stored windows apply as soon as it is back.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

/// The maintenance windows as last read. Immutable once sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MaintenanceNow {
    /// `[[maintenance]]`, as written (the page lists their current or next occurrence).
    pub config: Vec<MaintenanceWindow>,
    /// Stored windows to list on the page: not cancelled, not ended when read, components
    /// mapped to the configured ones; by start.
    pub stored: Vec<Maintenance>,
    /// What applies: `config`, then every stored window (cancelled ones up to their cancel
    /// time) as a one-off window.
    pub applied: Vec<MaintenanceWindow>,
}

impl MaintenanceNow {
    /// The config's windows only (before the store is read).
    pub fn from_config(config: Vec<MaintenanceWindow>) -> MaintenanceNow {
        MaintenanceNow {
            applied: config.clone(),
            config,
            stored: Vec::new(),
        }
    }

    /// Whether `component_id` is under maintenance at `t`.
    pub fn under_maintenance(&self, component_id: &str, t: SystemTime) -> bool {
        maintenance::under_maintenance(&self.applied, component_id, t)
    }
}

/// A stored window that names components the config does not define.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// The stored window's id (`fedimeter maintenance list`).
    pub id: i64,
    /// The unknown component ids it names.
    pub unknown: Vec<String>,
    /// Whether no known component was left, so the whole window is ignored.
    pub whole_window: bool,
}

/// Merges the config's windows with stored ones at `now`: stored windows that ended (or
/// were cancelled) by `now` are left out, cancelled ones apply up to their cancel time, and
/// component ids are mapped to `known` (see [`Ignored`]).
pub fn merge(
    config: &[MaintenanceWindow],
    stored: Vec<Maintenance>,
    known: &[&str],
    now: SystemTime,
) -> (MaintenanceNow, Vec<Ignored>) {
    let mut merged = MaintenanceNow::from_config(config.to_vec());
    let mut ignored = Vec::new();
    for mut m in stored {
        let (kept, unknown): (Vec<String>, Vec<String>) = m
            .components
            .into_iter()
            .partition(|c| known.contains(&c.as_str()));
        let whole_window = kept.is_empty() && !unknown.is_empty();
        if !unknown.is_empty() {
            ignored.push(Ignored {
                id: m.id,
                unknown,
                whole_window,
            });
        }
        if whole_window {
            continue;
        }
        m.components = kept;
        let end = m.cancelled_at.map_or(m.ends_at, |c| c.min(m.ends_at));
        if end <= now || end <= m.starts_at {
            continue;
        }
        merged.applied.push(MaintenanceWindow {
            title: m.title.clone(),
            components: m.components.clone(),
            schedule: MaintenanceSchedule::Once {
                start: m.starts_at,
                end,
            },
        });
        if m.cancelled_at.is_none() {
            merged.stored.push(m);
        }
    }
    merged.stored.sort_by_key(|a| (a.starts_at, a.id));
    (merged, ignored)
}

/// The sending half, owned by [`run`].
pub type MaintenanceSender = watch::Sender<Arc<MaintenanceNow>>;
/// The receiving half: the SLI task, the alert evaluator and the page each hold one.
pub type MaintenanceReceiver = watch::Receiver<Arc<MaintenanceNow>>;

/// A channel holding the config's windows until the store is first read.
pub fn channel(config: Vec<MaintenanceWindow>) -> (MaintenanceSender, MaintenanceReceiver) {
    watch::channel(Arc::new(MaintenanceNow::from_config(config)))
}

/// Reads the stored windows that end after `now` (cancelled ones too, which apply up to
/// their cancel time) and merges them with `config`.
pub async fn read(
    store: &StoreHandle,
    config: &[MaintenanceWindow],
    known: &[&str],
    now: SystemTime,
) -> Result<(MaintenanceNow, Vec<Ignored>), StoreError> {
    let stored = store
        .call(None, |s| async move { s.maintenances(now, true).await })
        .await?;
    Ok(merge(config, stored, known, now))
}

/// Re-reads the stored windows every [`REFRESH_EVERY`] (every [`RETRY_EVERY`] while the
/// store is down) until `shutdown`, sending the merged list whenever it changed. `known`:
/// the configured component ids. Call once from the app with the sender of [`channel`].
pub async fn run(
    store: StoreHandle,
    config: Vec<MaintenanceWindow>,
    known: Vec<String>,
    sender: MaintenanceSender,
    shutdown: CancellationToken,
) {
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let mut warned: HashSet<i64> = HashSet::new();
    loop {
        let wait = match read(&store, &config, &known, SystemTime::now()).await {
            Ok((merged, ignored)) => {
                for i in ignored {
                    if warned.insert(i.id) {
                        warn_ignored(&i, &known);
                    }
                }
                sender.send_if_modified(|current| {
                    let changed = **current != merged;
                    if changed {
                        *current = Arc::new(merged);
                    }
                    changed
                });
                REFRESH_EVERY
            }
            // Down: the handle logged it once; keep the last list and look again soon.
            Err(StoreError::Unavailable) => RETRY_EVERY,
            Err(StoreError::TimedOut(_)) => REFRESH_EVERY,
            Err(StoreError::Failed(e)) => {
                if store.is_up() {
                    tracing::warn!("reading the stored maintenance windows: {e:#}");
                }
                REFRESH_EVERY
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

fn warn_ignored(i: &Ignored, known: &[&str]) {
    let what = if i.whole_window {
        "ignoring the window"
    } else {
        "ignoring those components"
    };
    tracing::warn!(
        "stored maintenance {} names unknown components {}; {what} (the configured \
         components are: {})",
        i.id,
        i.unknown.join(", "),
        if known.is_empty() {
            "(none)".to_string()
        } else {
            known.join(", ")
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> SystemTime {
        humantime::parse_rfc3339(rfc3339).expect("valid timestamp")
    }

    fn stored(
        id: i64,
        components: &[&str],
        start: &str,
        end: &str,
        cancelled: Option<&str>,
    ) -> Maintenance {
        Maintenance {
            id,
            title: format!("stored {id}"),
            body: String::new(),
            starts_at: at(start),
            ends_at: at(end),
            created_at: at("2026-11-01T00:00:00Z"),
            cancelled_at: cancelled.map(at),
            components: components.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn config_window() -> MaintenanceWindow {
        MaintenanceWindow {
            title: "config".into(),
            components: vec!["streaming".into()],
            schedule: MaintenanceSchedule::Once {
                start: at("2026-11-22T01:00:00Z"),
                end: at("2026-11-22T02:00:00Z"),
            },
        }
    }

    const KNOWN: &[&str] = &["website", "streaming", "media"];

    #[test]
    fn config_and_stored_windows_apply_alike() {
        let now = at("2026-11-22T00:30:00Z");
        let (merged, ignored) = merge(
            &[config_window()],
            vec![stored(
                7,
                &["website"],
                "2026-11-22T00:00:00Z",
                "2026-11-22T03:00:00Z",
                None,
            )],
            KNOWN,
            now,
        );
        assert!(ignored.is_empty());
        assert_eq!(merged.config, vec![config_window()]);
        assert_eq!(merged.applied.len(), 2);
        assert_eq!(merged.stored.iter().map(|m| m.id).collect::<Vec<_>>(), [7]);
        // (component, time, expected): the stored window is [00:00, 03:00) for website,
        // the config window [01:00, 02:00) for streaming; media has none.
        for (component, t, expected) in [
            ("website", "2026-11-21T23:59:59Z", false),
            ("website", "2026-11-22T00:00:00Z", true),
            ("website", "2026-11-22T02:59:59Z", true),
            ("website", "2026-11-22T03:00:00Z", false),
            ("streaming", "2026-11-22T00:30:00Z", false),
            ("streaming", "2026-11-22T01:00:00Z", true),
            ("streaming", "2026-11-22T02:00:00Z", false),
            ("media", "2026-11-22T01:30:00Z", false),
        ] {
            assert_eq!(
                merged.under_maintenance(component, at(t)),
                expected,
                "{component} {t}"
            );
        }
    }

    #[test]
    fn a_stored_window_without_components_covers_every_component() {
        let now = at("2026-11-22T00:30:00Z");
        let (merged, _) = merge(
            &[],
            vec![stored(
                1,
                &[],
                "2026-11-22T00:00:00Z",
                "2026-11-22T01:00:00Z",
                None,
            )],
            KNOWN,
            now,
        );
        for c in KNOWN {
            assert!(merged.under_maintenance(c, now), "{c}");
        }
    }

    #[test]
    fn a_cancelled_window_stops_applying_at_its_cancel_time_and_is_not_listed() {
        // Cancelled at 00:40 (a clock a little ahead of ours): applies until then.
        let now = at("2026-11-22T00:30:00Z");
        let (merged, ignored) = merge(
            &[],
            vec![stored(
                3,
                &["website"],
                "2026-11-22T00:00:00Z",
                "2026-11-22T03:00:00Z",
                Some("2026-11-22T00:40:00Z"),
            )],
            KNOWN,
            now,
        );
        assert!(ignored.is_empty());
        assert!(merged.stored.is_empty(), "the page no longer lists it");
        assert!(merged.under_maintenance("website", at("2026-11-22T00:39:59Z")));
        assert!(!merged.under_maintenance("website", at("2026-11-22T00:40:00Z")));
        assert!(!merged.under_maintenance("website", at("2026-11-22T02:00:00Z")));
        // Cancelled before now, or before it started: nothing applies any more.
        let (merged, _) = merge(
            &[],
            vec![
                stored(
                    4,
                    &["website"],
                    "2026-11-22T00:00:00Z",
                    "2026-11-22T03:00:00Z",
                    Some("2026-11-22T00:10:00Z"),
                ),
                stored(
                    5,
                    &["website"],
                    "2026-11-22T06:00:00Z",
                    "2026-11-22T07:00:00Z",
                    Some("2026-11-22T00:10:00Z"),
                ),
            ],
            KNOWN,
            now,
        );
        assert_eq!(merged, MaintenanceNow::from_config(Vec::new()));
        assert!(!merged.under_maintenance("website", at("2026-11-22T06:30:00Z")));
    }

    #[test]
    fn ended_windows_are_left_out_and_upcoming_ones_are_kept_by_start() {
        let now = at("2026-11-22T12:00:00Z");
        let (merged, _) = merge(
            &[],
            vec![
                stored(
                    1,
                    &["media"],
                    "2026-11-22T10:00:00Z",
                    "2026-11-22T12:00:00Z",
                    None,
                ),
                stored(
                    3,
                    &["website"],
                    "2026-11-23T02:00:00Z",
                    "2026-11-23T03:00:00Z",
                    None,
                ),
                stored(
                    2,
                    &["streaming"],
                    "2026-11-22T11:00:00Z",
                    "2026-11-22T13:00:00Z",
                    None,
                ),
            ],
            KNOWN,
            now,
        );
        // Window 1 ended at 12:00 ([start, end)): gone. 2 is active, 3 upcoming.
        assert_eq!(
            merged.stored.iter().map(|m| m.id).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(merged.applied.len(), 2);
        assert!(!merged.under_maintenance("media", now));
        assert!(merged.under_maintenance("streaming", now));
        assert!(!merged.under_maintenance("website", now));
        assert!(merged.under_maintenance("website", at("2026-11-23T02:00:00Z")));
    }

    #[test]
    fn unknown_components_are_ignored_and_reported() {
        let now = at("2026-11-22T00:30:00Z");
        let (merged, ignored) = merge(
            &[],
            vec![
                stored(
                    1,
                    &["website", "webiste"],
                    "2026-11-22T00:00:00Z",
                    "2026-11-22T01:00:00Z",
                    None,
                ),
                stored(
                    2,
                    &["gone"],
                    "2026-11-22T00:00:00Z",
                    "2026-11-22T01:00:00Z",
                    None,
                ),
            ],
            KNOWN,
            now,
        );
        assert_eq!(
            ignored,
            vec![
                Ignored {
                    id: 1,
                    unknown: vec!["webiste".into()],
                    whole_window: false
                },
                Ignored {
                    id: 2,
                    unknown: vec!["gone".into()],
                    whole_window: true
                },
            ]
        );
        // Window 1 keeps its known component; window 2 does not become "every component".
        assert_eq!(merged.stored.len(), 1);
        assert_eq!(merged.stored[0].components, ["website"]);
        assert!(merged.under_maintenance("website", now));
        assert!(!merged.under_maintenance("streaming", now));
        assert!(!merged.under_maintenance("media", now));
    }

    #[tokio::test]
    async fn a_store_that_is_down_is_unavailable_and_the_channel_keeps_the_config() {
        let store = StoreHandle::new(Default::default(), None);
        let now = at("2026-11-22T00:30:00Z");
        let result = read(&store, &[config_window()], KNOWN, now).await;
        assert!(matches!(result, Err(StoreError::Unavailable)), "{result:?}");
        let (_tx, rx) = channel(vec![config_window()]);
        assert_eq!(
            **rx.borrow(),
            MaintenanceNow::from_config(vec![config_window()])
        );
    }

    #[tokio::test]
    async fn the_task_sends_stored_windows_and_keeps_them_while_the_store_is_away() {
        use crate::store::Store;
        use crate::store::incidents::NewMaintenance;
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("fedimeter.db").display());
        let store = Store::open(&crate::config::SecretUrl::new(url))
            .await
            .expect("store");
        let now = SystemTime::now();
        let id = store
            .add_maintenance(&NewMaintenance {
                title: "Upgrade".into(),
                body: String::new(),
                starts_at: now - Duration::from_secs(60),
                ends_at: now + Duration::from_secs(3600),
                components: vec!["website".into()],
                at: now,
            })
            .await
            .expect("add");
        let handle = StoreHandle::connected(store, None);
        let (tx, mut rx) = channel(vec![config_window()]);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(
            handle.clone(),
            vec![config_window()],
            KNOWN.iter().map(|c| c.to_string()).collect(),
            tx,
            shutdown.clone(),
        ));
        tokio::time::timeout(Duration::from_secs(10), rx.changed())
            .await
            .expect("sent within the first read")
            .expect("sender alive");
        let sent = rx.borrow_and_update().clone();
        assert_eq!(sent.config, vec![config_window()]);
        assert_eq!(sent.stored.iter().map(|m| m.id).collect::<Vec<_>>(), [id]);
        assert!(sent.under_maintenance("website", SystemTime::now()));
        // The store goes away: the task looks again every second and keeps the last list.
        handle.close().await;
        tokio::time::sleep(RETRY_EVERY * 2 + Duration::from_millis(500)).await;
        assert!(!rx.has_changed().expect("sender alive"));
        assert!(rx.borrow().under_maintenance("website", SystemTime::now()));
        shutdown.cancel();
        task.await.expect("task");
    }
}
