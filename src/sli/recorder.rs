//! The SLI task: subscribes to snapshots, evaluates the components every
//! `evaluate_every`, writes raw probe results, per-minute buckets and component state
//! intervals in batches, recomputes the SLI windows every `recompute_every` and publishes
//! the `sli` internal families. The bookkeeping lives in [`SliRecorder`] (no I/O, driven
//! with explicit times, so tests can simulate hours in milliseconds); [`run`] only adds
//! the clock, the store and the timers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::components::Component;
use super::eval::{ComponentEvaluator, ProbeResult};
use super::maintenance;
use super::math::{self, MinuteCounts, Window};
use super::store::{BufferLimits, ComponentTransition, SliBatch};
use super::{
    BURN_RATE, COMPONENT_STATUS, ComponentStatus, ERROR_BUDGET_REMAINING, SLI_RATIO, SliOptions,
};
use crate::config::MaintenanceWindow;
use crate::model::{Family, Sample, Snapshot, SnapshotStore, TargetId};
use crate::store::handle::{DropReason, StoreError, StoreHandle, Writer};
use crate::store::{Store, unix_ms};

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
            ids,
            current: vec![None; n],
            recorded: vec![None; n],
            minute: None,
            minute_worst: vec![None; n],
            batch: SliBatch::default(),
        }
    }

    pub fn components(&self) -> &[Component] {
        self.evaluator.components()
    }

    /// The latest evaluated state of every component, in order.
    pub fn current(&self) -> &[Option<ComponentStatus>] {
        &self.current
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
    store: &Store,
    components: &[Component],
    now: SystemTime,
) -> anyhow::Result<Vec<Family>> {
    let now_minute = unix_ms(now).div_euclid(60_000);
    let counts = store
        .sli_window_counts(now_minute, &COMPUTED_WINDOWS)
        .await?;
    Ok(sli_families(components, &counts))
}

/// The current status of every component as last published by the SLI task (read from
/// the snapshot store's internal families), for the page and the JSON API.
pub fn published_statuses(snapshots: &SnapshotStore) -> Vec<(String, Option<ComponentStatus>)> {
    let mut out: Vec<(String, Option<ComponentStatus>)> = Vec::new();
    for families in snapshots.internal() {
        for family in families
            .iter()
            .filter(|f| std::ptr::eq(f.desc, &COMPONENT_STATUS))
        {
            for s in &family.samples {
                let (Some(component), Some(status)) = (s.labels.first(), s.labels.get(1)) else {
                    continue;
                };
                let index = match out.iter().position(|(c, _)| c == &**component) {
                    Some(i) => i,
                    None => {
                        out.push((component.to_string(), None));
                        out.len() - 1
                    }
                };
                if s.value >= 1.0 {
                    out[index].1 = ComponentStatus::parse(status);
                }
            }
        }
    }
    out
}

/// Runs the SLI task until `shutdown` with the wall clock. Call once from the app:
/// `tokio::spawn(sli::run(store, snapshots, components, config.maintenance.clone(), config.sli.clone(), shutdown))`
/// where `components = sli::components::resolve(&config)?`.
///
/// The store may be down at any time: evaluation and `fedimeter_component_status` go on,
/// the pending batch is kept (bounded by [`BufferLimits::default`], drops counted) and
/// written when the store is back; window recomputation and pruning wait for it.
pub async fn run(
    store: StoreHandle,
    snapshots: Arc<SnapshotStore>,
    components: Vec<Component>,
    maintenance: Vec<MaintenanceWindow>,
    options: SliOptions,
    shutdown: CancellationToken,
) {
    run_with_clock(
        store,
        snapshots,
        components,
        maintenance,
        options,
        Arc::new(SystemTime::now),
        shutdown,
    )
    .await;
}

