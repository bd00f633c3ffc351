//! The bounded queue between `export()` and the sender thread, and the
//! one batch in flight.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
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
}

/// A bounded FIFO of batches that drops its oldest batch when full, plus
/// the slot of the batch being sent.
///
/// Every batch leaves the queue exactly once, through `take` (into the
/// in-flight slot), the drop in `push`, or `abandon_all`; the slot is
/// emptied exactly once, by `finish` or `abandon_all`. That is what makes
/// the counters add up.
#[derive(Debug)]
pub(crate) struct Queue {
    tx: Sender<Batch>,
    rx: Receiver<Batch>,
    /// The `seq` of the batch the sender thread holds. Moving a batch from
    /// the channel into the slot happens under this lock, so a shutdown
    /// that gives up sees every batch either queued or in flight.
    in_flight: Mutex<Option<u64>>,
    stats: Arc<DeliveryStats>,
}

impl Queue {
    pub(crate) fn new(capacity: usize, stats: Arc<DeliveryStats>) -> Queue {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        Queue {
            tx,
            rx,
            in_flight: Mutex::new(None),
            stats,
        }
    }

    /// Appends a batch, dropping (and counting) the oldest ones while the
    /// queue is full. Returns how many were dropped. Never blocks.
    pub(crate) fn push(&self, batch: Batch) -> u64 {
        DeliveryStats::add(&self.stats.enqueued, 1);
        let mut batch = batch;
        let mut dropped = 0;
        loop {
            match self.tx.try_send(batch) {
                Ok(()) => return dropped,
                Err(TrySendError::Full(back)) => {
                    batch = back;
                    // The sender thread may take the head at the same time;
                    // then try_recv finds the next one or nothing, and
                    // either way there is room on the next try_send.
                    if self.rx.try_recv().is_ok() {
                        DeliveryStats::add(&self.stats.dropped, 1);
                        dropped += 1;
                    }
                }
                // Unreachable while `self` holds a receiver; count it as a
                // drop rather than lose it silently.
                Err(TrySendError::Disconnected(_)) => {
                    DeliveryStats::add(&self.stats.dropped, 1);
                    return dropped + 1;
                }
            }
        }
    }

    /// Moves the oldest batch into the in-flight slot, if there is one.
    pub(crate) fn take(&self) -> Option<Batch> {
        let mut slot = self.in_flight.lock();
        match self.rx.try_recv() {
            Ok(batch) => {
                *slot = Some(batch.seq);
                Some(batch)
            }
            Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => None,
        }
    }

    /// Empties the slot if it still holds batch `seq`. Returns false when a
    /// shutdown already counted the batch as abandoned, so the caller must
    /// not count it again.
    pub(crate) fn finish(&self, seq: u64) -> bool {
        let mut slot = self.in_flight.lock();
        if *slot == Some(seq) {
            *slot = None;
            true
        } else {
            false
        }
    }

    /// Counts everything queued or in flight as abandoned and empties both.
    /// Returns the number abandoned.
    pub(crate) fn abandon_all(&self) -> u64 {
        let mut slot = self.in_flight.lock();
        let mut n = u64::from(slot.take().is_some());
        while self.rx.try_recv().is_ok() {
            n += 1;
        }
        DeliveryStats::add(&self.stats.abandoned, n);
        n
    }

    /// Batches queued plus the one in flight.
    pub(crate) fn pending(&self) -> u64 {
        let slot = self.in_flight.lock();
        self.rx.len() as u64 + u64::from(slot.is_some())
    }

    /// For waiting until a batch arrives (with `crossbeam_channel::Select`).
    pub(crate) fn receiver(&self) -> &Receiver<Batch> {
        &self.rx
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
        }
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_it() {
        let stats = Arc::new(DeliveryStats::default());
        let q = Queue::new(3, Arc::clone(&stats));
        for seq in 0..5 {
            q.push(batch(seq));
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
    fn abandoning_counts_queued_and_in_flight_once() {
        let stats = Arc::new(DeliveryStats::default());
        let q = Queue::new(4, Arc::clone(&stats));
        for seq in 0..3 {
            q.push(batch(seq));
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
