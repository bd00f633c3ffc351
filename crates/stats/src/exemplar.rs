//! Exemplar storage: for each bucket of one thread's share of a
//! Distribution row, the latest value recorded into it with attachments.
//!
//! Only shares that received attachments have any: the slots are
//! allocated on the first such record, so a row recorded without
//! attachments costs nothing more than before. Recording with attachments
//! takes the share's slot lock (uncontended: only the owner thread writes,
//! snapshots read) and the clock, and reuses the slot's strings, so a
//! steady stream of same-sized trace ids allocates nothing either.

use std::time::SystemTime;

use census_core::{Exemplar, Measure, Number, TagMap};
use parking_lot::Mutex;

use crate::clock::Clock;
use crate::manager::Routes;
use crate::record::Projection;
use crate::view::{Index, ViewState};

impl Routes {
    /// Keeps `value`, just recorded under `tags` with `attachments`, as
    /// the exemplar of its bucket in every Distribution view of `measure`.
    ///
    /// A second pass over the views, after the record, rather than a step
    /// inside it: the record path stays exactly what it is for the values
    /// that carry no attachments, nearly all of them (a slice passed down
    /// it, empty for those, cost them 14 instructions a record). Values
    /// with attachments pay a second lookup of their row.
    pub(crate) fn keep_exemplars(
        &mut self,
        measure: &Measure,
        value: Number,
        tags: &TagMap,
        attachments: &[Attachment<'_>],
        clock: &Clock,
    ) {
        let (subscriptions, indexes) = self.parts();
        // The record refused what this refuses (it counted it there).
        let Some((sub, true)) = subscriptions.get(measure) else {
            return;
        };
        for (view, slot, _) in &sub.views {
            if let (true, Some(index)) = (view.kind().is_distribution(), indexes.get(*slot)) {
                view.keep_exemplar(index, tags, value.as_f64(), attachments, clock);
            }
        }
    }
}

impl ViewState {
    /// Finds this thread's share of the row the value went to (its own
    /// row, or the overflow row when it was folded) and keeps the value as
    /// its bucket's exemplar.
    fn keep_exemplar(
        &self,
        index: &Index,
        tags: &TagMap,
        v: f64,
        attachments: &[Attachment<'_>],
        clock: &Clock,
    ) {
        if !v.is_finite() {
            return;
        }
        let key = Projection::of(self, tags);
        let values = key.values();
        let share = index.find(self.hash(values), values).or(index.overflow());
        if let Some(share) = share {
            share.keep_exemplar(v, attachments, clock);
        }
    }
}

/// One attachment of a measurement: a key and a value.
pub(crate) type Attachment<'a> = (&'a str, &'a str);

/// At most this many attachments are kept per exemplar.
pub(crate) const MAX_ATTACHMENTS: usize = 8;

/// At most this many bytes of keys and values together are kept per
/// exemplar: room for a trace id and a span id with their keys several
/// times over, and the bound on what one slot holds.
pub(crate) const MAX_ATTACHMENT_BYTES: usize = 256;

/// How many of `attachments`, from the first, fit both limits; the rest
/// are dropped (and counted by the caller).
pub(crate) fn kept(attachments: &[Attachment<'_>]) -> usize {
    let mut bytes = 0;
    attachments
        .iter()
        .take(MAX_ATTACHMENTS)
        .take_while(|(k, v)| {
            bytes += k.len() + v.len();
            bytes <= MAX_ATTACHMENT_BYTES
        })
        .count()
}

/// One share's exemplars, one slot per bucket.
///
/// Memory, once made: 24 bytes, plus per bucket a slot of 88 bytes and at
/// most [`MAX_ATTACHMENT_BYTES`] of text (a slot's text buffer grows to
/// the longest attachments it held, never past the limit).
#[derive(Debug)]
pub(crate) struct Exemplars {
    slots: Mutex<Box<[Slot]>>,
}

#[derive(Debug, Default)]
struct Slot {
    /// `None` until the bucket receives a value with attachments.
    time: Option<SystemTime>,
    value: f64,
    /// Every key and value, one after another, in one buffer that later
    /// records overwrite in place.
    text: String,
    /// The length of each key and value in `text`, for the first `len`
    /// attachments. Within `u16`: the text is at most 256 bytes.
    lengths: [(u16, u16); MAX_ATTACHMENTS],
    len: u8,
}

impl Exemplars {
    pub(crate) fn new(buckets: usize) -> Exemplars {
        Exemplars {
            slots: Mutex::new((0..buckets).map(|_| Slot::default()).collect()),
        }
    }

    /// Makes `value`, recorded at `time` with `attachments` (within the
    /// limits: see [`kept`]), the exemplar of `bucket`. Called by the
    /// share's owner thread only.
    pub(crate) fn keep(
        &self,
        bucket: usize,
        value: f64,
        attachments: &[Attachment<'_>],
        time: SystemTime,
    ) {
        let mut slots = self.slots.lock();
        let Some(slot) = slots.get_mut(bucket) else {
            return;
        };
        let bytes: usize = attachments.iter().map(|(k, v)| k.len() + v.len()).sum();
        slot.text.clear();
        // Exact: the buffer never holds more than the longest text it
        // carried, so the documented bound holds.
        slot.text.reserve_exact(bytes);
        let mut len = 0;
        for ((key, value), lengths) in attachments.iter().zip(slot.lengths.iter_mut()) {
            slot.text.push_str(key);
            slot.text.push_str(value);
            *lengths = (key.len() as u16, value.len() as u16);
            len += 1;
        }
        slot.len = len;
        slot.time = Some(time);
        slot.value = value;
    }

    /// Adds this share's exemplars into `acc` (one entry per bucket),
    /// keeping the later of two for a bucket.
    pub(crate) fn merge_into(&self, acc: &mut Vec<Option<Exemplar>>) {
        let slots = self.slots.lock();
        if acc.len() < slots.len() {
            acc.resize(slots.len(), None);
        }
        for (kept, slot) in acc.iter_mut().zip(slots.iter()) {
            let Some(time) = slot.time else {
                continue;
            };
            if kept.as_ref().is_some_and(|k| k.time >= time) {
                continue;
            }
            *kept = Some(Exemplar::new(slot.value, time, slot.attachments()));
        }
    }
}

impl Slot {
    fn attachments(&self) -> Vec<(String, String)> {
        let mut rest = self.text.as_str();
        let mut out = Vec::with_capacity(usize::from(self.len));
        for &(k, v) in self.lengths.iter().take(usize::from(self.len)) {
            // Lengths of whole `&str`s pushed one after another, so every
            // split falls on a character boundary and `get` always finds it.
            let (k, v) = (usize::from(k), usize::from(v));
            let (Some(key), Some(value)) = (rest.get(..k), rest.get(k..k + v)) else {
                break;
            };
            out.push((key.to_owned(), value.to_owned()));
            rest = rest.get(k + v..).unwrap_or_default();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_are_kept_from_the_first_within_both_limits() {
        let id = "0af7651916cd43dd8448eb211c80319c";
        assert_eq!(kept(&[]), 0);
        assert_eq!(
            kept(&[("trace_id", id), ("span_id", "b7ad6b7169203331")]),
            2
        );
        let many = [("k", "v"); 12];
        assert_eq!(kept(&many), MAX_ATTACHMENTS);
        let long = "x".repeat(200);
        assert_eq!(kept(&[("a", &long), ("b", &long)]), 1);
        // Exactly at the byte limit still fits; one byte more does not.
        let exact = "x".repeat(MAX_ATTACHMENT_BYTES - 1);
        assert_eq!(kept(&[("k", &exact)]), 1);
        assert_eq!(kept(&[("k", &exact), ("", "y")]), 1);
    }

    #[test]
    fn memory_stays_within_the_documented_bound() {
        assert_eq!(std::mem::size_of::<Slot>(), 88);
        assert_eq!(std::mem::size_of::<Exemplars>(), 24);
        let e = Exemplars::new(2);
        let long = "v".repeat(MAX_ATTACHMENT_BYTES - 1);
        e.keep(0, 1.0, &[("k", &long)], SystemTime::now());
        e.keep(0, 2.0, &[("k", "short")], SystemTime::now());
        let capacity = e.slots.lock()[0].text.capacity();
        assert!(capacity <= MAX_ATTACHMENT_BYTES, "{capacity}");
    }

    #[test]
    fn a_slot_holds_the_latest_value_and_reuses_its_strings() {
        let e = Exemplars::new(3);
        e.keep(
            1,
            5.0,
            &[("trace_id", "aaaa"), ("span_id", "bb")],
            SystemTime::now(),
        );
        e.keep(1, 6.0, &[("trace_id", "cc")], SystemTime::now());
        e.keep(7, 1.0, &[("trace_id", "out of range")], SystemTime::now());
        let mut acc = Vec::new();
        e.merge_into(&mut acc);
        assert_eq!(acc.len(), 3);
        assert!(acc[0].is_none() && acc[2].is_none());
        let kept = acc[1].as_ref().map(|x| (x.value, x.attachments.clone()));
        assert_eq!(kept, Some((6.0, vec![("trace_id".into(), "cc".into())])));
        // A later exemplar from another share wins; an earlier one does not.
        let other = Exemplars::new(3);
        other.keep(1, 7.0, &[("trace_id", "dd")], SystemTime::now());
        let later = acc[1]
            .as_ref()
            .map(|x| x.time + std::time::Duration::from_secs(1));
        other.slots.lock()[1].time = later;
        other.merge_into(&mut acc);
        assert_eq!(acc[1].as_ref().map(|x| x.value), Some(7.0));
        e.merge_into(&mut acc);
        assert_eq!(acc[1].as_ref().map(|x| x.value), Some(7.0));
    }
}