/// [`run`] with an injected clock (tests).
pub async fn run_with_clock(
    store: StoreHandle,
    snapshots: Arc<SnapshotStore>,
    components: Vec<Component>,
    maintenance: Vec<MaintenanceWindow>,
    options: SliOptions,
    clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
    shutdown: CancellationToken,
) {
    let mut rx = snapshots.subscribe();
    let limits = BufferLimits::default();
    let mut stale_closed = false;
    let mut recorder = SliRecorder::new(components, maintenance);
    let mut sli = Vec::new();
    let mut evaluate = interval(options.evaluate_every);
    let mut flush = interval(options.flush_every);
    let mut recompute = interval(options.recompute_every);
    let mut prune = interval(options.prune_every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = evaluate.tick() => {
                recorder.evaluate(&snapshots.latest(), clock());
                cap(&store, &mut recorder, &limits);
                publish(&snapshots, &recorder, &sli);
            }
            _ = flush.tick() => {
                let deadline = store.write_deadline(recorder.batch().len());
                flush_batch(&store, &mut recorder, &mut stale_closed, deadline).await;
            }
            _ = recompute.tick(), if store.is_up() => {
                let (components, now) = (recorder.components(), clock());
                let computed = store
                    .call(None, |s: Store| async move { compute_sli_families(&s, components, now).await })
                    .await;
                match computed {
                    Ok(families) => sli = families,
                    Err(e) => warn(&store, e),
                }
                publish(&snapshots, &recorder, &sli);
            }
            _ = prune.tick(), if store.is_up() => {
                let (o, now) = (&options, clock());
                // Pruning deletes up to an hour of raw results: a write's deadline.
                let pruned = store
                    .call_within(None, store.options().write_timeout, |s: Store| async move {
                        s.prune_sli(now, o.raw_retention, o.bucket_retention, o.history_retention).await
                    })
                    .await;
                match pruned {
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
    let deadline = store
        .options()
        .write_timeout
        .min(crate::store::state::FINAL_FLUSH_TIMEOUT);
    flush_batch(&store, &mut recorder, &mut stale_closed, deadline).await;
    let left = recorder.batch().len();
    store.dropped(Writer::Sli, DropReason::Shutdown, left as u64);
    if left > 0 {
        tracing::warn!("sli recorder: {left} items not written (the store is unavailable)");
    }
}

fn cap(store: &StoreHandle, recorder: &mut SliRecorder, limits: &BufferLimits) {
    let dropped = recorder.cap(limits);
    store.dropped(Writer::Sli, DropReason::BufferFull, dropped as u64);
    store.buffered(Writer::Sli, recorder.batch().len());
}

/// Unavailable or timed out: the handle logged the loss once; other failures are logged.
fn warn(store: &StoreHandle, e: StoreError) {
    if let StoreError::Failed(e) = e
        && store.is_up()
    {
        tracing::warn!("sli recorder: {e:#}");
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
/// the component intervals a previous process left open.
async fn flush_batch(
    store: &StoreHandle,
    recorder: &mut SliRecorder,
    stale_closed: &mut bool,
    deadline: Duration,
) {
    if !store.is_up() || (*stale_closed && recorder.batch().is_empty()) {
        return;
    }
    if !*stale_closed {
        let closed = store
            .call_within(Some(Writer::Sli), deadline, |s: Store| async move {
                s.close_stale_component_intervals().await
            })
            .await;
        match closed {
            Ok(_) => *stale_closed = true,
            Err(e) => return warn(store, e),
        }
    }
    if recorder.batch().is_empty() {
        return;
    }
    let batch = recorder.batch();
    let written = store
        .call_within(Some(Writer::Sli), deadline, move |s: Store| async move {
            s.write_sli_batch(batch).await
        })
        .await;
    match written {
        Ok(()) => recorder.written(),
        // Keep the batch: the next flush retries it with whatever came since.
        Err(e) => warn(store, e),
    }
    store.buffered(Writer::Sli, recorder.batch().len());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ComponentConfig, SignalConfig};
    use crate::export::exposition::{Format, render_families};
    use crate::sli::ComponentOptions;
    use crate::sli::components::check;
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
            })
            .collect();
        check(configs, &["web"]).expect("valid")
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
    fn published_statuses_read_back_the_family() {
        let store = SnapshotStore::new([]);
        let comps = components(&["website", "media"]);
        store.publish_internal(
            SOURCE,
            vec![status_family(&comps, &[Some(MajorOutage), None])],
        );
        assert_eq!(
            published_statuses(&store),
            vec![
                ("website".to_string(), Some(MajorOutage)),
                ("media".to_string(), None)
            ]
        );
    }
}
