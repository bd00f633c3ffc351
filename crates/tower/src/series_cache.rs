//! The series the layer records into, bound once per thread so that a
//! request for a route already served resolves nothing.
//!
//! Recording with a `TagMap` projects the map onto each view's keys, hashes
//! the values and finds the row, per record: for the layer's three records
//! a request (six view updates) with a 59-byte route, about 3,900
//! instructions under callgrind. A handle from `ViewManager::bind` does
//! that once, and a record through it is a few loads and one store per
//! view. Methods, routes and status codes are few, so each thread keeps a
//! bound handle per measure and combination it has served. Building the
//! maps per request would not be free either: axum's route template is an
//! `Arc<str>` of its own, not a `&'static str` a value could borrow, so a
//! template past the 23 bytes a value keeps inline would cost an
//! allocation, or a reference count every thread writes. Here each thread
//! builds its own handles and its own values, once. A request's future
//! carries small numbers (route id, method index) instead of tags, so it
//! can finish on any thread.

use std::cell::RefCell;
use std::collections::hash_map::Entry as StdEntry;
use std::collections::HashMap as StdHashMap;

use census_core::{MeasureF64, MeasureI64, TagMap, TagValue};
use census_stats::{BoundMeasure, ViewManager};
use foldhash::fast::RandomState;
use hashbrown::HashMap;
use http::StatusCode;
use parking_lot::Mutex;
use thread_local::ThreadLocal;

use crate::method::MethodIndex;
use crate::views::Measures;

/// Distinct route templates a layer tells apart. Routes come from the
/// service's own code (axum's router, or the `&'static str` a route
/// function returns), so this is a guard against a misbehaving source, not
/// a limit services meet; later routes are recorded as [`OTHER_ROUTE`].
pub(crate) const MAX_ROUTES: usize = 1_000;

/// Series one thread keeps bound: routes × methods × status codes it
/// served, each a few hundred bytes. Past it the thread binds what it
/// lacks per request, allocating but recording the same.
const MAX_SERIES_PER_THREAD: usize = 1_024;

/// The route value of requests past [`MAX_ROUTES`] distinct routes.
pub(crate) const OTHER_ROUTE: &str = "_OTHER";

/// A route template, by number; 0 is the unmatched route, 1 [`OTHER_ROUTE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RouteId(u32);

impl RouteId {
    pub(crate) const UNMATCHED: RouteId = RouteId(0);
    const OTHER: RouteId = RouteId(1);
}

/// Per-thread bound series over one shared table of route templates.
pub(crate) struct SeriesCache {
    measures: Measures,
    routes: Mutex<RouteTable>,
    local: ThreadLocal<RefCell<Local>>,
}

/// A finished request's series: its tags with the status code (without,
/// for a request whose service failed).
pub(crate) struct Done {
    pub(crate) duration: BoundMeasure<MeasureF64>,
    pub(crate) request_size: BoundMeasure<MeasureI64>,
    pub(crate) response_size: BoundMeasure<MeasureI64>,
}

/// Every route template seen, numbered: the only state threads share, and
/// taken only when a thread meets a template or a combination it has not
/// served before.
struct RouteTable {
    /// As the source gave them, to their ids.
    ids: StdHashMap<Box<str>, RouteId>,
    /// Whether the table has filled and said so: once, not per request.
    warned_full: bool,
    /// By id, as the source gave them; made valid tag values (any
    /// character outside printable ASCII becomes `_`) when maps are built.
    texts: Vec<Box<str>>,
}

#[derive(Default)]
struct Local {
    /// Route templates this thread has met, to their ids.
    route_ids: HashMap<Box<str>, RouteId, RandomState>,
    /// (route, method) to this thread's in-flight series.
    flights: HashMap<u64, BoundMeasure<MeasureI64>, RandomState>,
    /// (route, method, status or none) to this thread's finished series.
    done: HashMap<u64, Done, RandomState>,
}

impl Local {
    fn is_full(&self) -> bool {
        self.flights.len() + self.done.len() >= MAX_SERIES_PER_THREAD
    }
}

