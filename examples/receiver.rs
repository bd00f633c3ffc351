//! A small receiver for the HTTP exporter: listens on 127.0.0.1, accepts
//! POSTed batches in census's JSON (`census.v1`) or OTLP/HTTP JSON (plain
//! or gzip), prints each batch readably, accepts OTLP protobuf bodies
//! (printing their size only: decoding them needs the OTLP message types,
//! which the exporter keeps private; docs/http-exporter.md shows one
//! decoded), answers a repeated
//! `Idempotency-Key` with 200 without printing it again, and refuses
//! bodies over a size limit with 413.
//!
//! Run it with `cargo run --features http --example receiver`, then in a
//! second terminal `cargo run --features http --example push`. Options:
//! `--addr 127.0.0.1:4318`, `--max-body 4194304` (bytes),
//! `--max-batches N` (exit after N new batches; otherwise Ctrl-C stops it).

use std::collections::{HashSet, VecDeque};
use std::io::Read;

use serde_json::Value;
use tiny_http::{Header, Method, Request, Response, Server};

/// How many idempotency keys are remembered: enough for hours of retries
/// from many exporters, bounded so a long-running receiver does not grow.
const REMEMBERED_KEYS: usize = 10_000;

struct Options {
    addr: String,
    max_body: usize,
    max_batches: Option<u64>,
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let options = options()?;
    let server = Server::http(&options.addr)?;
    println!(
        "receiver listening on http://{}/v1/metrics (bodies up to {} bytes)",
        options.addr, options.max_body
    );
    let mut seen = SeenKeys::new(REMEMBERED_KEYS);
    let mut accepted = 0u64;
    for mut request in server.incoming_requests() {
        let (status, note) = handle(&mut request, &options, &mut seen, &mut accepted);
        let response = Response::from_string(note).with_status_code(status);
        if let Err(e) = request.respond(response) {
            eprintln!("could not answer: {e}");
        }
        if options.max_batches.is_some_and(|max| accepted >= max) {
            println!("received {accepted} batches; exiting");
            break;
        }
    }
    Ok(())
}

fn handle(
    request: &mut Request,
    options: &Options,
    seen: &mut SeenKeys,
    accepted: &mut u64,
) -> (u16, String) {
    if *request.method() != Method::Post {
        return (405, "POST batches here\n".into());
    }
    if request.body_length().is_some_and(|n| n > options.max_body) {
        return (413, format!("body over {} bytes\n", options.max_body));
    }
    let mut raw = Vec::new();
    // One byte past the limit tells an oversized chunked body apart.
    let limit = options.max_body as u64 + 1;
    if let Err(e) = request.as_reader().take(limit).read_to_end(&mut raw) {
        return (400, format!("could not read the body: {e}\n"));
    }
    if raw.len() > options.max_body {
        return (413, format!("body over {} bytes\n", options.max_body));
    }
    let raw_len = raw.len();
    let gzip = header(request, "Content-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let body = if gzip {
        let mut out = Vec::new();
        // The same limit after decompression: a small gzip body can expand
        // enormously.
        match flate2::read::GzDecoder::new(&raw[..])
            .take(limit)
            .read_to_end(&mut out)
        {
            Ok(_) if out.len() > options.max_body => {
                return (
                    413,
                    format!("decompressed body over {} bytes\n", options.max_body),
                )
            }
            Ok(_) => out,
            Err(e) => return (400, format!("bad gzip body: {e}\n")),
        }
    } else {
        raw
    };
    let key = header(request, "Idempotency-Key").unwrap_or_default();
    if !key.is_empty() && seen.contains(&key) {
        println!("duplicate batch {key} ignored");
        return (200, "duplicate\n".into());
    }
    let protobuf = header(request, "Content-Type")
        .is_some_and(|v| v.eq_ignore_ascii_case("application/x-protobuf"));
    if protobuf {
        println!(
            "batch {key}: {} bytes of OTLP protobuf ({} on the wire)",
            body.len(),
            raw_len
        );
        if !key.is_empty() {
            seen.insert(key);
        }
        *accepted += 1;
        return (200, String::new());
    }
    let json: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (400, format!("body is not JSON: {e}\n")),
    };
    let printed = if json["schema"] == "census.v1" {
        print_census(&key, &json)
    } else if json.get("resourceMetrics").is_some() {
        print_otlp(&key, &json)
    } else {
        Err("neither census.v1 nor an OTLP ExportMetricsServiceRequest".to_owned())
    };
    match printed {
        Ok(()) => {
            if !key.is_empty() {
                seen.insert(key);
            }
            *accepted += 1;
            (200, "ok\n".into())
        }
        Err(why) => (400, format!("{why}\n")),
    }
}

fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h: &&Header| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_owned())
}

