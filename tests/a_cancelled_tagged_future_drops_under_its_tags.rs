//! A future wrapped with `with_tags` is dropped with its tags entered, so
//! a guard inside it that records the end of the work when the task is
//! cancelled records under the same tags as the start did. Before, the
//! drop ran outside them: a cancelled request left its in-flight up-down
//! sum at +1 for good and put the -1 in an untagged row (QA of issue #13,
//! as `tracing::Instrumented` enters its span to drop its future).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use census::tags::{self, WithTags};
use census::{
    Aggregation, AggregationData, MeasureI64, MeasurementMap, Number, TagKey, TagMap, View,
    ViewManager,
};
use census_testkit::row_in;

/// Records the end of a request (-1 in flight) when dropped, under the
/// current context, as request guards do.
struct InFlight {
    vm: Arc<ViewManager>,
    in_flight: MeasureI64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        MeasurementMap::new()
            .put(&self.in_flight, -1)
            .record_current_to(&self.vm);
    }
}

#[test]
fn a_cancelled_request_leaves_nothing_in_flight() -> Result<(), census::Error> {
    let in_flight = MeasureI64::new("demo/in_flight", "requests in flight", "1")?;
    let route = TagKey::new("route")?;
    let vm = Arc::new(ViewManager::new());
    vm.register_view(
        View::builder("demo/in_flight", &in_flight)
            .tag_keys([route.clone()])
            .aggregation(Aggregation::UpDownSum)
            .build()?,
    )?;
    let request = {
        let (vm, in_flight) = (Arc::clone(&vm), in_flight.clone());
        async move {
            MeasurementMap::new()
                .put(&in_flight, 1)
                .record_current_to(&vm);
            let _guard = InFlight { vm, in_flight };
            // The client goes away while the handler waits.
            std::future::pending::<()>().await;
        }
    };
    let tags = TagMap::new().with(&route, "/cart")?;
    {
        let mut task = pin!(request.with_tags(&tags));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(task.as_mut().poll(&mut cx) == Poll::Pending);
        // Cancelled: dropped here, between polls, outside any scope.
    }
    assert!(
        tags::current().is_empty(),
        "the context is the thread's own again"
    );
    let data = vm.retrieve_data("demo/in_flight")?;
    let cart = row_in(&data, &[Some("/cart")]).expect("the request's row");
    assert_eq!(
        cart.data,
        AggregationData::Sum(Number::Int(0)),
        "the cancelled request ended under its own tags"
    );
    assert_eq!(data.rows.len(), 1, "no untagged row: {:?}", data.rows);
    Ok(())
}
