//! `register_exporter` asks the exporter about every registered view
//! without the registry lock, then registers it if nothing changed
//! meanwhile. A callback view registered during those checks changed the
//! registry too: the exporter is asked about it before it is registered.
//! (It used to compare the routing version, which only recorded views
//! move, so such a callback view was never checked.)

use std::sync::mpsc;
use std::sync::Arc;

use census_core::{Aggregation, ExportError, Exporter, MeasureI64, View, ViewData};
use census_stats::ViewManager;
use parking_lot::Mutex;

/// Holds up its first `check_view` until told to go on, and lists every
/// view it was asked about.
struct SlowChecker {
    entered: Mutex<Option<mpsc::Sender<()>>>,
    proceed: Mutex<Option<mpsc::Receiver<()>>>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Exporter for SlowChecker {
    fn export(&self, _: &[ViewData]) -> Result<(), ExportError> {
        Ok(())
    }

    fn check_view(&self, view: &View, _registered: &[View]) -> Result<(), ExportError> {
        self.asked.lock().push(view.name().to_owned());
        if let Some(entered) = self.entered.lock().take() {
            let _ = entered.send(());
            if let Some(proceed) = self.proceed.lock().take() {
                let _ = proceed.recv();
            }
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "slow checker"
    }
}

#[test]
fn the_exporter_is_asked_about_the_callback_view() -> Result<(), census_core::Error> {
    let vm = Arc::new(ViewManager::new());
    let m = MeasureI64::new("m", "", "1")?;
    vm.register_view(
        View::builder("recorded", &m)
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let (entered_tx, entered) = mpsc::channel();
    let (go, proceed) = mpsc::channel();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let exporter = SlowChecker {
        entered: Mutex::new(Some(entered_tx)),
        proceed: Mutex::new(Some(proceed)),
        asked: Arc::clone(&asked),
    };
    let registering = {
        let vm = Arc::clone(&vm);
        std::thread::spawn(move || vm.register_exporter(exporter))
    };
    // The exporter is checking "recorded", unregistered as yet: a callback
    // view registers now without asking it.
    entered.recv().map_err(|_| census_core::Error::ShutDown)?;
    let c = MeasureI64::new("c", "", "1")?;
    vm.register_callback(
        View::builder("callback", &c)
            .aggregation(Aggregation::LastValue)
            .build()?,
        |out| out.observe(&census_core::TagMap::new(), 1),
    )?;
    let _ = go.send(());
    let registered = registering.join();
    assert!(matches!(registered, Ok(Ok(()))), "{registered:?}");
    let asked = asked.lock().clone();
    assert!(
        asked.iter().any(|v| v == "callback"),
        "the exporter was asked only about {asked:?}"
    );
    Ok(())
}
