//! Loud by default (issue #16, finding 6): with no `log` implementation
//! installed, twelve failed batches and 48 retries printed nothing. Now an
//! exporter's first failure (and every tenth after it, at most once a
//! minute) is written to stderr when no logger would show census's
//! warnings, and nothing is when one would.
//!
//! Each scenario runs in a child process (this test binary, run again
//! with the scenario's name and an environment variable), so that its
//! stderr can be read and its logger is its own.

mod support;

use std::process::Command;
use std::time::Duration;

use census_exporter_http::HttpExporter;
use census_stats::ViewManager;
use census_testkit::{record, sum_view};
use support::{closed_port, wait_until};

const CHILD: &str = "CENSUS_NOTICE_CHILD";

/// Runs `scenario` in a child process and returns its stderr.
fn stderr_of(scenario: &str) -> Result<String, Box<dyn std::error::Error>> {
    let output = Command::new(std::env::current_exe()?)
        .args([scenario, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{scenario} failed:\n{stderr}");
    Ok(stderr)
}

fn notices(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("census: exporter"))
        .collect()
}

/// Twelve batches fail against a closed port.
fn fail_twelve_batches() -> Result<(), Box<dyn std::error::Error>> {
    let addr = closed_port();
    let http = HttpExporter::builder(format!("http://{addr}/v1/metrics"))
        .max_attempts(1)
        .shutdown_deadline(Duration::from_millis(100))
        .build()?;
    let vm = ViewManager::new();
    let m = sum_view(&vm);
    vm.register_exporter(http.clone())?;
    vm.set_reporting_period(Duration::from_millis(10));
    record(&vm, &m, 1);
    wait_until(Duration::from_secs(10), "twelve failed batches", || {
        http.metrics().failed >= 12
    });
    vm.shutdown();
    Ok(())
}

#[test]
fn without_a_logger_the_first_failure_reaches_stderr() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os(CHILD).is_some() {
        return Ok(());
    }
    let stderr = stderr_of("scenario_without_a_logger")?;
    let lines = notices(&stderr);
    // The first failure is told; the next tens come within the minute.
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("http exporter (http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(lines[0].contains("so far; the latest: "), "{stderr}");
    assert!(lines[0].contains("at most once a minute"), "{stderr}");
    Ok(())
}

#[test]
fn with_a_logger_nothing_reaches_stderr() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os(CHILD).is_some() {
        return Ok(());
    }
    let stderr = stderr_of("scenario_with_a_logger")?;
    assert!(notices(&stderr).is_empty(), "{stderr}");
    Ok(())
}

#[test]
fn scenario_without_a_logger() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os(CHILD).is_none() {
        return Ok(());
    }
    fail_twelve_batches()
}

/// Takes every record and shows none.
struct Quiet;

impl log::Log for Quiet {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, _: &log::Record<'_>) {}
    fn flush(&self) {}
}

static QUIET: Quiet = Quiet;

#[test]
fn scenario_with_a_logger() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os(CHILD).is_none() {
        return Ok(());
    }
    log::set_logger(&QUIET).map_err(|e| e.to_string())?;
    log::set_max_level(log::LevelFilter::Warn);
    fail_twelve_batches()
}