/// Remembers the last `cap` keys, forgetting the oldest first.
struct SeenKeys {
    set: HashSet<String>,
    order: VecDeque<String>,
    cap: usize,
}

impl SeenKeys {
    fn new(cap: usize) -> SeenKeys {
        SeenKeys {
            set: HashSet::with_capacity(cap),
            order: VecDeque::with_capacity(cap),
            cap,
        }
    }

    fn contains(&self, key: &str) -> bool {
        self.set.contains(key)
    }

    fn insert(&mut self, key: String) {
        if self.order.len() == self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.set.insert(key.clone());
        self.order.push_back(key);
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn print_census(key: &str, body: &Value) -> Result<(), String> {
    let views = body["views"]
        .as_array()
        .ok_or("census.v1 body without views")?;
    println!(
        "batch {key} (census.v1, service {}, {} views)",
        text(&body["resource"]["service.name"]),
        views.len()
    );
    for view in views {
        println!(
            "  {} [{}, {}]",
            text(&view["name"]),
            text(&view["aggregation"]),
            text(&view["measure"]["unit"])
        );
        for row in view["rows"].as_array().into_iter().flatten() {
            let mut tags: Vec<String> = row["tags"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect();
            if row["overflow"] == true {
                tags.push("(overflow)".into());
            }
            let value = if let Some(d) = row.get("distribution") {
                let bounds = view["bounds"].as_array().cloned().unwrap_or_default();
                buckets(
                    &text(&d["count"]),
                    &text(&d["sum"]),
                    &bounds,
                    d["bucket_counts"].as_array(),
                )
            } else {
                ["count", "sum", "last_value"]
                    .iter()
                    .find_map(|k| row.get(*k).map(|v| format!("{k}={}", text(v))))
                    .unwrap_or_else(|| "?".into())
            };
            println!("    {:<40} {value}", tags.join(" "));
        }
    }
    Ok(())
}

fn print_otlp(key: &str, body: &Value) -> Result<(), String> {
    for rm in body["resourceMetrics"]
        .as_array()
        .ok_or("resourceMetrics is not a list")?
    {
        let service = attrs(&rm["resource"]["attributes"])
            .into_iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v)
            .unwrap_or_else(|| "-".into());
        println!("batch {key} (OTLP JSON, service {service})");
        for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
            for metric in sm["metrics"].as_array().into_iter().flatten() {
                let (kind, data) = ["sum", "gauge", "histogram"]
                    .iter()
                    .find_map(|k| metric.get(*k).map(|d| (*k, d)))
                    .ok_or("metric without sum, gauge or histogram")?;
                println!(
                    "  {} [{kind}, {}]",
                    text(&metric["name"]),
                    text(&metric["unit"])
                );
                for point in data["dataPoints"].as_array().into_iter().flatten() {
                    let tags: Vec<String> = attrs(&point["attributes"])
                        .into_iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    let value = if kind == "histogram" {
                        let bounds = point["explicitBounds"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default();
                        buckets(
                            &text(&point["count"]),
                            &text(&point["sum"]),
                            &bounds,
                            point["bucketCounts"].as_array(),
                        )
                    } else {
                        point
                            .get("asInt")
                            .or_else(|| point.get("asDouble"))
                            .map(text)
                            .unwrap_or_else(|| "?".into())
                    };
                    println!("    {:<40} {value}", tags.join(" "));
                }
            }
        }
    }
    Ok(())
}

fn attrs(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|kv| {
            let value = kv["value"]
                .as_object()
                .and_then(|o| o.values().next())
                .map(text)
                .unwrap_or_default();
            (text(&kv["key"]), value)
        })
        .collect()
}

fn buckets(count: &str, sum: &str, bounds: &[Value], counts: Option<&Vec<Value>>) -> String {
    let counts = counts.cloned().unwrap_or_default();
    let cells: Vec<String> = counts
        .iter()
        .enumerate()
        .map(|(i, c)| match bounds.get(i) {
            Some(b) => format!("<={}:{}", text(b), text(c)),
            None => format!(
                ">{}:{}",
                bounds.last().map(text).unwrap_or_default(),
                text(c)
            ),
        })
        .collect();
    format!("count={count} sum={sum} [{}]", cells.join(" "))
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        addr: "127.0.0.1:4318".into(),
        max_body: 4 * 1024 * 1024,
        max_batches: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--addr" => options.addr = value()?,
            "--max-body" => {
                options.max_body = value()?.parse().map_err(|e| format!("--max-body: {e}"))?
            }
            "--max-batches" => {
                options.max_batches = Some(
                    value()?
                        .parse()
                        .map_err(|e| format!("--max-batches: {e}"))?,
                )
            }
            other => {
                return Err(format!(
                    "unknown option {other}; see the top of examples/receiver.rs"
                ))
            }
        }
    }
    Ok(options)
}
