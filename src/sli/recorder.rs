//! The SLI task: subscribes to snapshots, evaluates the components every
//! `evaluate_every`, writes raw probe results, per-minute buckets and component state
//! intervals in batches, recomputes the SLI windows every `recompute_every` and publishes
//! the `sli` internal families, and sends the components' states to the page through a
//! typed [`watch`] channel of an immutable [`ComponentStates`] (the exported
//! `fedimeter_component_status` is for Prometheus only; nothing parses it back). The
//! bookkeeping lives in [`SliRecorder`] (no I/O, driven
//! with explicit times, so tests can simulate hours in milliseconds); [`run`] only adds
//! the clock, the store and the timers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::components::Component;
use super::eval::{ComponentEvaluator, ProbeResult};
use super::history::SliHistory;
use super::maintenance;
use super::maintenance_watch::MaintenanceReceiver;
use super::math::{self, MinuteCounts, Window};
use super::store::{BufferLimits, ComponentTransition, SliBatch};
use super::{
    BURN_RATE, COMPONENT_STATUS, ComponentStatus, ERROR_BUDGET_REMAINING, SLI_RATIO, SliOptions,
};
use crate::config::MaintenanceWindow;
use crate::model::{Family, Sample, Snapshot, SnapshotStore, TargetId};
use crate::store::handle::{DropReason, StoreError, StoreHandle, Writer};
use crate::store::unix_ms;

/// The `publish_internal` source name of the SLI families.
pub const SOURCE: &str = "sli";

/// Every window the recorder reads from the store (ratio, budget and burn windows).
pub const COMPUTED_WINDOWS: [Window; 10] = [
    math::W5M,
    math::W30M,
    math::W1H,
    math::W2H,
    math::W6H,
    math::W1D,
    math::W3D,
    math::W7D,
    math::W30D,
    math::W90D,
];

/// Pure bookkeeping of the SLI task.
#[derive(Debug)]
pub struct SliRecorder {
    evaluator: ComponentEvaluator,
    maintenance: Vec<MaintenanceWindow>,
    /// Where the windows come from while serving (config + stored, see
    /// [`super::maintenance_watch`]); `None`: the fixed `maintenance` above.
    maintenance_feed: Option<MaintenanceReceiver>,
    ids: Vec<Arc<str>>,
    /// The latest evaluated state of each component (maintenance applied).
    current: Vec<Option<ComponentStatus>>,
    /// What this process last wrote as each component's interval (`None` = nothing yet).
    recorded: Vec<Option<Option<ComponentStatus>>>,
    /// The minute being accumulated and the worst state of each component in it.
    minute: Option<i64>,
    minute_worst: Vec<Option<ComponentStatus>>,
    batch: SliBatch,
}

impl SliRecorder {
    pub fn new(components: Vec<Component>, maintenance: Vec<MaintenanceWindow>) -> Self {
        let ids: Vec<Arc<str>> = components.iter().map(|c| Arc::from(c.id())).collect();
        let n = ids.len();
        SliRecorder {
            evaluator: ComponentEvaluator::new(components),
            maintenance,
            maintenance_feed: None,
            ids,
            current: vec![None; n],
            recorded: vec![None; n],
            minute: None,
            minute_worst: vec![None; n],
            batch: SliBatch::default(),
        }
    }

    /// Takes the maintenance windows from `feed` from now on (each evaluation uses the
    /// latest list sent), instead of the fixed ones given to [`SliRecorder::new`].
    pub fn follow_maintenance(mut self, mut feed: MaintenanceReceiver) -> Self {
        self.maintenance = feed.borrow_and_update().applied.clone();
        self.maintenance_feed = Some(feed);
        self
    }

    /// The maintenance windows the next evaluation applies.
    pub fn maintenance(&self) -> &[MaintenanceWindow] {
        &self.maintenance
    }

    pub fn components(&self) -> &[Component] {
        self.evaluator.components()
    }

    /// The latest evaluated state of every component, in order.
    pub fn current(&self) -> &[Option<ComponentStatus>] {
        &self.current
    }

    /// The latest evaluated states, evaluated at `now`, to send to the page.
    pub fn states(&self, now: SystemTime) -> ComponentStates {
        ComponentStates {
            evaluated_at: Some(now),
            states: self.ids.iter().cloned().zip(self.current.clone()).collect(),
        }
    }

