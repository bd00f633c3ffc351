//! What the test process holds: threads, resident memory, the open-file
//! limit. Linux only, read from /proc.

use std::process::Command;

/// Threads of this process now.
pub fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| tasks.count())
        .unwrap_or(0)
}

/// Threads of this process whose name starts with `prefix` (names are cut
/// to 15 bytes by the kernel).
pub fn threads_named(prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with(prefix))
        })
        .count()
}

/// Resident memory of this process now, in bytes (/proc/self/statm's
/// second field, in pages).
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * page_size()
}

fn page_size() -> u64 {
    Command::new("getconf")
        .arg("PAGESIZE")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(4096)
}

/// This process's soft and hard limits on open files.
pub fn open_file_limits() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .map(|f| {
            if f == "unlimited" {
                Some(u64::MAX)
            } else {
                f.parse().ok()
            }
        });
    Some((fields.next()??, fields.next()??))
}

/// Makes sure this process may hold `wanted` open files, raising its soft
/// limit (up to the hard limit, which needs no privilege) with util-linux's
/// `prlimit` when it is lower.
pub fn ensure_open_files(wanted: u64) -> Result<(), String> {
    let (soft, hard) = open_file_limits().ok_or("cannot read /proc/self/limits")?;
    if soft >= wanted {
        return Ok(());
    }
    if hard < wanted {
        return Err(format!(
            "this test needs {wanted} open files but the hard limit is {hard}; raise it \
             (ulimit -Hn) to run the test"
        ));
    }
    let status = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={wanted}:"))
        .status()
        .map_err(|e| format!("cannot run prlimit to raise the open-file limit: {e}"))?;
    match open_file_limits() {
        Some((soft, _)) if status.success() && soft >= wanted => Ok(()),
        _ => Err(format!(
            "prlimit could not raise the open-file limit from {soft} to {wanted}; raise it \
             (ulimit -n {wanted}) to run the test"
        )),
    }
}
