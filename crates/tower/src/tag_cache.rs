//! The tag maps the layer records with, kept per thread so that a request
//! for a route already served builds nothing.
//!
//! A map built per request touches no heap while its values fit in 23
//! bytes, but route templates often do not (`/api/v1/users/{id}/settings`
//! is 28), and axum's template is an `Arc<str>` of its own, not a
//! `&'static str` a value could borrow: each request would allocate a
//! copy, or share one value whose reference count every thread writes.
//! Methods, routes and status codes are few, so each thread keeps one
//! `TagMap` per combination it has served and hands it to `record` by
//! reference: no allocation, no text validated again, and no reference
//! count that another thread writes (each thread builds its own maps). A
//! request's future carries small numbers (route id, method index) instead
//! of tags, so it can finish on any thread.

use std::cell::RefCell;
use std::collections::hash_map::Entry as StdEntry;
use std::collections::HashMap as StdHashMap;

use census_core::{TagKey, TagMap, TagValue};
use foldhash::fast::RandomState;
use hashbrown::HashMap;
use http::StatusCode;
use parking_lot::Mutex;
use thread_local::ThreadLocal;

use crate::method::MethodIndex;

/// Distinct route templates a layer tells apart. Routes come from the
/// service's own code (axum's router, or the `&'static str` a route
/// function returns), so this is a guard against a misbehaving source, not
/// a limit services meet; later routes are recorded as [`OTHER_ROUTE`].
pub(crate) const MAX_ROUTES: usize = 1_000;

/// Tag maps one thread keeps: routes × methods × status codes it served.
/// Past it the thread builds the maps it lacks per request, allocating but
/// recording the same.
const MAX_MAPS_PER_THREAD: usize = 4_096;

/// The route value of requests past [`MAX_ROUTES`] distinct routes.
pub(crate) const OTHER_ROUTE: &str = "_OTHER";

/// A route template, by number; 0 is the unmatched route, 1 [`OTHER_ROUTE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RouteId(u32);

impl RouteId {
    pub(crate) const UNMATCHED: RouteId = RouteId(0);
    const OTHER: RouteId = RouteId(1);
}

/// Per-thread tag maps over one shared table of route templates.
pub(crate) struct TagCache {
    method: TagKey,
    route: TagKey,
    status: TagKey,
    routes: Mutex<RouteTable>,
    local: ThreadLocal<RefCell<Local>>,
}

/// Every route template seen, numbered: the only state threads share, and
/// taken only when a thread meets a template or a combination it has not
/// served before.
struct RouteTable {
    /// As the source gave them, to their ids.
    ids: StdHashMap<Box<str>, RouteId>,
    /// By id, as the source gave them; made valid tag values (any
    /// character outside printable ASCII becomes `_`) when maps are built.
    texts: Vec<Box<str>>,
}

#[derive(Default)]
struct Local {
    /// Route templates this thread has met, to their ids.
    route_ids: HashMap<Box<str>, RouteId, RandomState>,
    /// (route, method, status or none) to this thread's map of those tags.
    maps: HashMap<u64, TagMap, RandomState>,
}

impl TagCache {
    /// A cache recording under `method`, `route` and `status`;
    /// `unmatched` is the route value of requests no route matched (valid
    /// tag value text).
    pub(crate) fn new(method: TagKey, route: TagKey, status: TagKey, unmatched: &str) -> TagCache {
        TagCache {
            method,
            route,
            status,
            routes: Mutex::new(RouteTable {
                ids: StdHashMap::new(),
                texts: vec![unmatched.into(), OTHER_ROUTE.into()],
            }),
            local: ThreadLocal::new(),
        }
    }

