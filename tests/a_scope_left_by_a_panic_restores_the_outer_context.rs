//! A scope (or a tagged future's poll) left by a panic puts the outer
//! context back, so later records on the thread do not carry the tags of
//! the work that failed (issue #13).

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use census::tags::{self, WithTags};
use census::{Aggregation, MeasureI64, MeasurementMap, TagKey, TagMap, View, ViewManager};
use census_testkit::{int_sum, row_in};

struct NoWake;

impl Wake for NoWake {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn a_scope_left_by_a_panic_restores_the_outer_context() -> Result<(), census::Error> {
    let m = MeasureI64::new("jobs", "jobs run", "1")?;
    let job = TagKey::new("job")?;
    let vm = ViewManager::new();
    vm.register_view(
        View::builder("jobs", &m)
            .tag_keys([job.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let record = |n: i64| MeasurementMap::new().put(&m, n).record_current_to(&vm);
    let outer = TagMap::new().with(&job, "outer")?;
    let failing = TagMap::new().with(&job, "failing")?;

    tags::scope(&outer, || {
        let caught = catch_unwind(AssertUnwindSafe(|| {
            tags::scope(&failing, || {
                record(1);
                panic!("the work failed (expected by the test)");
            })
        }));
        assert!(caught.is_err());
        assert_eq!(tags::current(), outer);
        record(10);

        // The same through a tagged future whose poll panics.
        let waker = Waker::from(Arc::new(NoWake));
        let mut cx = Context::from_waker(&waker);
        let fut = async {
            record(100);
            panic!("the task failed (expected by the test)");
        }
        .with_tags(&failing);
        let mut fut = pin!(fut);
        let caught = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
        assert!(caught.is_err());
        assert_eq!(tags::current(), outer);
        record(1000);
    });
    assert!(tags::current().is_empty());
    record(10_000);

    let data = vm.retrieve_data("jobs")?;
    let sum = |v: Option<&str>| row_in(&data, &[v]).map(|r| int_sum(&r.data));
    assert_eq!(sum(Some("failing")), Some(101));
    assert_eq!(sum(Some("outer")), Some(1010));
    assert_eq!(sum(None), Some(10_000));
    vm.shutdown();
    Ok(())
}
