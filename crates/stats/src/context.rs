//! The current tag context: the tags of the work a thread is doing now, so
//! that code deep in a call stack can record under its caller's tags
//! without being handed a map.
//!
//! Each thread has one context, empty until [`scope`] (or a future wrapped
//! by [`WithTags::with_tags`], on each poll) enters tags into it.
//! `MeasurementMap::record_current` reads it. The context never crosses a
//! thread by itself: a spawned thread starts empty, and a task is tagged
//! by wrapping it, so that what a value is recorded under never depends on
//! which thread an executor happened to pick.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use census_core::TagMap;
use pin_project_lite::pin_project;

thread_local! {
    // The merged tags of every scope this thread is in. A const
    // initialiser: reading it is a plain thread-local access, with no
    // lazy-initialisation check beside the destructor's state.
    static CURRENT: RefCell<TagMap> = const { RefCell::new(TagMap::new()) };
}

/// Runs `work` with `tags` merged over this thread's current tag context,
/// and returns what `work` returns.
///
/// Inside, [`current`] and
/// [`MeasurementMap::record_current`](crate::MeasurementMap::record_current)
/// see the outer context's tags with `tags` added, a key of `tags`
/// replacing the outer value of the same key. On the way out (by return
/// or by panic) the outer context is back exactly as it was.
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use census_core::{TagKey, TagMap};
/// use census_stats::tags;
///
/// let (route, method) = (TagKey::new("route")?, TagKey::new("method")?);
/// let outer = TagMap::new().with(&route, "/cart")?.with(&method, "GET")?;
/// let n = tags::scope(&outer, || {
///     tags::scope(&TagMap::new().with(&method, "POST")?, || {
///         let now = tags::current();
///         assert_eq!(now.get(&route).map(|v| v.as_str()), Some("/cart"));
///         assert_eq!(now.get(&method).map(|v| v.as_str()), Some("POST"));
///         Ok::<_, census_core::Error>(now.len())
///     })
/// })?;
/// assert_eq!(n, 2);
/// assert!(tags::current().is_empty());
/// # Ok(()) }
/// ```
pub fn scope<R>(tags: &TagMap, work: impl FnOnce() -> R) -> R {
    let _entered = Entered::new(tags);
    work()
}

/// The current tag context of this thread: the merge of every [`scope`]
/// it is in (and of the tags of the wrapped future being polled), the
/// empty map outside any.
///
/// To carry the context into a thread you spawn, take it here and enter
/// it there:
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use census_core::{TagKey, TagMap};
/// use census_stats::tags;
///
/// let route = TagKey::new("route")?;
/// let seen = tags::scope(&TagMap::new().with(&route, "/cart")?, || {
///     let context = tags::current();
///     std::thread::spawn(move || {
///         let before = tags::current(); // a new thread starts empty
///         (before, tags::scope(&context, tags::current))
///     })
///     .join()
/// });
/// let (before, inside) = seen.expect("the thread ran");
/// assert!(before.is_empty());
/// assert_eq!(inside.get(&route).map(|v| v.as_str()), Some("/cart"));
/// # Ok(()) }
/// ```
pub fn current() -> TagMap {
    with_current(TagMap::clone)
}

/// Calls `f` with the current context. While the thread is being torn
/// down (a thread-local destructor recording), the context is gone and
/// `f` sees the empty map, so a value is recorded untagged rather than
/// lost. `Fn`, not `FnOnce`, for that second call.
#[inline]
pub(crate) fn with_current<R>(f: impl Fn(&TagMap) -> R) -> R {
    // `borrow` cannot fail: the only mutable borrows are in `Entered`,
    // which runs no other code while it holds one.
    CURRENT
        .try_with(|current| f(&current.borrow()))
        .unwrap_or_else(|_| f(&TagMap::new()))
}

/// The tags of `inner` over those of `outer`.
fn merged(outer: &TagMap, inner: &TagMap) -> TagMap {
    if outer.is_empty() {
        return inner.clone();
    }
    inner.iter().fold(outer.clone(), |map, (key, value)| {
        map.with_value(key, value.clone())
    })
}

/// Tags entered into this thread's context, and the context they
/// replaced, put back when dropped (unwinding included).
struct Entered {
    /// `None` while the thread is being torn down: nothing was entered.
    outer: Option<TagMap>,
}

impl Entered {
    fn new(tags: &TagMap) -> Entered {
        let outer = CURRENT
            .try_with(|current| {
                let mut current = current.borrow_mut();
                let inner = merged(&current, tags);
                std::mem::replace(&mut *current, inner)
            })
            .ok();
        Entered { outer }
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        if let Some(outer) = self.outer.take() {
            // Err only during thread teardown, when there is nothing left
            // to restore.
            let _ = CURRENT.try_with(|current| *current.borrow_mut() = outer);
        }
    }
}

