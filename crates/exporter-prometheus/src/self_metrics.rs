//! The exporter's own counters, contributed to the manager as view data.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use census_core::{
    Aggregation, AggregationData, Error, MeasureI64, Number, Producer, Row, TagKey, TagValue, View,
    ViewData,
};

use crate::format::PrometheusFormat;
use crate::server::Status;

/// The error statuses counted in `refused_requests`, in row order.
const REFUSED: [Status; 6] = [
    Status::BadRequest,
    Status::NotFound,
    Status::MethodNotAllowed,
    Status::HeadTooLarge,
    Status::InternalError,
    Status::VersionNotSupported,
];

/// Why the endpoint closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// The ordinary end: the client closed, an answer said
    /// `Connection: close` and was read, or the socket failed. Not counted.
    Done,
    /// No request began within the read timeout.
    Idle,
    /// A request head began but was not complete within the read timeout.
    ReadTimeout,
    /// A response was not written within the write timeout.
    WriteTimeout,
    /// Closed, idle, to make room for a new connection.
    Evicted,
    /// A newcomer that waited `read_timeout` for a place while the
    /// endpoint was full of busy connections.
    OverCapacity,
}

/// The counted reasons, in row order, with their tag values.
const CLOSED: [(Closed, &str); 5] = [
    (Closed::Idle, "idle_timeout"),
    (Closed::ReadTimeout, "read_timeout"),
    (Closed::WriteTimeout, "write_timeout"),
    (Closed::Evicted, "evicted"),
    (Closed::OverCapacity, "over_capacity"),
];

/// Counters the endpoint and the encoder bump, readable as view data.
///
/// Every counter is independent and only ever read for display, so all
/// atomic operations are `Relaxed`: no other memory is published through
/// them.
#[derive(Debug)]
pub(crate) struct SelfMetrics {
    start: SystemTime,
    scrapes_text: AtomicU64,
    scrapes_openmetrics: AtomicU64,
    refused: [AtomicU64; REFUSED.len()],
    closed: [AtomicU64; CLOSED.len()],
    failed_responses: AtomicU64,
    omitted_views: AtomicU64,
    omitted_rows: AtomicU64,
    views: Views,
}

#[derive(Debug)]
struct Views {
    scrapes: View,
    refused: View,
    closed: View,
    failed: View,
    omitted_views: View,
    omitted_rows: View,
    text: TagValue,
    openmetrics: TagValue,
    /// The `code` tag of each status in [`REFUSED`], in its order.
    codes: Vec<TagValue>,
    /// The `reason` tag of each reason in [`CLOSED`], in its order.
    reasons: Vec<TagValue>,
}

impl SelfMetrics {
    /// Builds the views. Their names and keys are constants, so this fails
    /// only if census-core tightened its name rules.
    pub(crate) fn new() -> Result<SelfMetrics, Error> {
        let count = |name: &str, description: &str, key: Option<&TagKey>| {
            let measure = MeasureI64::new(name, description, "1")?;
            View::builder(name, &measure)
                .tag_keys(key.cloned())
                .aggregation(Aggregation::Count)
                .build()
        };
        let format = TagKey::new("format")?;
        let code = TagKey::new("code")?;
        let reason = TagKey::new("reason")?;
        let omitted = MeasureI64::new(
            "census/prometheus/omitted_views",
            "views left out of the latest scrape because their names clash",
            "1",
        )?;
        let views = Views {
            scrapes: count(
                "census/prometheus/scrapes",
                "scrapes answered by the census Prometheus endpoint, by format",
                Some(&format),
            )?,
            refused: count(
                "census/prometheus/refused_requests",
                "requests the census Prometheus endpoint answered with an error, by HTTP \
                 status code",
                Some(&code),
            )?,
            closed: count(
                "census/prometheus/closed_connections",
                "connections the census Prometheus endpoint closed for a limit, by reason",
                Some(&reason),
            )?,
            failed: count(
                "census/prometheus/failed_responses",
                "responses the census Prometheus endpoint could not send",
                None,
            )?,
            omitted_views: View::builder(omitted.name(), &omitted)
                .aggregation(Aggregation::LastValue)
                .build()?,
            omitted_rows: count(
                "census/prometheus/omitted_rows",
                "rows left out of scrapes because their data did not fit their view",
                None,
            )?,
            text: TagValue::new("text")?,
            openmetrics: TagValue::new("openmetrics")?,
            codes: REFUSED
                .iter()
                .map(|status| TagValue::new(status.code().to_string()))
                .collect::<Result<_, _>>()?,
            reasons: CLOSED
                .iter()
                .map(|(_, reason)| TagValue::new(*reason))
                .collect::<Result<_, _>>()?,
        };
        Ok(SelfMetrics {
            start: SystemTime::now(),
            scrapes_text: AtomicU64::new(0),
            scrapes_openmetrics: AtomicU64::new(0),
            refused: Default::default(),
            closed: Default::default(),
            failed_responses: AtomicU64::new(0),
            omitted_views: AtomicU64::new(0),
            omitted_rows: AtomicU64::new(0),
            views,
        })
    }