    /// Records a probe attempt (raw result + consecutive-threshold trackers); other
    /// snapshots are read at evaluation time from the snapshot store.
    pub fn observe(&mut self, snapshot: &Snapshot) {
        if let Some(result) = ProbeResult::of(snapshot) {
            self.observe_probe_result(result);
        }
    }

    pub fn observe_probe_result(&mut self, result: ProbeResult) {
        self.evaluator.observe(&result);
        self.batch.probe_results.push(result);
    }

    /// Evaluates every component at `now` from the latest snapshots; folds the states into
    /// the current minute (moving a finished minute into the batch) and records state
    /// changes.
    pub fn evaluate(&mut self, snapshots: &[(TargetId, Option<Arc<Snapshot>>)], now: SystemTime) {
        if let Some(feed) = &mut self.maintenance_feed
            && feed.has_changed().unwrap_or(false)
        {
            self.maintenance = feed.borrow_and_update().applied.clone();
        }
        let states = self.evaluator.evaluate(snapshots, now);
        let minute = unix_ms(now).div_euclid(60_000);
        if self.minute.is_some_and(|m| m != minute) {
            self.finish_minute();
        }
        self.minute = Some(minute);
        for (i, state) in states.into_iter().enumerate() {
            let id = self.ids[i].clone();
            let state = if maintenance::under_maintenance(&self.maintenance, &id, now) {
                Some(ComponentStatus::UnderMaintenance)
            } else {
                state
            };
            self.current[i] = state;
            if let Some(s) = state {
                self.minute_worst[i] = self.minute_worst[i].max(Some(s));
                self.batch.seen.insert(id.clone(), now);
            }
            if self.recorded[i] != Some(state) {
                // Nothing to close when this process never recorded a state and has none.
                if self.recorded[i].is_some() || state.is_some() {
                    self.batch.transitions.push(ComponentTransition {
                        component: id,
                        state,
                        at: now,
                    });
                }
                self.recorded[i] = Some(state);
            }
        }
    }

    /// Moves the accumulated minute into the batch (at a minute boundary, and at shutdown
    /// for the minute in progress).
    pub fn finish_minute(&mut self) {
        let Some(minute) = self.minute.take() else {
            return;
        };
        for (i, worst) in self.minute_worst.iter_mut().enumerate() {
            if let Some(state) = worst.take() {
                self.batch
                    .minutes
                    .push((self.ids[i].clone(), minute, state));
            }
        }
    }

    /// The batch to write; cleared with [`SliRecorder::written`] once it is stored.
    pub fn batch(&self) -> &SliBatch {
        &self.batch
    }

    pub fn written(&mut self) {
        self.batch = SliBatch::default();
    }

    /// Bounds the pending batch (see [`SliBatch::cap`]); returns how many items went.
    pub fn cap(&mut self, limits: &BufferLimits) -> usize {
        self.batch.cap(limits)
    }

    /// `fedimeter_component_status`: 1 for each component's current status, 0 for the
    /// others; all 0 while a component has no data.
    pub fn status_family(&self) -> Family {
        status_family(self.components(), &self.current)
    }
}

/// `fedimeter_component_status` for these components and states.
pub fn status_family(components: &[Component], states: &[Option<ComponentStatus>]) -> Family {
    let mut family = Family::new(&COMPONENT_STATUS);
    for (c, state) in components.iter().zip(states) {
        for s in ComponentStatus::ALL {
            family.samples.push(sample(
                &[c.id(), s.as_str()],
                f64::from(u8::from(*state == Some(s))),
            ));
        }
    }
    family
}

