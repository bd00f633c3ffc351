//! The exporter's delivery counters as census views, contributed to every
//! batch through `Exporter::self_metrics`.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::SystemTime;

use census_core::{
    Aggregation, AggregationData, Error, MeasureI64, Number, Producer, Row, TagKey, TagValue, View,
    ViewData,
};

use crate::delivery_stats::DeliveryStats;
use crate::queue::Queue;

/// The prefix of every view this exporter contributes.
pub(crate) const PREFIX: &str = "census/http_exporter/";

/// Which counter a view reports.
#[derive(Debug, Clone, Copy)]
enum Counter {
    Sent,
    Retried,
    Failed,
    Dropped,
    Merged,
    Abandoned,
    LostRows,
    Errors,
    Pending,
    Responses,
    RejectedPoints,
    Omitted,
    OmittedRows,
}

const COUNTERS: [(Counter, &str, &str); 13] = [
    (Counter::Sent, "sent", "batches the endpoint accepted"),
    (
        Counter::Retried,
        "retried",
        "requests sent again after a failed attempt",
    ),
    (
        Counter::Failed,
        "failed",
        "batches given up on after a permanent error or the last attempt",
    ),
    (
        Counter::Dropped,
        "dropped",
        "batches dropped, oldest first, from a full queue",
    ),
    (
        Counter::Merged,
        "merged",
        "delta batches folded into the batch behind them in a full queue",
    ),
    (
        Counter::Abandoned,
        "abandoned",
        "batches not delivered by the shutdown deadline",
    ),
    (
        Counter::LostRows,
        "lost_rows",
        "rows of delta data in batches that failed for good or were abandoned",
    ),
    (
        Counter::Errors,
        "errors",
        "attempts that failed (transport error or non-2xx status)",
    ),
    (Counter::Pending, "pending", "batches queued or being sent"),
    (
        Counter::Responses,
        "responses",
        "responses by HTTP status code",
    ),
    (
        Counter::RejectedPoints,
        "rejected_points",
        "data points an OTLP receiver reported rejected in a partial success",
    ),
    (
        Counter::Omitted,
        "omitted_views",
        "views left out of a body because the format cannot carry them",
    ),
    (
        Counter::OmittedRows,
        "omitted_rows",
        "rows left out of a body: the format cannot carry them, or they do not fit their view",
    ),
];

/// Synthesises one [`ViewData`] per counter from the live counters, tagged
/// with the endpoint. Cumulative views start when the exporter was built.
#[derive(Debug)]
pub(crate) struct SelfMetrics {
    views: Vec<(Counter, View)>,
    endpoint: TagValue,
    stats: Arc<DeliveryStats>,
    queue: Arc<Queue>,
    start: SystemTime,
}

impl SelfMetrics {
    pub(crate) fn new(
        endpoint: &str,
        stats: Arc<DeliveryStats>,
        queue: Arc<Queue>,
    ) -> Result<SelfMetrics, Error> {
        let endpoint_key = TagKey::new("endpoint")?;
        let status_key = TagKey::new("status")?;
        let mut views = Vec::with_capacity(COUNTERS.len());
        for (counter, short, description) in COUNTERS {
            let name = format!("{PREFIX}{short}");
            let measure = MeasureI64::new(name.as_str(), description, "1")?;
            let (aggregation, keys) = match counter {
                Counter::Pending => (Aggregation::LastValue, vec![endpoint_key.clone()]),
                Counter::Responses => (
                    Aggregation::Sum,
                    vec![endpoint_key.clone(), status_key.clone()],
                ),
                _ => (Aggregation::Sum, vec![endpoint_key.clone()]),
            };
            let view = View::builder(name, &measure)
                .description(description)
                .tag_keys(keys)
                .aggregation(aggregation)
                .build()?;
            views.push((counter, view));
        }
        Ok(SelfMetrics {
            views,
            endpoint: endpoint_tag(endpoint)?,
            stats,
            queue,
            start: SystemTime::now(),
        })
    }
}

impl SelfMetrics {
    /// The views this producer reports.
    pub(crate) fn views(&self) -> impl Iterator<Item = &View> {
        self.views.iter().map(|(_, view)| view)
    }
}

/// The endpoint as a tag value: tag values are at most 255 bytes of
/// printable ASCII, which a checked URL is, apart from its length.
fn endpoint_tag(endpoint: &str) -> Result<TagValue, Error> {
    let cut: String = endpoint
        .chars()
        .filter(|c| (' '..='~').contains(c))
        .take(255)
        .collect();
    TagValue::new(cut)
}