impl SeriesCache {
    /// A cache of `measures`' series; `unmatched` is the route value of
    /// requests no route matched (valid tag value text).
    pub(crate) fn new(measures: Measures, unmatched: &str) -> SeriesCache {
        SeriesCache {
            measures,
            routes: Mutex::new(RouteTable {
                ids: StdHashMap::new(),
                warned_full: false,
                texts: vec![unmatched.into(), OTHER_ROUTE.into()],
            }),
            local: ThreadLocal::new(),
        }
    }

    /// The measures the series record.
    pub(crate) fn measures(&self) -> &Measures {
        &self.measures
    }

    /// Numbers route template `route` (`None`: unmatched) and hands `f`
    /// its id and this thread's in-flight series (method, route): the
    /// start of a request, in one visit to this thread's cache.
    #[inline]
    pub(crate) fn enter<R>(
        &self,
        vm: &ViewManager,
        route: Option<&str>,
        method: MethodIndex,
        f: impl FnOnce(RouteId, &BoundMeasure<MeasureI64>) -> R,
    ) -> R {
        if let Ok(mut local) = self.local.get_or(RefCell::default).try_borrow_mut() {
            let id = match route {
                None => RouteId::UNMATCHED,
                Some(text) => match local.route_ids.get(text) {
                    Some(id) => *id,
                    None => self.new_route(&mut local, text),
                },
            };
            let key = key(id, method, None);
            if self.fill_flight(vm, &mut local, key) {
                if let Some(series) = local.flights.get(&key) {
                    return f(id, series);
                }
            }
            return f(id, &self.bind_flight(vm, key));
        }
        // This thread's cache is in use further up the stack (a record
        // that re-entered): do without it.
        let id = route.map_or(RouteId::UNMATCHED, |text| self.shared_route(text));
        f(id, &self.bind_flight(vm, key(id, method, None)))
    }

    /// Hands `f` this thread's in-flight series (method, route).
    #[inline]
    pub(crate) fn with_in_flight<R>(
        &self,
        vm: &ViewManager,
        route: RouteId,
        method: MethodIndex,
        f: impl FnOnce(&BoundMeasure<MeasureI64>) -> R,
    ) -> R {
        let key = key(route, method, None);
        if let Ok(mut local) = self.local.get_or(RefCell::default).try_borrow_mut() {
            if self.fill_flight(vm, &mut local, key) {
                if let Some(series) = local.flights.get(&key) {
                    return f(series);
                }
            }
        }
        f(&self.bind_flight(vm, key))
    }

    /// Hands `f` this thread's series of a finished request (method,
    /// route, status; without status for a request that failed) and its
    /// in-flight series.
    #[inline]
    pub(crate) fn with_done<R>(
        &self,
        vm: &ViewManager,
        route: RouteId,
        method: MethodIndex,
        status: Option<StatusCode>,
        f: impl FnOnce(&Done, &BoundMeasure<MeasureI64>) -> R,
    ) -> R {
        let (done, flight) = (key(route, method, status), key(route, method, None));
        if let Ok(mut local) = self.local.get_or(RefCell::default).try_borrow_mut() {
            if self.fill_done(vm, &mut local, done) && self.fill_flight(vm, &mut local, flight) {
                if let (Some(d), Some(f_)) = (local.done.get(&done), local.flights.get(&flight)) {
                    return f(d, f_);
                }
            }
        }
        f(&self.bind_done(vm, done), &self.bind_flight(vm, flight))
    }

    /// Makes sure this thread has the in-flight series of `key`; false if
    /// its cache is full and it does not.
    #[inline]
    fn fill_flight(&self, vm: &ViewManager, local: &mut Local, key: u64) -> bool {
        if local.flights.contains_key(&key) {
            return true;
        }
        self.fill_flight_new(vm, local, key)
    }

    #[cold]
    fn fill_flight_new(&self, vm: &ViewManager, local: &mut Local, key: u64) -> bool {
        if local.is_full() {
            return false;
        }
        local.flights.insert(key, self.bind_flight(vm, key));
        true
    }

    /// As `fill_flight`, for finished series.
    #[inline]
    fn fill_done(&self, vm: &ViewManager, local: &mut Local, key: u64) -> bool {
        if local.done.contains_key(&key) {
            return true;
        }
        self.fill_done_new(vm, local, key)
    }

