//! Text lines print floats far from 1 with an exponent, in the shortest
//! form that reads back the same value: `1e308`, not the 309 digits
//! Rust's `Display` writes for it, and `5e-324`, not 323 zeros. Before,
//! one LastValue of 5e-324 made a 340-character line. Integral values keep
//! printing as integers (`sum=25`).

use census_core::{Aggregation, Exporter, MeasureF64, View};
use census_exporter_stdout::{StdoutExporter, StdoutFormat};
use census_stats::{MeasurementMap, ViewManager};
use census_testkit::SharedBuffer;

#[test]
fn large_and_tiny_floats_keep_lines_short() -> Result<(), Box<dyn std::error::Error>> {
    let vm = ViewManager::new();
    let m = MeasureF64::new("m", "a float", "1")?;
    let views = [
        ("huge_sum", Aggregation::Sum),
        ("tiny_last", Aggregation::LastValue),
        ("dist", Aggregation::distribution([0.25, 1e300])?),
        ("small", Aggregation::UpDownSum),
    ];
    for (name, aggregation) in &views {
        vm.register_view(
            View::builder(*name, &m)
                .aggregation(aggregation.clone())
                .build()?,
        )?;
    }
    let tags = census_core::TagMap::new();
    for value in [1e308, 25.0, 5e-324] {
        MeasurementMap::new().put(&m, value).record_to(&vm, &tags);
    }
    let written = SharedBuffer::default();
    let exporter = StdoutExporter::builder()
        .format(StdoutFormat::Text)
        .writer(written.clone())
        .build();
    let batch = views
        .iter()
        .map(|(name, _)| vm.retrieve_data(name))
        .collect::<Result<Vec<_>, _>>()?;
    exporter.export(&batch)?;
    // The mean is the manager's running mean, 1e308 / 3 to within a
    // rounding: printed the same short way.
    let mean = batch
        .iter()
        .find(|d| d.view.name() == "dist")
        .and_then(|d| d.rows.first())
        .and_then(|r| r.data.as_distribution())
        .map(|d| d.mean)
        .ok_or("no distribution row")?;
    assert!((mean / (1e308 / 3.0) - 1.0).abs() < 1e-12, "{mean}");
    let lines = written.lines();
    let text = lines.join("\n");
    assert!(
        mean.to_string().len() > 300,
        "Display would print {mean} in full"
    );
    assert_eq!(
        lines,
        [
            "huge_sum sum=1e308",
            "tiny_last last=5e-324",
            &format!(
                "dist count=3 sum=1e308 mean={mean:?} min=5e-324 max=1e308 \
                 buckets=[<=0.25:1 <=1e300:1 >1e300:1]"
            ),
            "small sum=1e308",
        ],
        "{text}"
    );
    vm.shutdown();
    Ok(())
}
