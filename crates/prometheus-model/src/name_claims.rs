//! Which registered views hold which Prometheus names, kept between an
//! exporter's `check_view` calls, so that registering n views plans each
//! view once instead of every registered view at every registration
//! (O(n²): 10,000 views took over three minutes in a debug build beside
//! remote write, 4,000 took 5.3 s in a release build beside the
//! Prometheus exporter).

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};

use census_core::View;

use crate::family::{Family, NameTable};

/// The name clash check of an exporter that writes views under Prometheus
/// names, kept between its
/// [`Exporter::check_view`](census_core::Exporter::check_view) calls so
/// that registering n views plans each view once. An exporter keeps one,
/// behind the lock its checks take.
///
/// The Prometheus exporter and remote write both check with it, each
/// planning views its own way (a namespace, constant labels). Its verdict
/// is the one a [`NameTable`] of every registered view would give, claimed
/// in registration order, then the exporter's own views, then the new
/// view: views clash only through shared names, so the table holds just
/// the views connected to the new view's names through shared names (a
/// view that lost a name to an earlier one holds none of its names in the
/// full table, which only its neighbours show).
///
/// It keeps the registered list last seen with each view's family, and
/// the own views likewise. A manager's next list is usually that one and
/// the view checked last, which a walk of pointer comparisons confirms; a
/// list that lost views (an unregistration) keeps the families of the
/// views still in it, so only views never seen are planned. Views no
/// longer listed (unregistered, refused) are not kept.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use census_core::{Aggregation, MeasureI64, View};
/// use census_prometheus_model::{Family, NameClaims};
///
/// let m = MeasureI64::new("app/requests", "requests served", "1")?;
/// let sum = |name: &str| View::builder(name, &m).aggregation(Aggregation::Sum).build();
/// let plan = |v: &View| Family::plan(v, "myapp", &[]);
/// let registered = [sum("app/requests")?];
///
/// let mut claims = NameClaims::default();
/// assert!(claims.check(&sum("app/errors")?, &registered, [], plan).is_ok());
/// // `app.requests` would also be myapp_app_requests_total.
/// let clash = claims.check(&sum("app.requests")?, &registered, [], plan);
/// assert!(clash.is_err_and(|e| e.contains("myapp_app_requests_total")));
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct NameClaims {
    /// The registered list last seen.
    registered: Planned,
    /// The exporter's own views last given: the same few at every check,
    /// planned once rather than at every check (remote write has a dozen).
    own: Planned,
    /// The view last checked, with its family: when it is accepted, the
    /// manager's next list ends with it, and it need not be planned again.
    checked: Option<(View, Family)>,
}

impl NameClaims {
    /// Whether `view` may join `registered` beside the exporter's `own`
    /// views (its self-metrics, which are never registered and so always
    /// count), each view planned with `plan`, which must plan alike at
    /// every call: the families are kept. A registered view of `view`'s
    /// name is left out: registering a view under a registered view's
    /// name is the manager's to refuse, or to accept as the same view, and
    /// an exporter registered after the views checks each of them beside
    /// the ones before it.
    ///
    /// # Errors
    ///
    /// `plan`'s message when `view` cannot be planned, or
    /// [`NameTable::claim`]'s, naming both views, when another view
    /// already exports one of its names.
    pub fn check<'a>(
        &mut self,
        view: &View,
        registered: &[View],
        own: impl IntoIterator<Item = &'a View>,
        plan: impl Fn(&View) -> Result<Family, String>,
    ) -> Result<(), String> {
        let family = plan(view)?;
        self.registered
            .catch_up(registered, &plan, &mut self.checked);
        let own: Vec<&View> = own.into_iter().collect();
        self.own.catch_up(&own, &plan, &mut None);
        // The views connected to the new view's names, by position in
        // their list: a `BTreeSet` hands them back in list order.
        let (mut bearing, mut own_bearing) = (BTreeSet::new(), BTreeSet::new());
        let mut names = family.occupied_names();
        while let Some(name) = names.pop() {
            for (at, other, other_family) in self.registered.holding(&name) {
                if other.name() != view.name() && bearing.insert(at) {
                    names.extend(other_family.occupied_names());
                }
            }
            for (at, _, other_family) in self.own.holding(&name) {
                if own_bearing.insert(at) {
                    names.extend(other_family.occupied_names());
                }
            }
        }
        let mut table = NameTable::default();
        // Registered views passed this check already; a clash among them
        // can only come from views registered before the exporter, which
        // it leaves out when it writes.
        for (other, other_family) in bearing.into_iter().filter_map(|at| self.registered.get(at)) {
            let _ = table.claim(other.name(), other_family);
        }
        for (other, other_family) in own_bearing.into_iter().filter_map(|at| self.own.get(at)) {
            let _ = table.claim(other.name(), other_family);
        }
        let verdict = table.claim(view.name(), &family);
        self.checked = Some((view.clone(), family));
        verdict
    }
}

