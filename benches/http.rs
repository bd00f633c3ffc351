//! What the HTTP exporter costs the interval thread.
//!
//! - `http/serialise/<format>/1000x10`: encoding 1,000 views of 10 rows
//!   (a quarter each Count, Sum, LastValue and an 8-bucket Distribution,
//!   two tag keys) into each body format: census JSON, OTLP JSON, OTLP
//!   protobuf and remote write (before compression, which the sender
//!   thread does). The run prints each body's size, raw and as sent
//!   compressed (gzip for the first three, snappy for remote write).
//! - `http/compress/<format>/1000x10`: that compression, on the sender
//!   thread.
//! - `http/export/<format>/<views>x10`: a whole `export()` call, which is
//!   that encoding plus an enqueue. The endpoint is a closed port and the
//!   sender sits in a long backoff, so no I/O happens on the measured
//!   thread or beside it; the small queue stays full, so every call also
//!   drops (and frees) the oldest batch: the worst case.
//!   `1000x10_expiring` is the same batch with `expire_after` on every
//!   view, where the exporter also keeps each row of the batch before.
//!
//! Run: `cargo bench --features http --bench http -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use census::exporters::{HttpExporter, HttpFormat};
use census::{
    Aggregation, AggregationData, DistributionData, Exporter, MeasureF64, MeasureI64, Number, Row,
    TagKey, TagValue, View, ViewData,
};
use criterion::{criterion_group, criterion_main, Criterion};

const ROWS: usize = 10;

fn batch(views: usize, expire: bool) -> Result<Vec<ViewData>, census::Error> {
    let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let end = SystemTime::now();
    let keys = [TagKey::new("method")?, TagKey::new("status")?];
    let ints = MeasureI64::new("bench/requests", "requests", "1")?;
    let floats = MeasureF64::new("bench/latency", "latency", "ms")?;
    let bounds = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0];
    let mut out = Vec::with_capacity(views);
    for v in 0..views {
        let (aggregation, measure) = match v % 4 {
            0 => (Aggregation::Count, ints.as_ref()),
            1 => (Aggregation::Sum, ints.as_ref()),
            2 => (Aggregation::LastValue, floats.as_ref()),
            _ => (Aggregation::distribution(bounds)?, floats.as_ref()),
        };
        let mut view = View::builder(format!("bench/view_{v}"), measure)
            .tag_keys(keys.clone())
            .aggregation(aggregation);
        if expire {
            view = view.expire_after(Duration::from_secs(300));
        }
        let view = view.build()?;
        let rows = (0..ROWS)
            .map(|r| -> Result<Row, census::Error> {
                let tags = vec![
                    Some(TagValue::new(["GET", "POST", "PUT", "DELETE"][r % 4])?),
                    Some(TagValue::new(format!("{}", 200 + r))?),
                ];
                let data = match v % 4 {
                    0 => AggregationData::Count(1_000 + r as u64),
                    1 => AggregationData::Sum(Number::Int(123_456 + r as i64)),
                    2 => AggregationData::LastValue(Number::Float(12.75 + r as f64)),
                    _ => AggregationData::Distribution(DistributionData {
                        count: 900,
                        sum: 12_345.5,
                        mean: 13.72,
                        min: 0.25,
                        max: 480.0,
                        sum_of_squared_deviation: 99_999.0,
                        bounds: Arc::from(bounds.to_vec()),
                        bucket_counts: vec![100; bounds.len() + 1],
                    }),
                };
                Ok(Row::new(tags, data, start))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(ViewData::new(view, start, end, rows));
    }
    Ok(out)
}

/// An exporter whose sender never gets through and waits about a minute
/// between tries, so benchmarks measure the caller's side alone.
fn idle_exporter(format: HttpFormat) -> Result<HttpExporter, Box<dyn std::error::Error>> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    Ok(
        HttpExporter::builder(format!("http://127.0.0.1:{port}/v1/metrics"))
            .format(format)
            .queue_capacity(8)
            .backoff_base(Duration::from_secs(60))
            .backoff_cap(Duration::from_secs(60))
            .max_attempts(u32::MAX)
            .shutdown_deadline(Duration::ZERO)
            .build()?,
    )
}

fn benches(c: &mut Criterion) {
    let big = match batch(1_000, false) {
        Ok(b) => b,
        Err(e) => panic!("bench batch: {e}"),
    };
    let small = match batch(10, false) {
        Ok(b) => b,
        Err(e) => panic!("bench batch: {e}"),
    };
    // The same views with expire_after: the exporter keeps their rows of
    // the batch before, to carry an expired row's last value on.
    let expiring = match batch(1_000, true) {
        Ok(b) => b,
        Err(e) => panic!("bench batch: {e}"),
    };
    for (name, format) in [
        ("json", HttpFormat::Json),
        ("otlp_json", HttpFormat::OtlpJson),
        ("otlp_protobuf", HttpFormat::OtlpProtobuf),
        ("remote_write", HttpFormat::PrometheusRemoteWrite),
    ] {
        let http = match idle_exporter(format) {
            Ok(h) => h,
            Err(e) => panic!("exporter: {e}"),
        };
        if let Ok(body) = http.encode(&big) {
            let snappy = format == HttpFormat::PrometheusRemoteWrite;
            let packed = compress(&body, snappy).len();
            eprintln!(
                "{name}: 1000x10 body is {} bytes, {packed} bytes {}",
                body.len(),
                if snappy { "snappy" } else { "gzip" }
            );
            c.bench_function(&format!("http/compress/{name}/1000x10"), |b| {
                b.iter(|| black_box(compress(black_box(&body), snappy)))
            });
        }
        c.bench_function(&format!("http/serialise/{name}/1000x10"), |b| {
            b.iter(|| black_box(http.encode(black_box(&big))))
        });
        c.bench_function(&format!("http/export/{name}/1000x10"), |b| {
            b.iter(|| black_box(http.export(black_box(&big))))
        });
        c.bench_function(&format!("http/export/{name}/1000x10_expiring"), |b| {
            b.iter(|| black_box(http.export(black_box(&expiring))))
        });
        c.bench_function(&format!("http/export/{name}/10x10"), |b| {
            b.iter(|| black_box(http.export(black_box(&small))))
        });
        // The shutdown error (everything abandoned) is expected here.
        let _ = http.shutdown();
    }
}

/// The body as the sender thread compresses it (gzip at the exporter's
/// `Compression::fast()`, or remote write's snappy block).
fn compress(body: &[u8], snappy: bool) -> Vec<u8> {
    use std::io::Write;
    if snappy {
        return snap::raw::Encoder::new()
            .compress_vec(body)
            .unwrap_or_default();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = gz.write_all(body);
    gz.finish().unwrap_or_default()
}

criterion_group!(http, benches);
criterion_main!(http);