    /// The views this producer reports, so registration can check user
    /// views against them.
    pub(crate) fn views(&self) -> [&View; 6] {
        let v = &self.views;
        [
            &v.scrapes,
            &v.refused,
            &v.closed,
            &v.failed,
            &v.omitted_views,
            &v.omitted_rows,
        ]
    }

    pub(crate) fn scraped(&self, format: PrometheusFormat) {
        match format {
            PrometheusFormat::Text => self.scrapes_text.fetch_add(1, Ordering::Relaxed),
            PrometheusFormat::OpenMetrics => {
                self.scrapes_openmetrics.fetch_add(1, Ordering::Relaxed)
            }
        };
    }

    /// Counts a request answered with an error status.
    pub(crate) fn refused(&self, status: Status) {
        let at = REFUSED.iter().position(|s| *s == status);
        if let Some(counter) = at.and_then(|at| self.refused.get(at)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a connection closed for a limit; the ordinary end is not
    /// counted.
    pub(crate) fn closed(&self, closed: Closed) {
        let at = CLOSED.iter().position(|(c, _)| *c == closed);
        if let Some(counter) = at.and_then(|at| self.closed.get(at)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn response_failed(&self) {
        self.failed_responses.fetch_add(1, Ordering::Relaxed);
    }

    /// How many views the scrape being rendered leaves out.
    pub(crate) fn omitted(&self, views: usize) {
        self.omitted_views.store(views as u64, Ordering::Relaxed);
    }

    /// Writes the current `omitted_views` into this exporter's own view in
    /// `batch`, which was produced before the scrape knew it.
    pub(crate) fn restate_omitted(&self, batch: &mut [ViewData]) {
        let own = &self.views.omitted_views;
        let Some(data) = batch.iter_mut().find(|d| d.view == *own) else {
            return;
        };
        let n = i64::try_from(self.omitted_views.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        for row in &mut data.rows {
            row.data = AggregationData::LastValue(Number::Int(n));
        }
    }

    /// Counts the rows a rendered scrape left out.
    pub(crate) fn rendered(&self, omitted_rows: u64) {
        self.omitted_rows.fetch_add(omitted_rows, Ordering::Relaxed);
    }
}

impl Producer for SelfMetrics {
    fn produce(&self) -> Vec<ViewData> {
        let now = SystemTime::now();
        let v = &self.views;
        let count = |n: &AtomicU64| AggregationData::Count(n.load(Ordering::Relaxed));
        let row = |tag: Option<&TagValue>, data| match tag {
            Some(tag) => Row::new(vec![Some(tag.clone())], data, self.start),
            None => Row::new(Vec::new(), data, self.start),
        };
        let data = |view: &View, rows| ViewData::new(view.clone(), self.start, now, rows);
        let omitted_views = self.omitted_views.load(Ordering::Relaxed);
        vec![
            data(
                &v.scrapes,
                vec![
                    row(Some(&v.text), count(&self.scrapes_text)),
                    row(Some(&v.openmetrics), count(&self.scrapes_openmetrics)),
                ],
            ),
            data(
                &v.refused,
                v.codes
                    .iter()
                    .zip(&self.refused)
                    .map(|(code, n)| row(Some(code), count(n)))
                    .collect(),
            ),
            data(
                &v.closed,
                v.reasons
                    .iter()
                    .zip(&self.closed)
                    .map(|(reason, n)| row(Some(reason), count(n)))
                    .collect(),
            ),
            data(&v.failed, vec![row(None, count(&self.failed_responses))]),
            data(
                &v.omitted_views,
                vec![row(
                    None,
                    AggregationData::LastValue(Number::Int(
                        i64::try_from(omitted_views).unwrap_or(i64::MAX),
                    )),
                )],
            ),
            data(&v.omitted_rows, vec![row(None, count(&self.omitted_rows))]),
        ]
    }
}