/// A list of views as last seen, each with its family, and which of them
/// hold each name.
#[derive(Debug, Default)]
struct Planned {
    /// The list, in order. Apart from `families`, so the walk that
    /// compares it with the next list reads pointers only.
    views: Vec<View>,
    /// The family of each view (`None` when it cannot be planned: it holds
    /// no name).
    families: Vec<Option<Family>>,
    /// Each occupied name, and the positions of the views planned with it.
    holders: HashMap<String, Vec<usize>>,
}

impl Planned {
    /// The view at `at`, with its family, if it has one.
    fn get(&self, at: usize) -> Option<(&View, &Family)> {
        match (self.views.get(at), self.families.get(at)) {
            (Some(view), Some(Some(family))) => Some((view, family)),
            _ => None,
        }
    }

    /// The views planned with `name`, with their positions.
    fn holding(&self, name: &str) -> impl Iterator<Item = (usize, &View, &Family)> + '_ {
        let positions = self.holders.get(name).into_iter().flatten();
        positions.filter_map(|&at| self.get(at).map(|(v, f)| (at, v, f)))
    }

    /// Brings the list to `list`, planning only the views not seen, and
    /// taking `checked`'s family for its view instead of planning it.
    fn catch_up(
        &mut self,
        list: &[impl Borrow<View>],
        plan: &impl Fn(&View) -> Result<Family, String>,
        checked: &mut Option<(View, Family)>,
    ) {
        // Views are shared `Arc`s, so for an unchanged start each
        // comparison is a pointer comparison.
        let grown = self.views.len() <= list.len()
            && self.views.iter().zip(list).all(|(a, b)| a == b.borrow());
        if !grown {
            self.keep_listed(list);
        }
        for view in list.iter().skip(self.views.len()).map(Borrow::borrow) {
            let family = match checked {
                Some((c, _)) if c == view => checked.take().map(|(_, f)| f),
                _ => plan(view).ok(),
            };
            let at = self.views.len();
            for name in family.iter().flat_map(Family::occupied_names) {
                self.holders.entry(name).or_default().push(at);
            }
            self.views.push(view.clone());
            self.families.push(family);
        }
    }

    /// Keeps the longest start of `list` that the list seen holds in
    /// order, and renumbers the holders: after an unregistration that is
    /// every view still registered, so none is planned again. What is
    /// left of `list` (views not seen, or a list in another order) is for
    /// the caller to plan.
    fn keep_listed(&mut self, list: &[impl Borrow<View>]) {
        let old = std::mem::take(&mut self.views);
        let old_families = std::mem::take(&mut self.families);
        let mut moved_to: Vec<Option<usize>> = vec![None; old.len()];
        let mut from = 0;
        for (at, view) in list.iter().enumerate() {
            // A view not found ends the walk: one pass over `old` at most.
            let Some(found) = old
                .get(from..)
                .and_then(|rest| rest.iter().position(|v| v == view.borrow()))
            else {
                break;
            };
            if let Some(slot) = moved_to.get_mut(from + found) {
                *slot = Some(at);
            }
            from += found + 1;
        }
        // Positions only move down and keep their order, so the kept
        // views, in their old order, are the new list's start.
        let kept = moved_to.iter().map(Option::is_some);
        self.views = old
            .into_iter()
            .zip(kept.clone())
            .filter_map(|(v, k)| k.then_some(v))
            .collect();
        self.families = old_families
            .into_iter()
            .zip(kept)
            .filter_map(|(f, k)| k.then_some(f))
            .collect();
        self.holders.retain(|_, positions| {
            positions.retain_mut(|at| match moved_to.get(*at).copied().flatten() {
                Some(to) => {
                    *at = to;
                    true
                }
                None => false,
            });
            !positions.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{Aggregation, MeasureI64};
    use std::cell::Cell;

    fn view(name: &str, aggregation: Aggregation) -> View {
        let m = MeasureI64::new("m", "", "1").expect("valid measure");
        View::builder(name, &m)
            .aggregation(aggregation)
            .build()
            .expect("valid view")
    }

    fn plan(v: &View) -> Result<Family, String> {
        Family::plan(v, "", &[])
    }

    fn check(claims: &mut NameClaims, v: &View, registered: &[View]) -> Result<(), String> {
        claims.check(v, registered, [], plan)
    }

    /// The verdict of the table of every registered view, as the check
    /// was before it kept anything.
    fn full_table(v: &View, registered: &[View], own: &[View]) -> Result<(), String> {
        let mut table = NameTable::default();
        let others = registered.iter().filter(|o| o.name() != v.name());
        for other in others.chain(own) {
            if let Ok(f) = plan(other) {
                let _ = table.claim(other.name(), &f);
            }
        }
        table.claim(v.name(), &plan(v)?)
    }

    #[test]
    fn a_registered_holder_refuses_and_a_gone_one_does_not() {
        let mut claims = NameClaims::default();
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
        let mut claims = NameClaims::default();
        let a = view("app/requests", Aggregation::Sum);
        let b = view("app.requests", Aggregation::Count);
        let clash = check(&mut claims, &b, std::slice::from_ref(&a));
        assert!(clash.is_err_and(|e| e.contains("app/requests")));
    }

    #[test]
    fn a_list_that_lost_a_view_is_read_again() {
        let mut claims = NameClaims::default();
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
        // The full table claims every registered view in order: `x_sum`
        // (a gauge) first, so the histogram `x`, which also wants `x_sum`,
        // holds nothing, and `x_count` is free.
        let mut claims = NameClaims::default();
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
    fn verdicts_match_the_full_table_as_the_list_changes() {
        // Registered before the exporter, so they may clash among
        // themselves: "x" takes x and x_total, and the gauge "x_total",
        // registered after it, holds no name in the full table.
        let mut registered = vec![
            view("x", Aggregation::Sum),
            view("x_total", Aggregation::LastValue),
            view("h", Aggregation::distribution([1.0]).expect("bounds")),
            view("g", Aggregation::LastValue),
            // Loses a_total to "a", so a_total_sum stays free: only the
            // views connected through a_total show it.
            view("a", Aggregation::Sum),
            view("a_total", Aggregation::distribution([1.0]).expect("bounds")),
        ];
        let own = [
            view("own", Aggregation::Sum),
            view("h_sum", Aggregation::Sum),
            // Claimed first, so the histogram holds none of its names, and
            // q_count is free: only the own views connected through q_sum
            // show it.
            view("q_sum", Aggregation::LastValue),
            view("q", Aggregation::distribution([1.0]).expect("bounds")),
        ];
        let candidates = [
            view("x_total", Aggregation::Count),
            view("x.total", Aggregation::LastValue),
            view("h_count", Aggregation::LastValue),
            view("h.bucket", Aggregation::Sum),
            view("g", Aggregation::Sum),
            view("g_total", Aggregation::Sum),
            view("fresh", Aggregation::Sum),
            view("x", Aggregation::LastValue),
            view("a_total_sum", Aggregation::LastValue),
            view("a.total.bucket", Aggregation::LastValue),
            view("own_total", Aggregation::LastValue),
            view("own", Aggregation::LastValue),
            view("q_count", Aggregation::LastValue),
            view("q.sum", Aggregation::LastValue),
        ];
        let mut claims = NameClaims::default();
        for step in 0..6 {
            for c in &candidates {
                assert_eq!(
                    claims.check(c, &registered, &own, plan),
                    full_table(c, &registered, &own),
                    "step {step}, view {}",
                    c.name()
                );
            }
            // An exporter registered after the views checks each of them.
            for r in registered.clone() {
                assert_eq!(
                    claims.check(&r, &registered, &own, plan),
                    full_table(&r, &registered, &own),
                    "step {step}, registered view {}",
                    r.name()
                );
            }
            match step {
                0 => registered.push(view("g_total", Aggregation::Sum)),
                1 => {
                    registered.remove(0);
                }
                2 => {
                    // Unregistered from the middle, then registered again:
                    // the same view, now last.
                    let h = registered.remove(1);
                    registered.push(h);
                }
                3 => registered.reverse(),
                _ => registered.truncate(2),
            }
        }
    }

    #[test]
    fn own_views_count_even_under_the_new_views_name() {
        // Never registered, so the manager never compares names with them.
        let own = [view("census/sent", Aggregation::Sum)];
        let mut claims = NameClaims::default();
        for name in ["census.sent", "census/sent"] {
            let v = view(name, Aggregation::LastValue);
            let verdict = claims.check(&v, &[], &own, plan);
            assert!(
                verdict
                    .as_ref()
                    .is_err_and(|e| e.contains("\"census/sent\"")),
                "{name}: {verdict:?}"
            );
        }
    }

    #[test]
    fn each_view_is_planned_once_and_an_unregistration_plans_none() {
        let plans = Cell::new(0);
        let counting = |v: &View| {
            plans.set(plans.get() + 1);
            plan(v)
        };
        let mut claims = NameClaims::default();
        let mut registered: Vec<View> = Vec::new();
        for i in 0..100 {
            let v = view(&format!("app/v{i}"), Aggregation::Sum);
            assert_eq!(claims.check(&v, &registered, [], counting), Ok(()));
            registered.push(v);
        }
        // When checked; listed next, it is the view checked last.
        assert_eq!(plans.get(), 100);
        registered.remove(50);
        let v = view("app/v50", Aggregation::Sum);
        plans.set(0);
        assert_eq!(claims.check(&v, &registered, [], counting), Ok(()));
        assert_eq!(plans.get(), 1, "only the new view is planned");
        // Its names were freed, and the later views still hold theirs.
        let late = view("app.v99", Aggregation::Count);
        let clash = claims.check(&late, &registered, [], counting);
        assert!(clash.is_err_and(|e| e.contains("\"app/v99\"")));
    }

    #[test]
    fn views_no_longer_registered_are_not_kept() {
        let mut claims = NameClaims::default();
        let registered: Vec<View> = (0..100)
            .map(|i| view(&format!("app/v{i}"), Aggregation::Sum))
            .collect();
        assert_eq!(
            check(&mut claims, &view("new", Aggregation::Sum), &registered),
            Ok(())
        );
        assert_eq!(claims.registered.views.len(), 100);
        for i in 0..1_000 {
            let v = view(&format!("app/w{i}"), Aggregation::Sum);
            assert_eq!(check(&mut claims, &v, &registered[..10]), Ok(()));
        }
        // Neither refused views nor unregistered ones stay.
        assert_eq!(claims.registered.views.len(), 10);
        assert_eq!(claims.registered.holders.len(), 2 * 10);
    }
}
