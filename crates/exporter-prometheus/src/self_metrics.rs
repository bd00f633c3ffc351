//! The exporter's own counters, contributed to the manager as view data.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use census_core::{
    Aggregation, AggregationData, Error, MeasureI64, Number, Producer, Row, TagKey, TagValue, View,
    ViewData,
};

use crate::format::PrometheusFormat;

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
    not_found: AtomicU64,
    method_not_allowed: AtomicU64,
    failed_responses: AtomicU64,
    omitted_views: AtomicU64,
    omitted_rows: AtomicU64,
    views: Views,
}

#[derive(Debug)]
struct Views {
    scrapes: View,
    refused: View,
    failed: View,
    omitted_views: View,
    omitted_rows: View,
    text: TagValue,
    openmetrics: TagValue,
    code_404: TagValue,
    code_405: TagValue,
}

/// Why a request to the endpoint was refused.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refusal {
    /// Not `/metrics`.
    NotFound,
    /// `/metrics` with a method other than GET or HEAD.
    MethodNotAllowed,
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
                "requests the census Prometheus endpoint refused, by HTTP status code",
                Some(&code),
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
            code_404: TagValue::new("404")?,
            code_405: TagValue::new("405")?,
        };
        Ok(SelfMetrics {
            start: SystemTime::now(),
            scrapes_text: AtomicU64::new(0),
            scrapes_openmetrics: AtomicU64::new(0),
            not_found: AtomicU64::new(0),
            method_not_allowed: AtomicU64::new(0),
            failed_responses: AtomicU64::new(0),
            omitted_views: AtomicU64::new(0),
            omitted_rows: AtomicU64::new(0),
            views,
        })
    }

    /// The views this producer reports, so registration can check user
    /// views against them.
    pub(crate) fn views(&self) -> [&View; 5] {
        let v = &self.views;
        [
            &v.scrapes,
            &v.refused,
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

    pub(crate) fn refused(&self, refusal: Refusal) {
        match refusal {
            Refusal::NotFound => self.not_found.fetch_add(1, Ordering::Relaxed),
            Refusal::MethodNotAllowed => self.method_not_allowed.fetch_add(1, Ordering::Relaxed),
        };
    }

    pub(crate) fn response_failed(&self) {
        self.failed_responses.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rendered(&self, omitted_views: usize, omitted_rows: u64) {
        self.omitted_views
            .store(omitted_views as u64, Ordering::Relaxed);
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
                vec![
                    row(Some(&v.code_404), count(&self.not_found)),
                    row(Some(&v.code_405), count(&self.method_not_allowed)),
                ],
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
