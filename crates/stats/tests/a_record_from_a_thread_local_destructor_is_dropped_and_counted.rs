//! Recording from a thread-local destructor never aborts the process
//! (issue #16, finding 8). A `thread_local!` value whose `Drop` records,
//! made before the thread's first record, is destroyed after census's own
//! per-thread state: that record used to panic inside a TLS destructor,
//! which aborts. It is now dropped and counted in
//! `ManagerStats::thread_exit_values`. A value made after the first record
//! is destroyed first and still records normally.

use std::cell::RefCell;
use std::sync::Arc;

use census_core::{Aggregation, AggregationData, MeasureI64, Number, TagMap, View};
use census_stats::{MeasurementMap, ViewManager};

struct RecordOnDrop {
    vm: Arc<ViewManager>,
    m: MeasureI64,
    value: i64,
}

impl Drop for RecordOnDrop {
    fn drop(&mut self) {
        MeasurementMap::new()
            .put(&self.m, self.value)
            .record_to(&self.vm, &TagMap::new());
        self.vm.bind(&self.m, &TagMap::new()).record(self.value);
        MeasurementMap::new()
            .put(&self.m, self.value)
            .record_tags_to(&self.vm, &[]);
    }
}

thread_local! {
    static EARLY: RefCell<Option<RecordOnDrop>> = const { RefCell::new(None) };
    static LATE: RefCell<Option<RecordOnDrop>> = const { RefCell::new(None) };
}

#[test]
fn a_record_during_thread_exit_is_dropped_and_counted() -> Result<(), census_core::Error> {
    let m = MeasureI64::new("m", "", "1")?;
    let vm = Arc::new(ViewManager::new());
    vm.register_view(
        View::builder("v", &m)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let recorder = |value| RecordOnDrop {
        vm: Arc::clone(&vm),
        m: m.clone(),
        value,
    };
    let (early, late) = (recorder(1_000), recorder(10));
    let (thread_vm, thread_m) = (Arc::clone(&vm), m.clone());
    std::thread::spawn(move || {
        // Made before the first record: destroyed after census's state.
        EARLY.with(|slot| *slot.borrow_mut() = Some(early));
        MeasurementMap::new()
            .put(&thread_m, 1)
            .record_to(&thread_vm, &TagMap::new());
        // Made after it: destroyed before, while census can still record.
        LATE.with(|slot| *slot.borrow_mut() = Some(late));
    })
    .join()
    .expect("the thread ends without a panic");
    // 1 recorded normally, 10 three times from LATE's destructor (a map,
    // a bound handle, borrowed tags); EARLY's three records were dropped
    // and counted.
    let data = vm.retrieve_data("v")?;
    match data.rows.first().map(|r| &r.data) {
        Some(AggregationData::Sum(Number::Int(sum))) => assert_eq!(*sum, 31),
        other => panic!("{other:?}"),
    }
    assert_eq!(vm.stats().thread_exit_values, 3);
    Ok(())
}
