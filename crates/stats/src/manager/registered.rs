//! What a manager has registered, kept so that registering or
//! unregistering one view costs the same with ten views or ten thousand.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use census_core::{Measure, Producer, View};

use super::Subscriptions;
use crate::callback::CallbackView;
use crate::clock::Clock;
use crate::delivery::Delivery;
use crate::seed::Seed;
use crate::view::ViewState;

/// The registered views, exporters and producers.
///
/// Views sit in *slots*: a view's slot is its position in every thread's
/// routing copy and index vector, fixed while it is registered and given
/// to a later view once it is unregistered. Nothing here is scanned per
/// registration: names, measures and registration order each have an
/// index, and the routing table is changed in place.
pub(crate) struct Registry {
    slots: Vec<Option<Arc<ViewState>>>,
    free: Vec<usize>,
    /// View name to its slot and registration number.
    by_name: HashMap<String, (usize, u64), foldhash::fast::RandomState>,
    /// Registration number (the view's id) to slot: the order batches and
    /// `views()` list views in.
    order: BTreeMap<u64, usize>,
    next: u64,
    /// Measure name to the first registered definition and how many views
    /// use that name.
    measures: HashMap<String, (Measure, usize), foldhash::fast::RandomState>,
    /// The registered views in registration order, as exporters' checks
    /// see them. Shared so a check needs no copy; only kept while some
    /// exporter is registered (nobody else asks).
    listed: Option<Arc<Vec<View>>>,
    /// The routing table, changed with every registration; recording
    /// threads read copies of it.
    routing: Subscriptions,
    /// The manager's hash seed, for new views' tables.
    seed: Seed,
    /// Views whose rows a callback reports; never routed to (issue #12).
    /// Few, so a list.
    callback_views: Vec<Arc<CallbackView>>,
    /// Bumped by every registration and unregistration of a recorded view:
    /// the routing table's version.
    pub(crate) version: u64,
    /// Bumped by every registration and unregistration of any view: what
    /// exporters were asked about is still the registry when it has not
    /// moved.
    pub(crate) changes: u64,
    pub(crate) deliveries: Vec<Arc<Delivery>>,
    /// The [`Exporter::instance`](census_core::Exporter::instance) of each
    /// exporter whose registration is under way: a second registration
    /// of it is refused before it calls the exporter's `attach`.
    pub(crate) registering: Vec<usize>,
    pub(crate) producers: Vec<Arc<dyn Producer>>,
}

impl Registry {
    pub(crate) fn new(seed: Seed) -> Registry {
        Registry {
            slots: Vec::new(),
            free: Vec::new(),
            by_name: HashMap::default(),
            order: BTreeMap::new(),
            // Ids start at 1: the routing table marks an empty slot 0.
            next: 1,
            measures: HashMap::default(),
            listed: None,
            routing: Subscriptions::new(seed.clone()),
            seed,
            callback_views: Vec::new(),
            version: 0,
            changes: 0,
            deliveries: Vec::new(),
            registering: Vec::new(),
            producers: Vec::new(),
        }
    }

    /// The view registered under `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Arc<ViewState>> {
        let &(slot, _) = self.by_name.get(name)?;
        self.slots.get(slot)?.as_ref()
    }

    /// The measure registered under `name`, if a view uses it.
    pub(crate) fn measure(&self, name: &str) -> Option<&Measure> {
        self.measures.get(name).map(|(m, _)| m)
    }

    /// Registers `view`, started at `start`, and routes records to it.
    /// Adds `view`, starting now on `clock`, whose rows' ages it measures.
    pub(crate) fn insert(&mut self, view: View, clock: &Clock) {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let id = self.next;
        self.next += 1;
        let state = Arc::new(
            ViewState::new(view, clock.system_time(), self.seed.clone())
                .with_clock(clock.clone())
                .in_slot(slot, id),
        );
        let measure = state.view().measure();
        self.measures
            .entry(measure.name().to_owned())
            .or_insert_with(|| (measure.clone(), 0))
            .1 += 1;
        if let Some(listed) = &mut self.listed {
            Arc::make_mut(listed).push(state.view().clone());
        }
        self.by_name
            .insert(state.view().name().to_owned(), (slot, id));
        self.order.insert(id, slot);
        self.routing.add(&state);
        if let Some(place) = self.slots.get_mut(slot) {
            *place = Some(state);
        }
        self.version += 1;
        self.changes += 1;
        self.routing.version = self.version;
    }

    /// Removes the view named `name`.
    pub(crate) fn remove(&mut self, name: &str) -> Option<Arc<ViewState>> {
        let (slot, n) = self.by_name.remove(name)?;
        self.order.remove(&n);
        let state = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        self.forget_measure(state.view().measure().name());
        if let Some(listed) = &mut self.listed {
            Arc::make_mut(listed).retain(|v| v.name() != name);
        }
        self.routing.remove(&state);
        self.version += 1;
        self.changes += 1;
        self.routing.version = self.version;
        Some(state)
    }

    /// The callback view registered under `name`.
    pub(crate) fn callback(&self, name: &str) -> Option<&Arc<CallbackView>> {
        self.callback_views.iter().find(|c| c.view().name() == name)
    }

    /// The callback views, in registration order.
    pub(crate) fn callback_views(&self) -> &[Arc<CallbackView>] {
        &self.callback_views
    }

    /// Adds a checked callback view.
    pub(crate) fn insert_callback(&mut self, view: Arc<CallbackView>) {
        let measure = view.view().measure();
        self.measures
            .entry(measure.name().to_owned())
            .or_insert_with(|| (measure.clone(), 0))
            .1 += 1;
        if let Some(listed) = &mut self.listed {
            Arc::make_mut(listed).push(view.view().clone());
        }
        self.callback_views.push(view);
        self.changes += 1;
    }

    /// Removes the callback view named `name`; whether there was one.
    pub(crate) fn remove_callback(&mut self, name: &str) -> bool {
        let Some(i) = self
            .callback_views
            .iter()
            .position(|c| c.view().name() == name)
        else {
            return false;
        };
        let view = self.callback_views.remove(i);
        self.forget_measure(view.view().measure().name());
        if let Some(listed) = &mut self.listed {
            Arc::make_mut(listed).retain(|v| v.name() != name);
        }
        self.changes += 1;
        true
    }

    /// One view fewer uses the measure named `name`.
    fn forget_measure(&mut self, name: &str) {
        if let Some((_, users)) = self.measures.get_mut(name) {
            *users -= 1;
            if *users == 0 {
                self.measures.remove(name);
            }
        }
    }

    /// The routing table as of now.
    pub(crate) fn routing(&self) -> &Subscriptions {
        &self.routing
    }

    /// Every registered view, in registration order.
    pub(crate) fn views(&self) -> Vec<Arc<ViewState>> {
        self.order
            .values()
            .filter_map(|&slot| self.slots.get(slot)?.clone())
            .collect()
    }

    /// How many views are registered.
    pub(crate) fn len(&self) -> usize {
        self.by_name.len() + self.callback_views.len()
    }

    /// The registered views' definitions, recorded and callback ones, in
    /// registration order, shared.
    pub(crate) fn listed(&mut self) -> Arc<Vec<View>> {
        if self.listed.is_none() {
            // From here on kept in registration order; callback views
            // registered before it was first asked for come after the
            // recorded ones.
            let recorded = self.views().into_iter().map(|s| s.view().clone());
            let callbacks = self.callback_views.iter().map(|c| c.view().clone());
            self.listed = Some(Arc::new(recorded.chain(callbacks).collect()));
        }
        self.listed.clone().unwrap_or_default()
    }
}
