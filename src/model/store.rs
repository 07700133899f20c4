//! [`SnapshotStore`]: the latest snapshot of every target, replaced whole on publish.
//!
//! Writers (one runner task per target) publish an `Arc<Snapshot>`; readers (`/metrics`,
//! OTLP, the state recorder, the page) load the current `Arc`s without locks and never wait
//! for a collection. The set of targets is fixed at start.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use tokio::sync::broadcast;

use super::{Family, Snapshot, TargetId};

struct Slot {
    id: TargetId,
    latest: ArcSwapOption<Snapshot>,
}

/// Latest snapshot per target, plus families published by fedimeter's own subsystems
/// (build info, SLI figures, alert and outbox gauges) under a fixed name each.
pub struct SnapshotStore {
    slots: Vec<Slot>,
    index: HashMap<TargetId, usize>,
    internal: Mutex<BTreeMap<&'static str, Arc<Vec<Family>>>>,
    published: broadcast::Sender<Arc<Snapshot>>,
}

impl SnapshotStore {
    /// A store for exactly these targets (duplicates are ignored).
    pub fn new(targets: impl IntoIterator<Item = TargetId>) -> Self {
        let mut slots = Vec::new();
        let mut index = HashMap::new();
        for id in targets {
            if index.contains_key(&id) {
                continue;
            }
            index.insert(id.clone(), slots.len());
            slots.push(Slot {
                id,
                latest: ArcSwapOption::empty(),
            });
        }
        let (published, _) = broadcast::channel(1024);
        SnapshotStore {
            slots,
            index,
            internal: Mutex::new(BTreeMap::new()),
            published,
        }
    }

    /// Replaces the target's latest snapshot. Snapshots of unknown targets are dropped.
    pub fn publish(&self, snapshot: Arc<Snapshot>) {
        if let Some(&i) = self.index.get(&snapshot.target) {
            self.slots[i].latest.store(Some(snapshot.clone()));
            // No receiver is fine: nobody listens in `fedimeter once`.
            let _ = self.published.send(snapshot);
        }
    }

    /// Receives every snapshot as it is published. A receiver that lags loses the oldest
    /// ones (`RecvError::Lagged`) and can resynchronise from [`SnapshotStore::latest`].
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Snapshot>> {
        self.published.subscribe()
    }

    /// Every target with its latest snapshot (`None` before its first run), in config order.
    pub fn latest(&self) -> Vec<(TargetId, Option<Arc<Snapshot>>)> {
        self.slots
            .iter()
            .map(|s| (s.id.clone(), s.latest.load_full()))
            .collect()
    }

    /// The latest snapshot of one target.
    pub fn get(&self, id: &TargetId) -> Option<Arc<Snapshot>> {
        self.index
            .get(id)
            .and_then(|&i| self.slots[i].latest.load_full())
    }

    /// The configured targets, in config order.
    pub fn targets(&self) -> impl Iterator<Item = &TargetId> {
        self.slots.iter().map(|s| &s.id)
    }

    /// Replaces the families that subsystem `source` publishes about fedimeter itself.
    pub fn publish_internal(&self, source: &'static str, families: Vec<Family>) {
        let mut internal = self.internal.lock().unwrap_or_else(|e| e.into_inner());
        internal.insert(source, Arc::new(families));
    }

    /// All internal families, by source name.
    pub fn internal(&self) -> Vec<Arc<Vec<Family>>> {
        let internal = self.internal.lock().unwrap_or_else(|e| e.into_inner());
        internal.values().cloned().collect()
    }
}
