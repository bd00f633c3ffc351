//! Which views hold which Prometheus names, remembered between
//! `check_view` calls, so that registering n views plans each view once.
//!
//! The check used to plan every registered view at every registration:
//! O(n²), 4,000 views took 5.3 s to register beside a Prometheus exporter
//! and 5.6 ms without one. Now a check plans only the registered views it
//! has not planned before (through a manager, none: each view was checked
//! when it was registered, or when the exporter was), looks up only the
//! new view's few names, and asks the registered list only about the
//! views found holding one of them.

use std::collections::HashMap;

use census_core::View;
use census_prometheus_model::{Family, NameTable};

use crate::exposition::Config;

/// The views planned so far, by each Prometheus name they occupy.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    /// Each name, and the views planned with it (usually one; more when a
    /// view was refused or unregistered and another took the name).
    holders: HashMap<String, Vec<View>>,
    /// The views planned, by view name.
    planned: HashMap<String, Vec<View>>,
    /// How many views `planned` holds, to know when views no longer
    /// registered outnumber the registered ones.
    count: usize,
    /// The last registered list seen, every view of it planned. A
    /// manager's next list is usually this one and one more view, which a
    /// walk of cheap comparisons (the same `Arc`) confirms.
    seen: Vec<View>,
}

impl Claims {
    /// Whether `view`, planned as `family`, may join `registered` (and the
    /// exporter's `own` views, which always count): `Err` with the clash
    /// when another view already exports one of its names. Remembers
    /// `view`'s names either way.
    pub(crate) fn check<'a>(
        &mut self,
        view: &View,
        family: &Family,
        registered: &[View],
        own: impl Iterator<Item = &'a View>,
        config: &Config,
    ) -> Result<(), String> {
        self.plan_all(registered, config);
        let plan = |v: &View| Family::plan(v, &config.namespace, &config.const_labels);
        let names = family.occupied_names();
        // The registered views that bear on the verdict: those holding
        // one of the new view's names, and, since a registered view that
        // clashed with an earlier one holds nothing, every view sharing a
        // name with those, and so on. Claimed in registration order, then
        // the exporter's own views, as if every registered view were
        // claimed: the same table, for the names that matter. Registering
        // a view under a registered view's name is the manager's to
        // refuse (or accept, if it is the same view), so those stay out.
        let mut bearing: Vec<(usize, View)> = Vec::new();
        let mut pending: Vec<String> = names.clone();
        while let Some(name) = pending.pop() {
            for holder in self.holders.get(&name).into_iter().flatten() {
                if holder.name() == view.name() || bearing.iter().any(|(_, b)| b == holder) {
                    continue;
                }
                let Some(at) = registered.iter().position(|r| r == holder) else {
                    continue;
                };
                if let Ok(f) = plan(holder) {
                    pending.extend(f.occupied_names());
                }
                bearing.push((at, holder.clone()));
            }
        }
        bearing.sort_by_key(|(at, _)| *at);
        let mut table = NameTable::default();
        for (_, other) in &bearing {
            if let Ok(f) = plan(other) {
                // Registered views already passed this check; a clash among
                // them can only come from views registered before this
                // exporter, and rendering skips those.
                let _ = table.claim(other.name(), &f);
            }
        }
        for other in own {
            if let Ok(f) = plan(other) {
                let _ = table.claim(other.name(), &f);
            }
        }
        let verdict = table.claim(view.name(), family);
        self.remember(view, names);
        verdict
    }

    /// Plans every view of `registered` not planned yet.
    fn plan_all(&mut self, registered: &[View], config: &Config) {
        // Views no longer registered (refused, unregistered) stay until
        // they outnumber the registered ones; then a fresh start drops
        // them, paid for by the checks that added them.
        if self.count > 8 * (registered.len() + 16) {
            *self = Claims::default();
        }
        let extends_seen = registered.len() >= self.seen.len()
            && registered.iter().zip(&self.seen).all(|(r, s)| r == s);
        let new = if extends_seen {
            registered.get(self.seen.len()..).unwrap_or_default()
        } else {
            // Something was unregistered: look each view up by name.
            self.seen.clear();
            registered
        };
        for view in new {
            if !self.is_planned(view) {
                if let Ok(f) = Family::plan(view, &config.namespace, &config.const_labels) {
                    self.remember(view, f.occupied_names());
                }
            }
        }
        self.seen.extend_from_slice(new);
    }

    fn is_planned(&self, view: &View) -> bool {
        self.planned
            .get(view.name())
            .is_some_and(|views| views.contains(view))
    }

    fn remember(&mut self, view: &View, names: Vec<String>) {
        if self.is_planned(view) {
            return;
        }
        self.planned
            .entry(view.name().to_owned())
            .or_default()
            .push(view.clone());
        self.count += 1;
        for name in names {
            self.holders.entry(name).or_default().push(view.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{Aggregation, MeasureI64};

    fn view(name: &str, aggregation: Aggregation) -> View {
        let m = MeasureI64::new("m", "", "1").expect("valid measure");
        View::builder(name, &m)
            .aggregation(aggregation)
            .build()
            .expect("valid view")
    }

    fn check(claims: &mut Claims, v: &View, registered: &[View]) -> Result<(), String> {
        let config = Config::default();
        let family = Family::plan(v, &config.namespace, &config.const_labels)?;
        claims.check(v, &family, registered, std::iter::empty(), &config)
    }

    #[test]
    fn a_registered_holder_refuses_and_a_gone_one_does_not() {
        let mut claims = Claims::default();
        let a = view("app/requests", Aggregation::Sum);
        assert_eq!(check(&mut claims, &a, &[]), Ok(()));
        // `app.requests` becomes the same metric, app_requests_total.
        let b = view("app.requests", Aggregation::Count);
        let clash = check(&mut claims, &b, std::slice::from_ref(&a));
        assert!(clash.is_err_and(|e| e.contains("app/requests")));
        // Once `app/requests` is no longer registered, the name is free.
        assert_eq!(check(&mut claims, &b, &[]), Ok(()));
    }

    #[test]
    fn a_registered_view_never_checked_here_is_planned_all_the_same() {
        // A caller of the public `check_view` may list views it never
        // asked about; they count as much as any.
        let mut claims = Claims::default();
        let a = view("app/requests", Aggregation::Sum);
        let b = view("app.requests", Aggregation::Count);
        let clash = check(&mut claims, &b, std::slice::from_ref(&a));
        assert!(clash.is_err_and(|e| e.contains("app/requests")));
    }

    #[test]
    fn a_list_that_lost_a_view_is_read_again() {
        let mut claims = Claims::default();
        let a = view("app/a", Aggregation::Sum);
        let b = view("app/b", Aggregation::Sum);
        let c = view("app/c", Aggregation::Sum);
        let d = view("app/d", Aggregation::Sum);
        assert_eq!(check(&mut claims, &d, &[a.clone(), b.clone()]), Ok(()));
        // `b` unregistered and `c`, never checked here, listed in its
        // place: a list of the same length that is not the one seen.
        let c2 = view("app.c", Aggregation::Count);
        let clash = check(&mut claims, &c2, &[a, c]);
        assert!(clash.is_err_and(|e| e.contains("app/c")));
    }

    #[test]
    fn a_holder_that_lost_its_names_to_an_earlier_view_does_not_count() {
        // The old check claimed every registered view in order: `x_sum`
        // (a gauge) first, so the histogram `x`, which also wants `x_sum`,
        // held nothing, and `x_count` was free.
        let mut claims = Claims::default();
        let gauge = view("x_sum", Aggregation::LastValue);
        let histogram = view("x", Aggregation::distribution([1.0]).expect("bounds"));
        let registered = [gauge, histogram];
        let count = view("x_count", Aggregation::LastValue);
        assert_eq!(check(&mut claims, &count, &registered), Ok(()));
        // `x.sum` becomes `x_sum`, which the gauge holds: refused.
        let taken = view("x.sum", Aggregation::LastValue);
        assert!(check(&mut claims, &taken, &registered).is_err());
    }

    #[test]
    fn views_no_longer_registered_are_dropped_in_time() {
        let mut claims = Claims::default();
        for i in 0..1_000 {
            let v = view(&format!("app/v{i}"), Aggregation::Sum);
            assert_eq!(check(&mut claims, &v, &[]), Ok(()));
        }
        // None of the views stays registered.
        assert!(claims.count <= 8 * 16 + 1, "{} views", claims.count);
    }
}