    /// Numbers route template `route` (`None`: unmatched) and hands `f`
    /// its id and this thread's map of the in-flight tags (method, route):
    /// the start of a request, in one visit to this thread's cache.
    #[inline]
    pub(crate) fn enter<R>(
        &self,
        route: Option<&str>,
        method: MethodIndex,
        f: impl FnOnce(RouteId, &TagMap) -> R,
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
            if self.fill(&mut local, key) {
                if let Some(map) = local.maps.get(&key) {
                    return f(id, map);
                }
            }
            return f(id, &self.build(key));
        }
        // This thread's cache is in use further up the stack (a record
        // that re-entered): do without it.
        let id = route.map_or(RouteId::UNMATCHED, |text| self.shared_route(text));
        f(id, &self.build(key(id, method, None)))
    }

    /// Hands `f` this thread's map of the in-flight tags (method, route).
    #[inline]
    pub(crate) fn with_in_flight<R>(
        &self,
        route: RouteId,
        method: MethodIndex,
        f: impl FnOnce(&TagMap) -> R,
    ) -> R {
        let key = key(route, method, None);
        if let Ok(mut local) = self.local.get_or(RefCell::default).try_borrow_mut() {
            if self.fill(&mut local, key) {
                if let Some(map) = local.maps.get(&key) {
                    return f(map);
                }
            }
        }
        f(&self.build(key))
    }

    /// Hands `f` this thread's maps of a finished request's tags (method,
    /// route, status; without status for a request that failed) and of its
    /// in-flight tags.
    #[inline]
    pub(crate) fn with_done<R>(
        &self,
        route: RouteId,
        method: MethodIndex,
        status: Option<StatusCode>,
        f: impl FnOnce(&TagMap, &TagMap) -> R,
    ) -> R {
        let (done, flight) = (key(route, method, status), key(route, method, None));
        if let Ok(mut local) = self.local.get_or(RefCell::default).try_borrow_mut() {
            if self.fill(&mut local, done) && self.fill(&mut local, flight) {
                if let (Some(done_map), Some(flight_map)) =
                    (local.maps.get(&done), local.maps.get(&flight))
                {
                    return f(done_map, flight_map);
                }
            }
        }
        f(&self.build(done), &self.build(flight))
    }

    /// Makes sure this thread has the map for `key`; false if its cache is
    /// full and it does not.
    #[inline]
    fn fill(&self, local: &mut Local, key: u64) -> bool {
        if local.maps.contains_key(&key) {
            return true;
        }
        self.fill_new(local, key)
    }

    #[cold]
    fn fill_new(&self, local: &mut Local, key: u64) -> bool {
        if local.maps.len() >= MAX_MAPS_PER_THREAD {
            return false;
        }
        local.maps.insert(key, self.build(key));
        true
    }

    /// Builds the map for `key`. Each thread builds its own, so a long
    /// route value (kept on the heap past 23 bytes) has its reference
    /// count touched by its own thread alone.
    #[cold]
    fn build(&self, key: u64) -> TagMap {
        let (route, method, status) = unpack(key);
        let route = match self.routes.lock().texts.get(route.0 as usize) {
            Some(text) => TagValue::new_lossy(&**text),
            None => TagValue::from_static(OTHER_ROUTE),
        };
        let map = TagMap::new()
            .with_value(&self.method, TagValue::from_static(method.as_str()))
            .with_value(&self.route, route);
        match status {
            // Three digits: valid, and kept inline.
            Some(status) => map.with_value(&self.status, TagValue::new_lossy(status.as_str())),
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

impl std::fmt::Debug for TagCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TagCache")
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

    fn cache() -> Result<TagCache, census_core::Error> {
        Ok(TagCache::new(
            TagKey::new("m")?,
            TagKey::new("r")?,
            TagKey::new("s")?,
            "unmatched",
        ))
    }

    fn texts(map: &TagMap) -> Vec<(String, String)> {
        map.iter()
            .map(|(k, v)| (k.name().to_owned(), v.as_str().to_owned()))
            .collect()
    }

    #[test]
    fn maps_hold_method_route_and_status() -> Result<(), census_core::Error> {
        let cache = cache()?;
        let get = MethodIndex::of(&Method::GET);
        let route = cache.enter(Some("/users/{id}"), get, |id, _| id);
        let (done, flight) = cache.with_done(route, get, Some(StatusCode::NOT_FOUND), |d, f| {
            (texts(d), texts(f))
        });
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            done,
            [pair("m", "GET"), pair("r", "/users/{id}"), pair("s", "404")]
        );
        assert_eq!(flight, [pair("m", "GET"), pair("r", "/users/{id}")]);
        let unmatched = cache.with_in_flight(RouteId::UNMATCHED, get, texts);
        assert_eq!(unmatched, [pair("m", "GET"), pair("r", "unmatched")]);
        Ok(())
    }

    #[test]
    fn a_thread_hands_out_the_map_it_kept() -> Result<(), census_core::Error> {
        let cache = cache()?;
        let post = MethodIndex::of(&Method::POST);
        let address = |map: &TagMap| std::ptr::from_ref(map) as usize;
        let (route, first) = cache.enter(Some("/hello"), post, |id, map| (id, address(map)));
        let again = cache.with_in_flight(route, post, address);
        assert_eq!(first, again);
        assert_eq!(cache.enter(Some("/hello"), post, |id, _| id), route);
        Ok(())
    }

    #[test]
    fn routes_past_the_limit_share_one_value() -> Result<(), census_core::Error> {
        let cache = cache()?;
        let get = MethodIndex::of(&Method::GET);
        let ids: Vec<RouteId> = (0..MAX_ROUTES + 50)
            .map(|i| cache.enter(Some(&format!("/r{i}")), get, |id, _| id))
            .collect();
        assert_eq!(cache.routes_known(), MAX_ROUTES + 2);
        assert!(ids[..MAX_ROUTES].iter().all(|id| *id != RouteId::OTHER));
        assert!(ids[MAX_ROUTES..].iter().all(|id| *id == RouteId::OTHER));
        let value = cache.with_in_flight(RouteId::OTHER, get, texts);
        assert_eq!(value[1].1, "_OTHER");
        Ok(())
    }

    #[test]
    fn templates_that_are_not_printable_ascii_are_cleaned() -> Result<(), census_core::Error> {
        let cache = cache()?;
        let long = format!("/caf\u{e9}/{}", "x".repeat(300));
        let value = cache.enter(Some(&long), MethodIndex::of(&Method::GET), |_, map| {
            texts(map)
        });
        assert!(value[1].1.starts_with("/caf_/xx"), "{}", value[1].1);
        assert_eq!(value[1].1.len(), 255);
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
