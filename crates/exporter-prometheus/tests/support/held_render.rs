//! A producer whose render starts, says so, and waits to be released: a
//! render in progress for as long as a test needs one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;

use census_core::{Producer, ViewData};
use parking_lot::Mutex;

pub struct HeldRender {
    entered: SyncSender<()>,
    release: Mutex<Receiver<()>>,
    finished: Arc<AtomicBool>,
}

/// What a test holds of a [`HeldRender`]: `started` hears of each render
/// that begins, a send on `release` lets one finish, and `finished` says
/// whether one did.
pub struct HeldRenderControl {
    pub started: Receiver<()>,
    pub release: Sender<()>,
    pub finished: Arc<AtomicBool>,
}

impl HeldRender {
    pub fn new() -> (Arc<HeldRender>, HeldRenderControl) {
        let (entered, started) = mpsc::sync_channel(4);
        let (release, released) = mpsc::channel();
        let finished = Arc::new(AtomicBool::new(false));
        let producer = Arc::new(HeldRender {
            entered,
            release: Mutex::new(released),
            finished: Arc::clone(&finished),
        });
        let control = HeldRenderControl {
            started,
            release,
            finished,
        };
        (producer, control)
    }
}

impl Producer for HeldRender {
    fn produce(&self) -> Vec<ViewData> {
        let _ = self.entered.send(());
        let _ = self.release.lock().recv();
        self.finished.store(true, Ordering::SeqCst);
        Vec::new()
    }
}