/// `fedimeter_sli_ratio`, `fedimeter_error_budget_remaining_ratio` and
/// `fedimeter_burn_rate` from window counts (`window label → sli → counts`). Windows
/// without good or bad minutes have no sample (no NaN, no fake 100 %).
pub fn sli_families(
    components: &[Component],
    counts: &HashMap<&'static str, HashMap<String, MinuteCounts>>,
) -> Vec<Family> {
    let get = |w: &Window, id: &str| {
        counts
            .get(w.label)
            .and_then(|m| m.get(id))
            .copied()
            .unwrap_or_default()
    };
    let mut ratio = Family::new(&SLI_RATIO);
    let mut budget = Family::new(&ERROR_BUDGET_REMAINING);
    let mut burn = Family::new(&BURN_RATE);
    for c in components {
        let objective = c.config.options.objective;
        for w in &math::RATIO_WINDOWS {
            if let Some(a) = get(w, c.id()).availability() {
                ratio.samples.push(sample(&[c.id(), w.label], a));
            }
        }
        if let Some(b) = math::error_budget_remaining(get(&math::BUDGET_WINDOW, c.id()), objective)
        {
            budget.samples.push(sample(&[c.id()], b));
        }
        for w in &math::BURN_WINDOWS {
            if let Some(r) = math::burn_rate(get(w, c.id()), objective) {
                burn.samples.push(sample(&[c.id(), w.label], r));
            }
        }
    }
    vec![ratio, budget, burn]
}

fn sample(labels: &[&str], value: f64) -> Sample {
    Sample {
        labels: labels.iter().map(|l| Box::<str>::from(*l)).collect(),
        value,
    }
}

/// Reads every window ending at the minute of `now` (the minute in progress excluded) and
/// builds the SLI families.
pub async fn compute_sli_families(
    store: &impl SliHistory,
    components: &[Component],
    now: SystemTime,
) -> anyhow::Result<Vec<Family>> {
    let now_minute = unix_ms(now).div_euclid(60_000);
    let counts = store
        .sli_window_counts(now_minute, &COMPUTED_WINDOWS)
        .await?;
    Ok(sli_families(components, &counts))
}

/// The components' states as the SLI task last evaluated them (maintenance applied), in
/// component order: what the page and the JSON API read. Immutable once sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComponentStates {
    /// When they were evaluated; `None` before the first evaluation.
    pub evaluated_at: Option<SystemTime>,
    /// Component id and state (`None`: no data yet).
    pub states: Vec<(Arc<str>, Option<ComponentStatus>)>,
}

impl ComponentStates {
    /// The state of component `id` (`None`: unknown component or no data yet).
    pub fn get(&self, id: &str) -> Option<ComponentStatus> {
        self.states
            .iter()
            .find(|(c, _)| &**c == id)
            .and_then(|(_, s)| *s)
    }
}

/// The sending half, owned by the SLI task.
pub type StatesSender = watch::Sender<Arc<ComponentStates>>;
/// The receiving half, cloned into the web state.
pub type StatesReceiver = watch::Receiver<Arc<ComponentStates>>;

/// A channel that holds "not evaluated yet" until the SLI task's first evaluation.
pub fn states_channel() -> (StatesSender, StatesReceiver) {
    watch::channel(Arc::new(ComponentStates::default()))
}

/// Runs the SLI task until `shutdown` with the wall clock. Call once from the app:
/// `tokio::spawn(sli::run(store, snapshots, components, maintenance_rx, config.sli.clone(), states_tx, shutdown))`
/// where `components = sli::components::of_config(&config)`, `maintenance_rx` is a
/// receiver of [`super::maintenance_watch::channel`] (the config's and the store's
/// windows) and `states_tx` comes from [`states_channel`] (its receiver goes to the web
/// state).
///
/// The store may be down at any time: evaluation, the component states and
/// `fedimeter_component_status` go on, the pending batch is kept (bounded by
/// [`BufferLimits::default`], drops counted) and written when the store is back; window
/// recomputation and pruning wait for it.
pub async fn run(
    store: StoreHandle,
    snapshots: Arc<SnapshotStore>,
    components: Vec<Component>,
    maintenance: MaintenanceReceiver,
    options: SliOptions,
    states: StatesSender,
    shutdown: CancellationToken,
) {
    run_with_clock(
        store,
        snapshots,
        SliRecorder::new(components, Vec::new()).follow_maintenance(maintenance),
        options,
        states,
        Arc::new(SystemTime::now),
        shutdown,
    )
    .await;
}

