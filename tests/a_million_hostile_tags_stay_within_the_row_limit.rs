//! Cardinality attack: one million distinct tag values recorded into a
//! view. Memory stays bounded by the row limit, the extra combinations
//! land in the overflow row, and a counter says how many. (Issue 6.) Alone
//! in its file so that the process's memory is this test's alone.

use census::{Aggregation, MeasureI64, MeasurementMap, TagKey, TagMap, View, ViewManager};

use census_testkit::count;

/// Resident set size in bytes, from /proc (Linux only, like CI).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm is readable");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm has a resident field");
    pages * 4096
}

#[test]
fn memory_is_bounded_by_the_row_limit() -> Result<(), census::Error> {
    const LIMIT: usize = 10_000;
    const ATTACK: usize = 1_000_000;
    let m = MeasureI64::new("requests", "", "1")?;
    let user = TagKey::new("user_id")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("requests_by_user", &m)
            .tag_keys([user.clone()])
            .aggregation(Aggregation::Count)
            .row_limit(LIMIT)
            .build()?,
    )?;
    let record = |i: usize| -> Result<(), census::Error> {
        // 40-byte values, as hostile ids tend to be long.
        let tags = TagMap::new().with(&user, format!("attacker-{i:031}"))?;
        MeasurementMap::new().put(&m, 1).record_to(&vm, &tags);
        Ok(())
    };
    let before = rss();
    for i in 0..LIMIT {
        record(i)?;
    }
    let full = rss();
    for i in LIMIT..ATTACK {
        record(i)?;
    }
    let after = rss();

    let data = vm.retrieve_data("requests_by_user")?;
    assert_eq!(data.rows.len(), LIMIT + 1);
    assert_eq!(data.folded, (ATTACK - LIMIT) as u64);
    let overflow = data
        .rows
        .iter()
        .find(|r| r.overflow)
        .expect("an overflow row");
    assert_eq!(count(&overflow.data), (ATTACK - LIMIT) as u64);

    let per_row = full.saturating_sub(before) / LIMIT as u64;
    let growth = after.saturating_sub(full);
    println!("rss: {before} before, {full} at the limit ({per_row} B/row), {after} after {ATTACK} values");
    // 990,000 further values: no more than 1 MiB of growth (allocator
    // noise), against the ~100 MB those rows would otherwise take.
    assert!(
        growth < 1 << 20,
        "memory grew {growth} bytes past the row limit"
    );
    Ok(())
}