pin_project! {
    /// A future that runs with tags entered into the tag context of
    /// whichever thread polls it, and is dropped with them entered too;
    /// made by [`WithTags::with_tags`].
    #[derive(Debug, Clone)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Tagged<F> {
        // `None` only once dropped: the drop below takes the future out
        // in place, inside the tags.
        #[pin]
        inner: Option<F>,
        tags: TagMap,
    }

    impl<F> PinnedDrop for Tagged<F> {
        fn drop(this: Pin<&mut Self>) {
            // The future's own destructors (a guard that records `-1` to
            // an in-flight up-down sum when a task is cancelled) record
            // under the tags its polls recorded under, as
            // `tracing::Instrumented` enters its span to drop its future.
            let mut this = this.project();
            let _entered = Entered::new(this.tags);
            // Dropped in place: what is pinned is never moved.
            this.inner.set(None);
        }
    }
}

impl<F> Tagged<F> {
    /// The tags entered on each poll.
    pub fn tags(&self) -> &TagMap {
        &self.tags
    }

    /// The wrapped future, unwrapped.
    ///
    /// # Panics
    ///
    /// Never: the future is taken out only by the drop, after which
    /// nothing can call this.
    pub fn into_inner(mut self) -> F {
        match self.inner.take() {
            Some(inner) => inner,
            None => unreachable!("a Tagged future lost its future before it was dropped"),
        }
    }
}

impl<F: Future> Future for Tagged<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = Entered::new(this.tags);
        match this.inner.as_pin_mut() {
            Some(inner) => inner.poll(cx),
            // Unreachable: only the drop takes the future out, and nothing
            // polls a dropped future.
            None => Poll::Pending,
        }
    }
}

/// Tags for a future, in the manner of `tracing::Instrument`: implemented
/// for every [`Future`], with no async runtime involved.
///
/// `fut.with_tags(tags)` returns a future that, on every poll, on whatever
/// thread polls it, runs the inner poll inside [`scope`]`(&tags, ..)`: the
/// code of the future, across all its `.await`s, records under `tags`
/// merged over the polling thread's own context (usually empty on an
/// executor's threads). Between polls the thread's context is its own
/// again. The future is dropped inside `tags` as well, so destructors in
/// it (a guard that records the end of a request, when its task is
/// cancelled) record under them. Tag a task where you spawn it; to pass
/// on the context of the code spawning it, wrap with [`current`]`()`.
///
/// ```
/// # fn main() -> Result<(), census_core::Error> {
/// use census_core::{TagKey, TagMap};
/// use census_stats::tags::{self, WithTags};
///
/// let route = TagKey::new("route")?;
/// let task = async { tags::current() }.with_tags(TagMap::new().with(&route, "/cart")?);
/// # let _ = task;
/// // spawn(task) on any executor: code inside sees route=/cart
/// # Ok(()) }
/// ```
pub trait WithTags: Future + Sized {
    /// Wraps the future so that each poll runs with `tags` entered;
    /// `tags` is a `TagMap` or a reference to one (then cloned).
    fn with_tags(self, tags: impl Borrow<TagMap>) -> Tagged<Self> {
        Tagged {
            inner: Some(self),
            tags: tags.borrow().clone(),
        }
    }
}

impl<F: Future> WithTags for F {}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::TagKey;

    fn key(name: &str) -> TagKey {
        TagKey::new(name).expect("valid key")
    }

    fn tags(pairs: &[(&TagKey, &str)]) -> TagMap {
        pairs.iter().fold(TagMap::new(), |m, (k, v)| {
            m.with(k, v).expect("valid value")
        })
    }

    #[test]
    fn inner_scopes_add_and_override_and_the_outer_context_comes_back() {
        let (a, b, c) = (key("a"), key("b"), key("c"));
        assert!(current().is_empty());
        let outer = tags(&[(&a, "1"), (&b, "2")]);
        let got = scope(&outer, || {
            assert_eq!(current(), outer);
            let inner = scope(&tags(&[(&b, "20"), (&c, "30")]), current);
            assert_eq!(current(), outer);
            inner
        });
        assert_eq!(got, tags(&[(&a, "1"), (&b, "20"), (&c, "30")]));
        assert!(current().is_empty());
    }

    #[test]
    fn into_inner_gives_back_the_future() {
        let tagged = std::future::ready(5).with_tags(tags(&[(&key("a"), "1")]));
        assert_eq!(tagged.tags().len(), 1);
        assert_eq!(tagged.into_inner().into_inner(), 5);
    }

    #[test]
    fn a_panicking_scope_restores_the_outer_context() {
        let a = key("a");
        let outer = tags(&[(&a, "outer")]);
        scope(&outer, || {
            let caught = std::panic::catch_unwind(|| {
                scope(&tags(&[(&a, "inner")]), || panic!("work failed"))
            });
            assert!(caught.is_err());
            assert_eq!(current(), outer);
        });
        assert!(current().is_empty());
    }
}
