//! The stdout exporter's JSON Lines for arbitrary tag values and numbers:
//! every line parses and holds what was recorded.
#![no_main]

use std::io::Write;
use std::sync::{Arc, Mutex};

use census::exporters::{StdoutExporter, StdoutFormat};
use census::{Aggregation, MeasureF64, MeasurementMap, TagKey, TagMap, View, ViewManager};
use libfuzzer_sys::fuzz_target;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut out) = self.0.lock() {
            out.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let (Ok(m), Ok(key)) = (MeasureF64::new("m", "", "1"), TagKey::new("k")) else {
        return;
    };
    let vm = ViewManager::new();
    let views = [
        ("sum", Aggregation::Sum),
        ("last", Aggregation::LastValue),
        (
            "dist",
            Aggregation::Distribution(match census::Bounds::new([-1.0, 0.0, 1e10]) {
                Ok(b) => b,
                Err(_) => return,
            }),
        ),
    ];
    for (name, agg) in views {
        if let Ok(view) = View::builder(name, &m)
            .tag_keys([key.clone()])
            .aggregation(agg)
            .build()
        {
            let _ = vm.register_view(view);
        }
    }
    let out = Buffer::default();
    let exporter = StdoutExporter::builder()
        .format(StdoutFormat::JsonLines)
        .writer(out.clone())
        .build();
    // The stdout exporter accepts every view, so a refusal is a bug.
    vm.register_exporter(exporter)
        .expect("the stdout exporter accepts every view");
    let mut recorded = 0;
    for chunk in data.chunks(12) {
        let (num, text) = chunk.split_at(chunk.len().min(8));
        let mut bytes = [0u8; 8];
        bytes[..num.len()].copy_from_slice(num);
        let value = f64::from_le_bytes(bytes);
        let tag: String = text.iter().map(|b| char::from(*b)).collect();
        if let Ok(tags) = TagMap::new().with(&key, tag) {
            MeasurementMap::new().put(&m, value).record_to(&vm, &tags);
            recorded += 1;
        }
    }
    vm.shutdown();
    let text = out.0.lock().map(|o| o.clone()).unwrap_or_default();
    let text = String::from_utf8(text).expect("exporter output is UTF-8");
    let mut lines = 0;
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("every line is JSON");
        assert!(row["view"].is_string());
        lines += 1;
    }
    if recorded > 0 && vm.stats().rejected_values < recorded {
        assert!(lines > 0, "values were recorded but nothing was written");
    }
});
