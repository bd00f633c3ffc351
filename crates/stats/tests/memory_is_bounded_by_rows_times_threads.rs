//! What a view's rows cost, per row and per recording thread, and that
//! unregistering a view frees them while the threads that recorded into
//! it sit idle (issue #16, finding 5). A counting global allocator sees
//! every live byte of the process; eight threads record every row of a
//! 1,000-row view, then wait without recording while the view is
//! unregistered. The constants are those docs/guarantees.md states.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Barrier};

use census_core::{Aggregation, MeasureI64, TagKey, TagMap, View};
use census_stats::{MeasurementMap, ViewManager};

struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every method forwards to the system allocator unchanged; the
// live-byte counter is a plain atomic on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Relaxed: read after the counted threads synchronised with the
        // reader through a barrier or a channel.
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

const THREADS: usize = 8;
const ROWS: usize = 1_000;

/// docs/guarantees.md, "Memory is bounded": what a row of a Count view
/// with three short tag values costs once (its key and its place in the
/// row table), and what it costs per thread that recorded into it (the
/// thread's share, its entry in the view's share list, its index entry),
/// as requested from the allocator, growth slack included.
const PER_ROW: i64 = 200;
const PER_ROW_PER_THREAD: i64 = 130;
/// What unregistering frees at once, whatever the threads do: each
/// thread's share list entry (16 bytes) and the row table's key slot (16).
const FREED_PER_ROW: i64 = 16;
const FREED_PER_ROW_PER_THREAD: i64 = 16;

enum Command {
    Record,
    Exit,
}

#[test]
fn rows_cost_rows_times_threads_and_unregistering_frees_them() -> Result<(), census_core::Error> {
    let m = MeasureI64::new("m", "", "1")?;
    let warm = MeasureI64::new("warm", "", "1")?;
    let keys = [TagKey::new("a")?, TagKey::new("b")?, TagKey::new("c")?];
    let vm = Arc::new(ViewManager::new());
    vm.register_view(
        View::builder("v", &m)
            .tag_keys(keys.clone())
            .aggregation(Aggregation::Count)
            .build()?,
    )?;
    vm.register_view(
        View::builder("warm", &warm)
            .aggregation(Aggregation::Count)
            .build()?,
    )?;
    let maps: Arc<Vec<TagMap>> = Arc::new(
        (0..ROWS)
            .map(|i| {
                TagMap::new()
                    .with(&keys[0], format!("a{}", i % 10))?
                    .with(&keys[1], format!("b{}", i / 10 % 10))?
                    .with(&keys[2], format!("c{}", i / 100))
            })
            .collect::<Result<_, _>>()?,
    );
    let ready = Arc::new(Barrier::new(THREADS + 1));
    let mut commands = Vec::new();
    let (done_tx, done) = crossbeam_channel::unbounded::<()>();
    let mut threads = Vec::new();
    for _ in 0..THREADS {
        let (tx, rx) = crossbeam_channel::unbounded::<Command>();
        commands.push(tx);
        let (vm, m, warm, maps, ready, done) = (
            Arc::clone(&vm),
            m.clone(),
            warm.clone(),
            Arc::clone(&maps),
            Arc::clone(&ready),
            done_tx.clone(),
        );
        threads.push(std::thread::spawn(move || {
            // The thread's own routing copy and ids exist before counting.
            MeasurementMap::new()
                .put(&warm, 1)
                .record_to(&vm, &TagMap::new());
            ready.wait();
            ready.wait();
            for tags in maps.iter() {
                MeasurementMap::new().put(&m, 1).record_to(&vm, tags);
            }
            let _ = done.send(());
            while let Ok(command) = rx.recv() {
                match command {
                    Command::Record => {
                        MeasurementMap::new()
                            .put(&warm, 1)
                            .record_to(&vm, &TagMap::new());
                        let _ = done.send(());
                    }
                    Command::Exit => break,
                }
            }
        }));
    }
    ready.wait();
    let baseline = live();
    ready.wait();
    for _ in 0..THREADS {
        done.recv().map_err(|_| census_core::Error::ShutDown)?;
    }
    let recorded = live() - baseline;
    let bound = ROWS as i64 * (PER_ROW + THREADS as i64 * PER_ROW_PER_THREAD);
    println!(
        "{THREADS} threads x {ROWS} rows: {recorded} bytes, {:.0} per row per thread (bound {bound})",
        recorded as f64 / (ROWS * THREADS) as f64
    );
    assert!(recorded <= bound, "{recorded} > {bound}");

    // Every thread sits idle now, holding its index of the view.
    vm.unregister_view("v")?;
    let retained = live() - baseline;
    println!("after unregistering, while the threads are idle: {retained} bytes");
    let freed = recorded - retained;
    let at_least = ROWS as i64 * (FREED_PER_ROW + THREADS as i64 * FREED_PER_ROW_PER_THREAD);
    assert!(
        freed >= at_least,
        "unregistering freed {freed} bytes, not {at_least}"
    );

    for tx in &commands {
        let _ = tx.send(Command::Record);
    }
    for _ in 0..THREADS {
        done.recv().map_err(|_| census_core::Error::ShutDown)?;
    }
    let after_records = live() - baseline;
    println!("after each thread recorded once more: {after_records} bytes");
    // The rest went with each thread's next record: what is left is the
    // routing copies' own growth, not the view.
    assert!(after_records < 8 * 1024, "{after_records} bytes left");
    for tx in &commands {
        let _ = tx.send(Command::Exit);
    }
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}
