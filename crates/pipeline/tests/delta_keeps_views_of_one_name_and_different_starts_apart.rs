//! Views of one name with different starts in one batch are different
//! views: every HTTP exporter's self-metrics views are named alike (told
//! apart by their `endpoint` tag and start). Delta kept one state per name,
//! so with two such exporters each view's data overwrote the other's and
//! was taken for a restart: the whole cumulative value went out as the
//! change every period (a QA pass summed 10 deltas for 4 sends).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use census_core::{Aggregation, AggregationData, Processor, Row, TagValue, View, ViewData};
use census_pipeline::Delta;
use census_testkit::{int_measure, key};

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

/// The view `sent` of the exporter at `endpoint`, started at `start`,
/// having counted `n` by `end`.
fn sent(view: &View, endpoint: &str, start: u64, end: u64, n: u64) -> ViewData {
    let tags = vec![Some(TagValue::new(endpoint).expect("valid value"))];
    let row = Row::new(tags, AggregationData::Count(n), at(start));
    ViewData::new(view.clone(), at(start), at(end), vec![row])
}

#[test]
fn two_exporters_self_metrics_each_get_their_own_deltas() {
    let view = View::builder("census/http_exporter/sent", int_measure("sent"))
        .tag_keys([key("endpoint")])
        .aggregation(Aggregation::Count)
        .build()
        .expect("valid view");
    let delta = Delta::new();
    let mut totals = [0u64; 2];
    for period in 1..=4u64 {
        let batch = vec![
            sent(&view, "http://a", 0, period * 10, period),
            sent(&view, "http://b", 1, period * 10, period * 2),
        ];
        for data in delta.process(batch) {
            for row in &data.rows {
                let b = row.tags[0]
                    .as_ref()
                    .is_some_and(|v| v.as_str() == "http://b");
                if let AggregationData::Count(n) = row.data {
                    totals[usize::from(b)] += n;
                }
            }
        }
    }
    // The deltas add up to each exporter's count, not to the sum of its
    // cumulative values.
    assert_eq!(totals, [4, 8]);
    assert_eq!(delta.tracked_rows(), 2);
}
