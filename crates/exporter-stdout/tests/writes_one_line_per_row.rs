//! The stdout exporter writes one line per row, readable or JSON, with
//! absent tags left out and the overflow row marked.

use census_core::{Aggregation, TagMap, View};
use census_exporter_stdout::{StdoutExporter, StdoutFormat};
use census_stats::{MeasurementMap, ViewManager};
use census_testkit::{float_measure, int_measure, key, view, SharedBuffer};

fn run(format: StdoutFormat) -> Result<Vec<String>, census_core::Error> {
    let latency = float_measure("latency");
    let requests = int_measure("requests");
    let method = key("method");
    let vm = ViewManager::new();
    vm.register_view(view(
        "latency_dist",
        &latency,
        &["method"],
        Aggregation::distribution([10.0])?,
    ))?;
    // Built in full: a row limit of 2, so the third combination overflows.
    vm.register_view(
        View::builder("requests_total", &requests)
            .tag_keys([method.clone()])
            .aggregation(Aggregation::Sum)
            .row_limit(2)
            .build()?,
    )?;
    let out = SharedBuffer::default();
    vm.register_exporter(
        StdoutExporter::builder()
            .format(format)
            .writer(out.clone())
            .build(),
    )?;
    let get = TagMap::new().with(&method, "GET")?;
    MeasurementMap::new()
        .put(&latency, 5.0)
        .put(&requests, 1)
        .record_to(&vm, &get);
    MeasurementMap::new()
        .put(&latency, 20.0)
        .put(&requests, 2)
        .record_to(&vm, &get);
    MeasurementMap::new()
        .put(&requests, 4)
        .record_to(&vm, &TagMap::new());
    // Third combination: past the row limit of 2.
    MeasurementMap::new()
        .put(&requests, 8)
        .record_to(&vm, &TagMap::new().with(&method, "PUT")?);
    vm.shutdown();
    Ok(out.lines())
}

#[test]
fn text_lines_read_like_the_docs_say() -> Result<(), census_core::Error> {
    let mut lines = run(StdoutFormat::Text)?;
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "latency_dist{method=\"GET\"} count=2 sum=25 mean=12.5 min=5 max=20 buckets=[<=10:1 >10:1]",
            "requests_total sum=4",
            "requests_total{method=\"GET\"} sum=3",
            "requests_total{overflow folded=1} sum=8",
        ]
    );
    Ok(())
}

#[test]
fn json_lines_parse_and_hold_the_values() -> Result<(), Box<dyn std::error::Error>> {
    let lines = run(StdoutFormat::JsonLines)?;
    assert_eq!(lines.len(), 4);
    let rows: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l))
        .collect::<Result<_, _>>()?;
    let find = |view: &str, method: Option<&str>, overflow: bool| {
        rows.iter()
            .find(|r| {
                r["view"] == view
                    && r["overflow"] == overflow
                    && r["tags"].get("method").and_then(|m| m.as_str()) == method
            })
            .cloned()
    };
    let dist = find("latency_dist", Some("GET"), false).ok_or("no distribution row")?;
    assert_eq!(dist["distribution"]["count"], "2");
    assert_eq!(
        dist["distribution"]["bucket_counts"],
        serde_json::json!(["1", "1"])
    );
    assert_eq!(dist["bounds"], serde_json::json!([10.0]));
    let absent = find("requests_total", None, false).ok_or("no row without method")?;
    assert_eq!(absent["sum"], "4");
    assert_eq!(absent["tags"], serde_json::json!({}));
    assert!(absent.get("bounds").is_none());
    let overflow = find("requests_total", None, true).ok_or("no overflow row")?;
    assert_eq!(overflow["sum"], "8");
    let nanos = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<u64>().ok());
    assert!(
        nanos(&dist["end_unix_nano"]).ok_or("end is not a decimal string")?
            >= nanos(&dist["start_unix_nano"]).ok_or("no start")?
    );
    Ok(())
}