impl Producer for SelfMetrics {
    fn produce(&self) -> Vec<ViewData> {
        let end = SystemTime::now();
        let tag = || Some(self.endpoint.clone());
        let stats = &self.stats;
        self.views
            .iter()
            .map(|(counter, view)| {
                let value = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                let sum = |counter: &AtomicU64| {
                    vec![Row::new(
                        vec![tag()],
                        AggregationData::Sum(Number::Int(value(DeliveryStats::get(counter)))),
                        self.start,
                    )]
                };
                let rows = match counter {
                    Counter::Responses => stats
                        .status_codes()
                        .into_iter()
                        .filter_map(|(status, n)| {
                            let status = TagValue::new(status.to_string()).ok()?;
                            Some(Row::new(
                                vec![tag(), Some(status)],
                                AggregationData::Sum(Number::Int(value(n))),
                                self.start,
                            ))
                        })
                        .collect(),
                    Counter::Pending => vec![Row::new(
                        vec![tag()],
                        AggregationData::LastValue(Number::Int(value(self.queue.pending()))),
                        self.start,
                    )],
                    Counter::Sent => sum(&stats.sent),
                    Counter::Retried => sum(&stats.retried),
                    Counter::Failed => sum(&stats.failed),
                    Counter::Dropped => sum(&stats.dropped),
                    Counter::Merged => sum(&stats.merged),
                    Counter::Abandoned => sum(&stats.abandoned),
                    Counter::LostRows => sum(&stats.lost_rows),
                    Counter::Errors => sum(&stats.errors),
                    Counter::RejectedPoints => sum(&stats.rejected_points),
                    Counter::Omitted => sum(&stats.omitted_views),
                    Counter::OmittedRows => sum(&stats.omitted_rows),
                };
                ViewData::new(view.clone(), self.start, end, rows)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produces_one_view_per_counter_with_current_values() -> Result<(), Error> {
        let stats = Arc::new(DeliveryStats::default());
        let queue = Arc::new(Queue::new(4, Arc::clone(&stats)));
        let p = SelfMetrics::new("http://127.0.0.1:9/v1/metrics", Arc::clone(&stats), queue)?;
        DeliveryStats::add(&stats.sent, 3);
        stats.status(200);
        stats.status(503);
        let data = p.produce();
        assert_eq!(data.len(), COUNTERS.len());
        let by_name = |n: &str| {
            data.iter()
                .find(|v| v.view.name() == format!("{PREFIX}{n}"))
        };
        let sent = by_name("sent").ok_or(Error::UnknownView {
            name: "sent".into(),
        })?;
        assert_eq!(sent.rows[0].data, AggregationData::Sum(Number::Int(3)));
        assert_eq!(
            sent.rows[0].tags[0].as_ref().map(TagValue::as_str),
            Some("http://127.0.0.1:9/v1/metrics")
        );
        // Each counter reads its own field: distinct values tell them apart.
        let fields = [
            ("sent", &stats.sent),
            ("retried", &stats.retried),
            ("failed", &stats.failed),
            ("dropped", &stats.dropped),
            ("merged", &stats.merged),
            ("abandoned", &stats.abandoned),
            ("lost_rows", &stats.lost_rows),
            ("errors", &stats.errors),
            ("rejected_points", &stats.rejected_points),
            ("omitted_views", &stats.omitted_views),
            ("omitted_rows", &stats.omitted_rows),
        ];
        for (i, (_, field)) in fields.iter().enumerate() {
            // 3 was added to `sent` above: every field still ends distinct.
            DeliveryStats::add(field, 1_000 + 10 * i as u64);
        }
        let data = p.produce();
        let by_name = |n: &str| {
            data.iter()
                .find(|v| v.view.name() == format!("{PREFIX}{n}"))
        };
        for (name, field) in fields {
            let view = by_name(name).ok_or(Error::UnknownView { name: name.into() })?;
            let expected = i64::try_from(DeliveryStats::get(field)).unwrap_or(i64::MAX);
            assert_eq!(
                view.rows[0].data,
                AggregationData::Sum(Number::Int(expected)),
                "{name}"
            );
        }
        let pending = by_name("pending").ok_or(Error::UnknownView {
            name: "pending".into(),
        })?;
        assert_eq!(
            pending.rows[0].data,
            AggregationData::LastValue(Number::Int(0))
        );
        let responses = by_name("responses").ok_or(Error::UnknownView {
            name: "responses".into(),
        })?;
        assert_eq!(responses.rows.len(), 2);
        Ok(())
    }

    #[test]
    fn long_endpoints_are_cut_to_a_valid_tag() -> Result<(), Error> {
        let long = format!("http://h/{}", "p".repeat(400));
        assert_eq!(endpoint_tag(&long)?.as_str().len(), 255);
        Ok(())
    }
}