/// [`run`] with a given recorder (components and maintenance windows), an injected clock
/// and history (tests: paused time, `tests/sli_task.rs`).
pub async fn run_with_clock(
    store: impl SliHistory,
    snapshots: Arc<SnapshotStore>,
    mut recorder: SliRecorder,
    options: SliOptions,
    states: StatesSender,
    clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
    shutdown: CancellationToken,
) {
    let mut rx = snapshots.subscribe();
    let limits = BufferLimits::default();
    let mut stale_closed = false;
    let mut sli = Vec::new();
    let mut evaluate = interval(options.evaluate_every);
    let mut flush = interval(options.flush_every);
    let mut recompute = interval(options.recompute_every);
    let mut prune = interval(options.prune_every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = evaluate.tick() => {
                let now = clock();
                recorder.evaluate(&snapshots.latest(), now);
                states.send_replace(Arc::new(recorder.states(now)));
                cap(&store, &mut recorder, &limits);
                publish(&snapshots, &recorder, &sli);
            }
            _ = flush.tick() => flush_batch(&store, &mut recorder, &mut stale_closed, false).await,
            _ = recompute.tick(), if store.is_up() => {
                match compute_sli_families(&store, recorder.components(), clock()).await {
                    Ok(families) => sli = families,
                    Err(e) => warn(&store, e),
                }
                publish(&snapshots, &recorder, &sli);
            }
            _ = prune.tick(), if store.is_up() => {
                let o = &options;
                match store.prune_sli(clock(), o.raw_retention, o.bucket_retention, o.history_retention).await {
                    Ok(n) if n > 0 => tracing::info!("sli recorder: pruned {n} old rows"),
                    Ok(_) => {}
                    Err(e) => warn(&store, e),
                }
            }
            received = rx.recv() => match received {
                Ok(snapshot) => {
                    recorder.observe(&snapshot);
                    cap(&store, &mut recorder, &limits);
                }
                Err(RecvError::Lagged(missed)) => {
                    // Missed probe attempts are lost as raw results; the trackers resume
                    // from the next ones. Threshold signals read the latest snapshots anyway.
                    tracing::warn!("sli recorder lagged behind by {missed} snapshots");
                }
                Err(RecvError::Closed) => break,
            },
        }
    }
    recorder.finish_minute();
    flush_batch(&store, &mut recorder, &mut stale_closed, true).await;
    let left = recorder.batch().len();
    store.dropped(Writer::Sli, DropReason::Shutdown, left as u64);
    if left > 0 {
        tracing::warn!("sli recorder: {left} items not written (the store is unavailable)");
    }
}

fn cap(store: &impl SliHistory, recorder: &mut SliRecorder, limits: &BufferLimits) {
    let dropped = recorder.cap(limits);
    store.dropped(Writer::Sli, DropReason::BufferFull, dropped as u64);
    store.buffered(Writer::Sli, recorder.batch().len());
}

/// Unavailable or timed out: the handle logged the loss once; other failures are logged.
fn warn(store: &impl SliHistory, e: anyhow::Error) {
    match e.downcast_ref::<StoreError>() {
        Some(StoreError::Unavailable | StoreError::TimedOut(_)) => {}
        Some(StoreError::Failed(_)) | None => {
            if store.is_up() {
                tracing::warn!("sli recorder: {e:#}");
            }
        }
    }
}