    #[cold]
    fn fill_done_new(&self, vm: &ViewManager, local: &mut Local, key: u64) -> bool {
        if local.is_full() {
            return false;
        }
        local.done.insert(key, self.bind_done(vm, key));
        true
    }

    #[cold]
    fn bind_flight(&self, vm: &ViewManager, key: u64) -> BoundMeasure<MeasureI64> {
        vm.bind(&self.measures.active, &self.tags(key))
    }

    #[cold]
    fn bind_done(&self, vm: &ViewManager, key: u64) -> Done {
        let tags = self.tags(key);
        let m = &self.measures;
        Done {
            duration: vm.bind(&m.duration, &tags),
            request_size: vm.bind(&m.request_size, &tags),
            response_size: vm.bind(&m.response_size, &tags),
        }
    }

    /// The tags of `key`, built by the thread that binds them, so that a
    /// long route value (on the heap past 23 bytes) has its reference
    /// count touched by that thread alone.
    fn tags(&self, key: u64) -> TagMap {
        let (route, method, status) = unpack(key);
        let route = match self.routes.lock().texts.get(route.0 as usize) {
            Some(text) => TagValue::new_lossy(&**text),
            None => TagValue::from_static(OTHER_ROUTE),
        };
        let m = &self.measures;
        let map = TagMap::new()
            .with_value(&m.method, TagValue::from_static(method.as_str()))
            .with_value(&m.route, route);
        match status {
            // Three digits: valid, and kept inline.
            Some(status) => map.with_value(&m.status, TagValue::new_lossy(status.as_str())),
            None => map,
        }
    }

    /// Numbers a template this thread has not met, and remembers it if
    /// the shared table admitted it, so that this thread's table stays
    /// within the shared one's bound.
    #[cold]
    fn new_route(&self, local: &mut Local, text: &str) -> RouteId {
        let id = self.shared_route(text);
        if id != RouteId::OTHER {
            local.route_ids.insert(text.into(), id);
        }
        id
    }

    /// The id of `text` in the shared table, adding it if it is new and
    /// there is room.
    #[cold]
    fn shared_route(&self, text: &str) -> RouteId {
        let mut table = self.routes.lock();
        if let Some(id) = table.ids.get(text) {
            return *id;
        }
        if table.texts.len() >= MAX_ROUTES + 2 {
            if std::mem::replace(&mut table.warned_full, true) {
                return RouteId::OTHER;
            }
            drop(table);
            log::warn!(
                "census-tower: more than {MAX_ROUTES} distinct routes; route {text:?} and \
                 later ones are recorded as {OTHER_ROUTE:?}. Routes must be templates such \
                 as /users/{{id}}, never raw paths"
            );
            return RouteId::OTHER;
        }
        let id = RouteId(table.texts.len() as u32);
        table.texts.push(text.into());
        if let StdEntry::Vacant(slot) = table.ids.entry(text.into()) {
            slot.insert(id);
        }
        id
    }

    /// The number of route templates numbered so far, unmatched and
    /// `_OTHER` included.
    #[cfg(test)]
    fn routes_known(&self) -> usize {
        self.routes.lock().texts.len()
    }
}

impl std::fmt::Debug for SeriesCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesCache")
            .field("routes", &self.routes.lock().texts.len())
            .finish_non_exhaustive()
    }
}

fn key(route: RouteId, method: MethodIndex, status: Option<StatusCode>) -> u64 {
    (u64::from(route.0) << 24)
        | (u64::from(method.get()) << 16)
        | u64::from(status.map_or(0, |s| s.as_u16()))
}

