//! Callbacks each well within the budget all answer, however many there
//! are: thirty of a tenth of the budget each. Before, another thread was
//! brought in only when no call had finished for an eighth of the budget,
//! so one thread took them one after another as long as each finished
//! sooner; the calls past the budget were counted as timeouts, and since
//! every round began with the first view, the same last views never got
//! a reading (a QA pass: 21 of 30 views, 5 periods running).

use std::time::Duration;

use census_core::{Aggregation, MeasureI64, TagMap, View};
use census_stats::ViewManager;
use census_testkit::{find_view, rows_of, CapturingExporter};

#[test]
fn thirty_callbacks_of_a_tenth_of_the_budget_each_answer() -> Result<(), census_core::Error> {
    let m = MeasureI64::new("slow/m", "a measure", "1")?;
    let vm = ViewManager::new();
    vm.set_reporting_period(Duration::from_secs(3600));
    // Generous, so a loaded machine's scheduling does not decide the test:
    // one thread would take 3 s for these calls.
    let budget = Duration::from_secs(1);
    vm.set_callback_budget(budget);
    for i in 0..30 {
        vm.register_callback(
            View::builder(format!("slow/{i:02}"), &m)
                .aggregation(Aggregation::LastValue)
                .build()?,
            move |out| {
                // The slow work a callback might do: a call to a service.
                std::thread::sleep(budget / 10);
                out.observe(&TagMap::new(), i);
            },
        )?;
    }
    let (capture, captured) = CapturingExporter::new();
    vm.register_exporter(capture)?;
    let batch = captured.pull();
    let answered: Vec<i64> = (0..30)
        .filter(|i| {
            find_view(&batch, &format!("slow/{i:02}")).map(rows_of)
                == Some(vec![(vec![], Some(*i))])
        })
        .collect();
    assert_eq!(answered.len(), 30, "views with their reading: {answered:?}");
    assert_eq!(vm.stats().callback_timeouts, 0);
    vm.shutdown();
    Ok(())
}
