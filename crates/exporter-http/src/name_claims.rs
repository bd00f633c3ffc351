//! Which registered views hold which Prometheus names, kept between remote
//! write's `check_view` calls, so that registering n views plans each view
//! once instead of every registered view at every registration (O(n²):
//! 10,000 views took over three minutes in a debug build).
//!
//! The verdict is the one a table of every registered view would give,
//! claimed in registration order and then the exporter's own views: views
//! only clash through shared names, so the table is built from the views
//! connected to the new view's names, and the shared `NameTable` decides
//! and words the clash.

use std::collections::{BTreeSet, HashMap};

use census_core::View;
use census_prometheus_model::{Family, NameTable};

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct NameClaims {
    /// The registered list last seen, in order, each view with its family
    /// (`None` when it cannot be planned: it holds no name).
    seen: Vec<(View, Option<Family>)>,
    /// Each occupied name, and the positions in `seen` of the views
    /// planned with it.
    holders: HashMap<String, Vec<usize>>,
}

impl NameClaims {
    /// Whether `view`, planned as `family`, may join `registered` and the
    /// exporter's `own` views: `Err` naming the clash when another view
    /// already exports one of its names. A registered view of the same
    /// name is the manager's to judge (or `view` itself, when an exporter
    /// checks the views registered before it) and is left out.
    pub(crate) fn check(
        &mut self,
        view: &View,
        family: &Family,
        registered: &[View],
        own: &[(View, Family)],
        plan: impl Fn(&View) -> Option<Family>,
    ) -> Result<(), String> {
        self.catch_up(registered, &plan);
        // Every registered view connected to the new view's names through
        // shared names: a view that clashed with an earlier one holds none
        // of its names in the full table, which only its neighbours show.
        let mut bearing = BTreeSet::new();
        let mut names: Vec<String> = family.occupied_names();
        while let Some(name) = names.pop() {
            for &at in self.holders.get(&name).into_iter().flatten() {
                let Some((other, Some(other_family))) = self.seen.get(at) else {
                    continue;
                };
                if other.name() != view.name() && bearing.insert(at) {
                    names.extend(other_family.occupied_names());
                }
            }
        }
        let mut table = NameTable::default();
        for at in bearing {
            if let Some((other, Some(other_family))) = self.seen.get(at) {
                let _ = table.claim(other.name(), other_family);
            }
        }
        for (other, other_family) in own {
            if other.name() != view.name() {
                let _ = table.claim(other.name(), other_family);
            }
        }
        table.claim(view.name(), family)
    }

    /// Plans the views of `registered` not seen yet: usually the one
    /// registered since the last check. A list that changed otherwise (a
    /// view unregistered, another manager's list) is planned afresh.
    fn catch_up(&mut self, registered: &[View], plan: &impl Fn(&View) -> Option<Family>) {
        // Views are shared `Arc`s, so for an unchanged prefix each
        // comparison is a pointer comparison.
        let unchanged = self.seen.len() <= registered.len()
            && self.seen.iter().zip(registered).all(|((a, _), b)| a == b);
        if !unchanged {
            self.seen.clear();
            self.holders.clear();
        }
        for view in registered.iter().skip(self.seen.len()) {
            let family = plan(view);
            let at = self.seen.len();
            for name in family.iter().flat_map(Family::occupied_names) {
                self.holders.entry(name).or_default().push(at);
            }
            self.seen.push((view.clone(), family));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{Aggregation, MeasureI64};

    fn view(name: &str, aggregation: Aggregation) -> View {
        let m = MeasureI64::new("m", "", "1").expect("measure");
        View::builder(name, &m)
            .aggregation(aggregation)
            .build()
            .expect("view")
    }

    fn plan(v: &View) -> Option<Family> {
        Family::plan(v, "", &[]).ok()
    }

    /// The verdict of the table of every registered view, as the check
    /// was before it kept anything.
    fn full_table(v: &View, registered: &[View]) -> Result<(), String> {
        let mut table = NameTable::default();
        for other in registered.iter().filter(|o| o.name() != v.name()) {
            if let Some(f) = plan(other) {
                let _ = table.claim(other.name(), &f);
            }
        }
        plan(v).map_or(Ok(()), |f| table.claim(v.name(), &f))
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
        ];
        let mut claims = NameClaims::default();
        for step in 0..3 {
            for c in &candidates {
                let family = plan(c).expect("plans");
                assert_eq!(
                    claims.check(c, &family, &registered, &[], plan),
                    full_table(c, &registered),
                    "step {step}, view {}",
                    c.name()
                );
            }
            // An exporter registered after the views checks each of them.
            for r in registered.clone() {
                let family = plan(&r).expect("plans");
                assert_eq!(
                    claims.check(&r, &family, &registered, &[], plan),
                    full_table(&r, &registered),
                    "step {step}, registered view {}",
                    r.name()
                );
            }
            match step {
                0 => registered.push(view("g_total", Aggregation::Sum)),
                _ => {
                    registered.remove(0);
                }
            }
        }
    }

    #[test]
    fn own_views_count_after_the_registered_ones() {
        let own_view = view("census/sent", Aggregation::Sum);
        let own = [(own_view.clone(), plan(&own_view).expect("plans"))];
        let mut claims = NameClaims::default();
        let clash = view("census.sent", Aggregation::LastValue);
        let family = plan(&clash).expect("plans");
        let verdict = claims.check(&clash, &family, &[], &own, plan);
        assert!(
            verdict.as_ref().is_err_and(|e| e.contains("census/sent")),
            "{verdict:?}"
        );
    }
}