fn interval(every: Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval(every.max(Duration::from_millis(10)));
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

fn publish(snapshots: &SnapshotStore, recorder: &SliRecorder, sli: &[Family]) {
    let mut families = vec![recorder.status_family()];
    families.extend(sli.iter().cloned());
    snapshots.publish_internal(SOURCE, families);
}

/// Writes the pending batch when the store is up; before this process' first write, closes
/// the component intervals a previous process left open. `last`: the final flush at
/// shutdown, which gets a shorter deadline.
async fn flush_batch(
    store: &impl SliHistory,
    recorder: &mut SliRecorder,
    stale_closed: &mut bool,
    last: bool,
) {
    if !store.is_up() || (*stale_closed && recorder.batch().is_empty()) {
        return;
    }
    if !*stale_closed {
        match store.close_stale_component_intervals().await {
            Ok(_) => *stale_closed = true,
            Err(e) => return warn(store, e),
        }
    }
    if recorder.batch().is_empty() {
        return;
    }
    match store.write_sli_batch(recorder.batch(), last).await {
        Ok(()) => recorder.written(),
        // Keep the batch: the next flush retries it with whatever came since.
        Err(e) => warn(store, e),
    }
    store.buffered(Writer::Sli, recorder.batch().len());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Origin;
    use crate::config::{ComponentConfig, SignalConfig};
    use crate::export::exposition::{Format, render_families};
    use crate::sli::ComponentOptions;
    use crate::sli::components::from_configs;
    use ComponentStatus::*;

    fn components(ids: &[&str]) -> Vec<Component> {
        let configs = ids
            .iter()
            .map(|id| ComponentConfig {
                id: id.to_string(),
                name: id.to_string(),
                description: String::new(),
                signals: vec![SignalConfig::Probe {
                    probe: "web".into(),
                }],
                options: ComponentOptions::default(),
                origin: Origin::Written,
            })
            .collect();
        from_configs(configs)
    }

    #[test]
    fn status_family_marks_the_current_status() {
        let family = status_family(
            &components(&["website", "media"]),
            &[Some(PartialOutage), None],
        );
        let values: Vec<(String, f64)> = family
            .samples
            .iter()
            .map(|s| (s.labels.join("/"), s.value))
            .filter(|(_, v)| *v == 1.0)
            .collect();
        assert_eq!(values, vec![("website/partial_outage".to_string(), 1.0)]);
        assert_eq!(family.samples.len(), 10);
    }

    #[test]
    fn sli_families_skip_windows_without_data() {
        let mut counts: HashMap<&'static str, HashMap<String, MinuteCounts>> = HashMap::new();
        for w in COMPUTED_WINDOWS {
            counts.insert(
                w.label,
                HashMap::from([(
                    "website".to_string(),
                    MinuteCounts::new(w.minutes - 1, 1, 0),
                )]),
            );
        }
        counts
            .get_mut("5m")
            .expect("5m")
            .insert("website".into(), MinuteCounts::new(0, 0, 5));
        let families = sli_families(&components(&["website", "media"]), &counts);
        let text = render_families(families.iter().map(|f| (f, None)), Format::Text);
        let expected = "\
# HELP fedimeter_burn_rate Error ratio over the window divided by the error budget (1 - objective)
# TYPE fedimeter_burn_rate gauge
fedimeter_burn_rate{sli=\"website\",window=\"30m\"} 6.666666666666666
fedimeter_burn_rate{sli=\"website\",window=\"1h\"} 3.333333333333333
fedimeter_burn_rate{sli=\"website\",window=\"2h\"} 1.6666666666666665
fedimeter_burn_rate{sli=\"website\",window=\"6h\"} 0.5555555555555556
fedimeter_burn_rate{sli=\"website\",window=\"1d\"} 0.1388888888888889
fedimeter_burn_rate{sli=\"website\",window=\"3d\"} 0.046296296296296294
# HELP fedimeter_error_budget_remaining_ratio Share of the error budget (1 - objective) left over the SLO period (30d); negative when overspent
# TYPE fedimeter_error_budget_remaining_ratio gauge
fedimeter_error_budget_remaining_ratio{sli=\"website\"} 0.9953703703703703
# HELP fedimeter_sli_ratio Time-based availability: good minutes / (good + bad minutes), maintenance and no-data minutes excluded
# TYPE fedimeter_sli_ratio gauge
fedimeter_sli_ratio{sli=\"website\",window=\"1h\"} 0.9833333333333333
fedimeter_sli_ratio{sli=\"website\",window=\"1d\"} 0.9993055555555556
fedimeter_sli_ratio{sli=\"website\",window=\"7d\"} 0.9999007936507937
fedimeter_sli_ratio{sli=\"website\",window=\"30d\"} 0.9999768518518518
fedimeter_sli_ratio{sli=\"website\",window=\"90d\"} 0.9999922839506172
";
        assert_eq!(text, expected);
    }

    #[test]
    fn states_pair_ids_with_the_evaluated_states() {
        let mut recorder = SliRecorder::new(components(&["website", "media"]), Vec::new());
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        assert_eq!(recorder.states(now).get("website"), None, "no data yet");
        let web = TargetId::new(crate::model::Kind::Probe, "web");
        recorder.observe(&Snapshot {
            target: web,
            finished_at: now,
            duration: std::time::Duration::from_millis(30),
            outcome: crate::model::Outcome::Success,
            health: Some(crate::model::Health::Up),
            families: Vec::new(),
        });
        recorder.evaluate(&[], now);
        let states = recorder.states(now);
        assert_eq!(states.evaluated_at, Some(now));
        assert_eq!(states.get("website"), Some(Operational));
        assert_eq!(states.get("media"), Some(Operational), "same probe");
        assert_eq!(states.get("nope"), None);
        assert_eq!(states.states.len(), 2);
    }

    /// Ten minutes from 00:00 with probe `web` failing in every check (15 s apart), so both
    /// components are a major outage from the 3rd failure (00:00:30). A stored window for
    /// `website` over [00:02, 00:08) arrives through the channel at 00:02 and is cancelled
    /// at 00:05. By hand: website minutes 0, 1, 5–9 bad (7), 2–4 maintenance (3), no good
    /// minute; media, outside the window, 10 bad minutes.
    #[test]
    fn stored_windows_from_the_channel_apply_until_cancelled() {
        use crate::sli::maintenance_watch::{channel, merge};
        use crate::store::incidents::Maintenance;
        let t0 = humantime::parse_rfc3339("2026-11-22T00:00:00Z").expect("t0");
        let min = |m: u64| t0 + std::time::Duration::from_secs(60 * m);
        let window = |cancelled_at| Maintenance {
            id: 1,
            title: "Upgrade".into(),
            body: String::new(),
            starts_at: min(2),
            ends_at: min(8),
            created_at: min(2),
            cancelled_at,
            components: vec!["website".into()],
        };
        let known = ["website", "media"];
        let (tx, rx) = channel(Vec::new());
        let mut recorder =
            SliRecorder::new(components(&["website", "media"]), Vec::new()).follow_maintenance(rx);
        let web = TargetId::new(crate::model::Kind::Probe, "web");
        for tick in 0..40u64 {
            let now = t0 + std::time::Duration::from_secs(15 * tick);
            if now == min(2) {
                tx.send_replace(Arc::new(merge(&[], vec![window(None)], &known, now).0));
            }
            if now == min(5) {
                let cancelled = merge(&[], vec![window(Some(min(5)))], &known, now).0;
                tx.send_replace(Arc::new(cancelled));
            }
            recorder.observe(&Snapshot {
                target: web.clone(),
                finished_at: now,
                duration: std::time::Duration::from_millis(30),
                outcome: crate::model::Outcome::Success,
                health: Some(crate::model::Health::Down {
                    reason: crate::model::Reason::Refused,
                }),
                families: Vec::new(),
            });
            recorder.evaluate(&[], now);
        }
        recorder.finish_minute();
        let t0_minute = unix_ms(t0).div_euclid(60_000);
        let minutes = |id: &str| -> Vec<(i64, ComponentStatus)> {
            recorder
                .batch()
                .minutes
                .iter()
                .filter(|(c, _, _)| &**c == id)
                .map(|(_, m, s)| (m - t0_minute, *s))
                .collect()
        };
        let expected_website: Vec<(i64, ComponentStatus)> = (0..10)
            .map(|m| {
                (
                    m,
                    if (2..5).contains(&m) {
                        UnderMaintenance
                    } else {
                        MajorOutage
                    },
                )
            })
            .collect();
        assert_eq!(minutes("website"), expected_website);
        let expected_media: Vec<(i64, ComponentStatus)> =
            (0..10).map(|m| (m, MajorOutage)).collect();
        assert_eq!(minutes("media"), expected_media);
        let counts = |id: &str| {
            let states = minutes(id);
            let n = |f: &dyn Fn(ComponentStatus) -> bool| {
                i64::try_from(states.iter().filter(|(_, s)| f(*s)).count()).expect("count")
            };
            MinuteCounts::new(
                n(&|s| s.is_good()),
                n(&|s| !s.is_good() && s != UnderMaintenance),
                n(&|s| s == UnderMaintenance),
            )
        };
        assert_eq!(counts("website"), MinuteCounts::new(0, 7, 3));
        assert_eq!(counts("website").availability(), Some(0.0));
        assert_eq!(counts("media"), MinuteCounts::new(0, 10, 0));
    }
}
