//! A future wrapped with `with_tags` records under its tags across its
//! `.await`s while two different threads poll it, merged over the
//! polling thread's own context; between polls each thread's context is
//! its own. The executor is written here by hand: the library depends on
//! no runtime (issue #13).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, ThreadId};

use census::tags::{self, WithTags};
use census::{Aggregation, MeasureI64, MeasurementMap, TagKey, TagMap, View, ViewManager};
use census_testkit::{int_sum, row_in};
use parking_lot::Mutex;

/// Remembers that it was woken.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        // SeqCst: read by the polling loop of another thread.
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Pending once (waking its task at once), then ready: an `.await` that
/// hands control back to the executor.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Polls `task` once on this thread; true when it finished.
fn poll_once(task: &mut Task, flag: &Arc<Flag>) -> bool {
    let waker = Waker::from(Arc::clone(flag));
    let mut cx = Context::from_waker(&waker);
    task.as_mut().poll(&mut cx).is_ready()
}

#[test]
fn a_tagged_future_records_under_its_tags_on_every_thread_that_polls_it(
) -> Result<(), Box<dyn std::error::Error>> {
    let m = MeasureI64::new("work", "work done", "1")?;
    let (route, zone) = (TagKey::new("route")?, TagKey::new("zone")?);
    let vm = Arc::new(ViewManager::new());
    vm.register_view(
        View::builder("work", &m)
            .tag_keys([route.clone(), zone.clone()])
            .aggregation(Aggregation::Sum)
            .build()?,
    )?;
    let threads: Arc<Mutex<Vec<ThreadId>>> = Arc::default();
    let record = {
        let (vm, m, threads) = (Arc::clone(&vm), m.clone(), Arc::clone(&threads));
        move |n: i64| {
            threads.lock().push(thread::current().id());
            MeasurementMap::new().put(&m, n).record_current_to(&vm);
        }
    };
    let request = TagMap::new().with(&route, "/cart")?;
    let mut task: Task = Box::pin(
        async move {
            record(1);
            YieldOnce(false).await;
            record(10);
            YieldOnce(false).await;
            record(100);
        }
        .with_tags(request),
    );
    let flag = Arc::new(Flag(AtomicBool::new(false)));

    // Thread A, with no context of its own, polls up to the first await.
    let outside_a = {
        let (vm, m) = (Arc::clone(&vm), m.clone());
        let flag = Arc::clone(&flag);
        thread::spawn(move || {
            let done = poll_once(&mut task, &flag);
            // Between polls the thread's context is its own: empty.
            let after = tags::current();
            MeasurementMap::new().put(&m, 1000).record_current_to(&vm);
            (task, done, after)
        })
        .join()
    };
    let (mut task, done, after) = outside_a.map_err(|_| "a polling thread panicked")?;
    assert!(!done, "the task waits at its first await");
    assert!(after.is_empty(), "thread A kept the task's tags: {after:?}");
    // SeqCst: pairs with the waker's store.
    assert!(
        flag.0.swap(false, Ordering::SeqCst),
        "the task asked to be polled again"
    );

    // Thread B, inside a context of its own, polls it to the end.
    let zone_b = TagMap::new().with(&zone, "b")?;
    let polls = thread::spawn(move || {
        tags::scope(&zone_b, || {
            let mut polls = 0;
            while !poll_once(&mut task, &flag) {
                polls += 1;
                // SeqCst: as above; each await woke the task.
                assert!(flag.0.swap(false, Ordering::SeqCst));
            }
            polls + 1
        })
    })
    .join()
    .map_err(|_| "a polling thread panicked")?;
    assert_eq!(polls, 2, "one poll per await after the first");

    let seen = threads.lock().clone();
    assert_eq!(seen.len(), 3);
    assert_ne!(
        seen[0], seen[1],
        "the awaits were resumed on another thread"
    );
    assert_eq!(seen[1], seen[2]);

    let data = vm.retrieve_data("work")?;
    let sum = |tags: &[Option<&str>]| row_in(&data, tags).map(|r| int_sum(&r.data));
    assert_eq!(sum(&[Some("/cart"), None]), Some(1), "polled on thread A");
    assert_eq!(
        sum(&[Some("/cart"), Some("b")]),
        Some(110),
        "polled on thread B: the task's tags over B's context, across awaits"
    );
    assert_eq!(sum(&[None, None]), Some(1000), "thread A between polls");
    assert_eq!(data.rows.len(), 3, "{:?}", data.rows);
    vm.shutdown();
    Ok(())
}
