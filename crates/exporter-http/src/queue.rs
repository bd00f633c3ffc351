//! The bounded queue between `export()` and the sender thread, and the
//! one batch in flight.

use std::collections::VecDeque;
use std::sync::Arc;

use census_core::ViewData;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::delivery_stats::DeliveryStats;

/// One serialised batch, ready to POST.
#[derive(Debug)]
pub(crate) struct Batch {
    /// Position in this exporter's sequence; identifies the batch in flight.
    pub(crate) seq: u64,
    /// The `Idempotency-Key`: the same for every attempt of this batch.
    pub(crate) id: String,
    /// The uncompressed body.
    pub(crate) body: Vec<u8>,
    /// The batch itself when it holds delta data: what a full queue merges
    /// into the next batch instead of dropping, and what is counted as
    /// lost if it never arrives. `None` for cumulative data, which the
    /// next batch carries anyway.
    pub(crate) delta: Option<Arc<Vec<ViewData>>>,
}

/// A bounded FIFO of batches, plus the slot of the batch being sent. When
/// full, its oldest batch makes room: dropped if it holds cumulative data
/// (the next batch carries its values), merged into the batch behind it if
/// it holds delta data (which no other batch carries).
///
/// Every batch leaves the queue exactly once, through `take` (into the
/// in-flight slot), the drop or merge in `push`, or `abandon_all`; the
/// slot is emptied exactly once, by `finish` or `abandon_all`. That is
/// what makes the counters add up.
#[derive(Debug)]
pub(crate) struct Queue {
    state: Mutex<State>,
    capacity: usize,
    /// Rung (without blocking) on every push, so the sender can wait for
    /// work beside its control channel.
    bell: Sender<()>,
    rung: Receiver<()>,
    stats: Arc<DeliveryStats>,
}

#[derive(Debug, Default)]
struct State {
    queued: VecDeque<Batch>,
    /// The `seq` of the batch the sender thread holds, and its delta data.
    /// Moving a batch from the queue into the slot happens under the same
    /// lock, so a shutdown that gives up sees every batch either queued or
    /// in flight.
    in_flight: Option<(u64, Option<Arc<Vec<ViewData>>>)>,
}

impl Queue {
    pub(crate) fn new(capacity: usize, stats: Arc<DeliveryStats>) -> Queue {
        let (bell, rung) = crossbeam_channel::bounded(1);
        Queue {
            state: Mutex::new(State::default()),
            capacity,
            bell,
            rung,
            stats,
        }
    }

    /// Appends a batch. While the queue is full its oldest batch makes
    /// room: dropped (counted) if cumulative, or folded into the next one
    /// by `merge` (counted as merged) if it holds delta data; `merge` gets
    /// the older and the newer batch and returns the one to keep in the
    /// newer one's place. Returns how many batches were dropped. Never
    /// blocks on the sender.
    pub(crate) fn push(&self, batch: Batch, merge: impl Fn(Batch, Batch) -> Batch) -> u64 {
        DeliveryStats::add(&self.stats.enqueued, 1);
        let mut dropped = 0;
        let mut state = self.state.lock();
        state.queued.push_back(batch);
        while state.queued.len() > self.capacity {
            let Some(oldest) = state.queued.pop_front() else {
                break;
            };
            if oldest.delta.is_none() {
                DeliveryStats::add(&self.stats.dropped, 1);
                dropped += 1;
                continue;
            }
            let Some(next) = state.queued.pop_front() else {
                // Unreachable: the queue held more than its capacity (at
                // least one).
                state.queued.push_front(oldest);
                break;
            };
            // Under the lock, so the sender cannot take `next` in between
            // and send the merged values out of order.
            state.queued.push_front(merge(oldest, next));
            DeliveryStats::add(&self.stats.merged, 1);
        }
        drop(state);
        // Full means a ring is already waiting: the sender will look.
        let _ = self.bell.try_send(());
        dropped
    }

    /// Moves the oldest batch into the in-flight slot, if there is one.
    pub(crate) fn take(&self) -> Option<Batch> {
        let mut state = self.state.lock();
        let batch = state.queued.pop_front()?;
        state.in_flight = Some((batch.seq, batch.delta.clone()));
        Some(batch)
    }

