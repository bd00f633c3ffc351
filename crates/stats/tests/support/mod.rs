//! Shared test fakes: an exporter that hands every batch to the test, and
//! readers of view data.
//!
//! Each test file uses a part of this module.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use census_core::{AggregationData, ExportError, Exporter, Number, Producer, Row, View, ViewData};
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

/// Hands each batch it exports to the test, marking the final one (the
/// one that comes before `shutdown`), and keeps the producer it is given,
/// so a test can snapshot as a pull exporter does.
pub struct Capture {
    batches: Sender<(bool, Vec<ViewData>)>,
    producer: Mutex<Option<Arc<dyn Producer>>>,
    refuse: Option<String>,
}

/// The test's end of a [`Capture`].
pub struct Captured {
    pub batches: Receiver<(bool, Vec<ViewData>)>,
    exporter: Arc<Capture>,
}

impl Capture {
    pub fn new() -> (Arc<Capture>, Captured) {
        Capture::refusing(None)
    }

    /// A capture whose `check_view` refuses views with this name.
    pub fn refusing(name: Option<&str>) -> (Arc<Capture>, Captured) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let exporter = Arc::new(Capture {
            batches: tx,
            producer: Mutex::new(None),
            refuse: name.map(str::to_owned),
        });
        let captured = Captured {
            batches: rx,
            exporter: Arc::clone(&exporter),
        };
        (exporter, captured)
    }
}

impl Exporter for Capture {
    fn export(&self, batch: &[ViewData]) -> Result<(), ExportError> {
        let _ = self.batches.send((false, batch.to_vec()));
        Ok(())
    }

    fn shutdown(&self) -> Result<(), ExportError> {
        // Mark the batch exported just before as the final one.
        let _ = self.batches.send((true, Vec::new()));
        Ok(())
    }

    fn attach(&self, producer: Arc<dyn Producer>) {
        *self.producer.lock() = Some(producer);
    }

    fn check_view(&self, view: &View, _registered: &[View]) -> Result<(), ExportError> {
        match &self.refuse {
            Some(name) if name == view.name() => Err(ExportError::from("refused by the test")),
            _ => Ok(()),
        }
    }

    fn name(&self) -> &str {
        "capture"
    }
}

impl Captured {
    /// Every view's data now, taken as a pull exporter takes it.
    pub fn pull(&self) -> Vec<ViewData> {
        let producer = self.exporter.producer.lock().clone();
        producer.map(|p| p.produce()).unwrap_or_default()
    }

    /// The next periodic batch, within `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Vec<ViewData>> {
        match self.batches.recv_timeout(timeout) {
            Ok((false, batch)) => Some(batch),
            _ => None,
        }
    }

    /// The final batch: the last one exported before `shutdown`. Call
    /// after the manager's `shutdown` returned.
    pub fn last(&self) -> Option<Vec<ViewData>> {
        let mut last = None;
        for (fin, batch) in self.batches.try_iter() {
            if fin {
                return last;
            }
            last = Some(batch);
        }
        None
    }
}

/// The view named `name` in `batch`.
pub fn find<'b>(batch: &'b [ViewData], name: &str) -> Option<&'b ViewData> {
    batch.iter().find(|v| v.view.name() == name)
}

/// A row's tag values as text, `-` for an absent tag.
pub fn tags(row: &Row) -> Vec<String> {
    row.tags
        .iter()
        .map(|t| t.as_ref().map_or("-".to_owned(), |v| v.as_str().to_owned()))
        .collect()
}

/// A row's value as an i64 (counts, int sums and last values).
pub fn int(row: &Row) -> Option<i64> {
    match row.data {
        AggregationData::Count(n) => i64::try_from(n).ok(),
        AggregationData::Sum(Number::Int(v)) | AggregationData::LastValue(Number::Int(v)) => {
            Some(v)
        }
        _ => None,
    }
}

/// The rows of `data` as (tags, value), sorted, the overflow row marked
/// with tags `["overflow"]`.
pub fn rows(data: &ViewData) -> Vec<(Vec<String>, Option<i64>)> {
    let mut rows: Vec<_> = data
        .rows
        .iter()
        .map(|r| {
            let tags = if r.overflow {
                vec!["overflow".to_owned()]
            } else {
                tags(r)
            };
            (tags, int(r))
        })
        .collect();
    rows.sort();
    rows
}