fn unpack(key: u64) -> (RouteId, MethodIndex, Option<StatusCode>) {
    let method = MethodIndex::from_index((key >> 16) as u8);
    // Zero is "no status": status codes start at 100.
    let status = StatusCode::from_u16(key as u16).ok();
    (RouteId((key >> 24) as u32), method, status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn cache() -> Result<(ViewManager, SeriesCache), census_core::Error> {
        let vm = ViewManager::new();
        let measures = Measures::new("")?;
        for view in measures.views("")? {
            vm.register_view(view)?;
        }
        Ok((vm, SeriesCache::new(measures, "unmatched")))
    }

    fn texts(map: &TagMap) -> Vec<(String, String)> {
        map.iter()
            .map(|(k, v)| (k.name().to_owned(), v.as_str().to_owned()))
            .collect()
    }

    #[test]
    fn series_hold_method_route_and_status() -> Result<(), census_core::Error> {
        let (vm, cache) = cache()?;
        let get = MethodIndex::of(&Method::GET);
        let route = cache.enter(&vm, Some("/users/{id}"), get, |id, _| id);
        let (done, flight) =
            cache.with_done(&vm, route, get, Some(StatusCode::NOT_FOUND), |d, f| {
                (texts(d.duration.tags()), texts(f.tags()))
            });
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let mut expected = vec![
            pair("http.request.method", "GET"),
            pair("http.route", "/users/{id}"),
            pair("http.response.status_code", "404"),
        ];
        let sorted = |mut v: Vec<(String, String)>| {
            v.sort();
            v
        };
        assert_eq!(sorted(done), sorted(expected.clone()));
        expected.pop();
        assert_eq!(sorted(flight), sorted(expected.clone()));
        let unmatched = cache.with_in_flight(&vm, RouteId::UNMATCHED, get, |f| texts(f.tags()));
        assert!(
            unmatched.contains(&pair("http.route", "unmatched")),
            "{unmatched:?}"
        );
        Ok(())
    }

    #[test]
    fn a_thread_hands_out_the_series_it_bound() -> Result<(), census_core::Error> {
        let (vm, cache) = cache()?;
        let post = MethodIndex::of(&Method::POST);
        let address = |s: &BoundMeasure<MeasureI64>| std::ptr::from_ref(s) as usize;
        let (route, first) = cache.enter(&vm, Some("/hello"), post, |id, s| (id, address(s)));
        let again = cache.with_in_flight(&vm, route, post, address);
        assert_eq!(first, again);
        assert_eq!(cache.enter(&vm, Some("/hello"), post, |id, _| id), route);
        Ok(())
    }

    #[test]
    fn routes_past_the_limit_share_one_value() -> Result<(), census_core::Error> {
        let (vm, cache) = cache()?;
        let get = MethodIndex::of(&Method::GET);
        let ids: Vec<RouteId> = (0..MAX_ROUTES + 50)
            .map(|i| cache.shared_route(&format!("/r{i}")))
            .collect();
        assert_eq!(cache.routes_known(), MAX_ROUTES + 2);
        assert!(ids[..MAX_ROUTES].iter().all(|id| *id != RouteId::OTHER));
        assert!(ids[MAX_ROUTES..].iter().all(|id| *id == RouteId::OTHER));
        let value = cache.with_in_flight(&vm, RouteId::OTHER, get, |f| texts(f.tags()));
        assert!(
            value.contains(&("http.route".to_owned(), "_OTHER".to_owned())),
            "{value:?}"
        );
        Ok(())
    }

    #[test]
    fn templates_that_are_not_printable_ascii_are_cleaned() -> Result<(), census_core::Error> {
        let (vm, cache) = cache()?;
        let long = format!("/caf\u{e9}/{}", "x".repeat(300));
        let get = MethodIndex::of(&Method::GET);
        let value = cache.enter(&vm, Some(&long), get, |_, f| texts(f.tags()));
        let route = value
            .iter()
            .find(|(k, _)| k == "http.route")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        assert!(route.starts_with("/caf_/xx"), "{route}");
        assert_eq!(route.len(), 255);
        Ok(())
    }

    #[test]
    fn keys_round_trip() {
        for status in [
            None,
            Some(StatusCode::OK),
            Some(StatusCode::from_u16(999).unwrap_or_default()),
        ] {
            let method = MethodIndex::of(&Method::PATCH);
            let (r, m, s) = unpack(key(RouteId(MAX_ROUTES as u32 + 1), method, status));
            assert_eq!((r, m, s), (RouteId(MAX_ROUTES as u32 + 1), method, status));
        }
    }
}