    /// Empties the slot if it still holds batch `seq`. Returns false when a
    /// shutdown already counted the batch as abandoned, so the caller must
    /// not count it again.
    pub(crate) fn finish(&self, seq: u64) -> bool {
        let mut state = self.state.lock();
        if state.in_flight.as_ref().is_some_and(|(s, _)| *s == seq) {
            state.in_flight = None;
            true
        } else {
            false
        }
    }

    /// Counts everything queued or in flight as abandoned, and the delta
    /// data among it as lost, and empties both. Returns the number
    /// abandoned.
    pub(crate) fn abandon_all(&self) -> u64 {
        let (in_flight, queued) = {
            let mut state = self.state.lock();
            (state.in_flight.take(), std::mem::take(&mut state.queued))
        };
        let mut n = 0;
        for delta in in_flight
            .map(|(_, delta)| delta)
            .into_iter()
            .chain(queued.into_iter().map(|b| b.delta))
        {
            n += 1;
            if let Some(data) = delta {
                self.stats.lose(&data);
            }
        }
        DeliveryStats::add(&self.stats.abandoned, n);
        n
    }

    /// Batches queued plus the one in flight.
    pub(crate) fn pending(&self) -> u64 {
        let state = self.state.lock();
        state.queued.len() as u64 + u64::from(state.in_flight.is_some())
    }

    /// Ready when a batch may have been queued since the last look (with
    /// `crossbeam_channel::Select`; take the ring, then `take`).
    pub(crate) fn rung(&self) -> &Receiver<()> {
        &self.rung
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(seq: u64) -> Batch {
        Batch {
            seq,
            id: format!("b-{seq}"),
            body: vec![0; 16],
            delta: None,
        }
    }

    fn delta(seq: u64) -> Batch {
        Batch {
            delta: Some(Arc::new(Vec::new())),
            body: seq.to_string().into_bytes(),
            ..batch(seq)
        }
    }

    fn no_merge(_: Batch, newer: Batch) -> Batch {
        panic!("cumulative batches are not merged (got {})", newer.seq)
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_it() {
        let stats = Arc::new(DeliveryStats::default());
        let q = Queue::new(3, Arc::clone(&stats));
        for seq in 0..5 {
            q.push(batch(seq), no_merge);
        }
        assert_eq!(DeliveryStats::get(&stats.dropped), 2);
        assert_eq!(DeliveryStats::get(&stats.enqueued), 5);
        assert_eq!(q.pending(), 3);
        let kept: Vec<u64> = std::iter::from_fn(|| {
            let b = q.take()?;
            assert!(q.finish(b.seq));
            Some(b.seq)
        })
        .collect();
        assert_eq!(kept, [2, 3, 4]);
    }

    #[test]
    fn a_full_queue_merges_delta_batches_in_order() {
        let stats = Arc::new(DeliveryStats::default());
        let q = Queue::new(2, Arc::clone(&stats));
        let merge = |older: Batch, newer: Batch| {
            let body = [older.body, b"+".to_vec(), newer.body].concat();
            Batch { body, ..newer }
        };
        for seq in 0..5 {
            q.push(delta(seq), merge);
        }
        assert_eq!(DeliveryStats::get(&stats.merged), 3);
        assert_eq!(DeliveryStats::get(&stats.dropped), 0);
        let bodies: Vec<String> = std::iter::from_fn(|| q.take())
            .map(|b| String::from_utf8_lossy(&b.body).into_owned())
            .collect();
        assert_eq!(bodies, ["0+1+2+3", "4"]);
    }

    #[test]
    fn abandoning_counts_queued_and_in_flight_once() {
        let stats = Arc::new(DeliveryStats::default());
        let q = Queue::new(4, Arc::clone(&stats));
        for seq in 0..3 {
            q.push(batch(seq), no_merge);
        }
        let held = q.take().map(|b| b.seq);
        assert_eq!(held, Some(0));
        assert_eq!(q.pending(), 3);
        assert_eq!(q.abandon_all(), 3);
        // The sender finishing late must not count the batch again.
        assert!(!q.finish(0));
        assert_eq!(q.pending(), 0);
        assert_eq!(DeliveryStats::get(&stats.abandoned), 3);
    }
}
