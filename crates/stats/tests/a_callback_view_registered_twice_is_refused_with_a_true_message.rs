//! Registering the same callback view twice is refused (callbacks cannot
//! be compared), and so is a recorded view of a callback view's
//! definition: the message says why instead of calling the view
//! "different". (QA of issue #12: the message read "a different view
//! named \"pool/open\" is already registered" for the very same view.)

use census_core::{Aggregation, Error, MeasureI64, TagMap, View};
use census_stats::ViewManager;

#[test]
fn the_refusal_names_the_callback_rule_not_a_different_view() -> Result<(), Error> {
    let vm = ViewManager::new();
    let view = View::builder("pool/open", MeasureI64::new("pool/open", "", "1")?)
        .aggregation(Aggregation::LastValue)
        .build()?;
    vm.register_callback(view.clone(), |out| out.observe(&TagMap::new(), 1))?;

    for err in [
        vm.register_callback(view.clone(), |out| out.observe(&TagMap::new(), 2))
            .unwrap_err(),
        vm.register_view(view.clone()).unwrap_err(),
    ] {
        assert_eq!(
            err,
            Error::ViewConflict {
                name: "pool/open".to_owned()
            }
        );
        let message = err.to_string();
        assert!(!message.contains("different"), "{message}");
        assert!(
            message.contains("\"pool/open\"")
                && message.contains("callback view cannot be registered twice")
                && message.contains("unregister it first"),
            "{message}"
        );
    }
    Ok(())
}
