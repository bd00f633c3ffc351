//! The Prometheus metric family a view becomes, and the rules that keep two
//! families from clashing.

use std::collections::HashMap;

use census_core::{Aggregation, View};

use crate::names::{label_name, label_problem, metric_name};

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// From Count and Sum views.
    Counter,
    /// From LastValue and UpDownSum views: a sum that may go down is a
    /// gauge to Prometheus, whose `rate()` reads a counter's decrease as
    /// a reset.
    Gauge,
    /// From Distribution views.
    Histogram,
}

impl Kind {
    /// The type a view of `aggregation` becomes.
    pub fn of(aggregation: &Aggregation) -> Kind {
        match aggregation {
            Aggregation::Count | Aggregation::Sum => Kind::Counter,
            Aggregation::LastValue | Aggregation::UpDownSum => Kind::Gauge,
            Aggregation::Distribution(_) => Kind::Histogram,
        }
    }

    /// The type as `# TYPE` lines spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// How one view appears in Prometheus, whichever way it gets there.
#[derive(Debug, Clone)]
pub struct Family {
    /// The family name as OpenMetrics spells it: for a counter, without
    /// the `_total` its sample carries.
    pub name: String,
    /// The family's type.
    pub kind: Kind,
    /// One label name per tag key, in the view's key order.
    pub labels: Vec<String>,
}

impl Family {
    /// Plans the family of `view`.
    ///
    /// # Errors
    ///
    /// A message naming the view and what to change, when two tag keys
    /// become one label name, or a key becomes a reserved label or one of
    /// `const_labels`.
    pub fn plan(
        view: &View,
        namespace: &str,
        const_labels: &[(String, String)],
    ) -> Result<Family, String> {
        let kind = Kind::of(view.aggregation());
        let mut name = metric_name(namespace, view.name());
        if kind == Kind::Counter {
            // A view already named `..._total` keeps a single suffix.
            if let Some(base) = name.strip_suffix("_total") {
                name.truncate(base.len());
            }
        }
        let mut labels: Vec<String> = Vec::with_capacity(view.tag_keys().len());
        for key in view.tag_keys() {
            let label = label_name(key.name());
            let view_name = view.name();
            if let Some(problem) = label_problem(&label) {
                return Err(format!(
                    "tag key {:?} of view {view_name:?} becomes Prometheus label {label:?}: \
                     {problem}; rename the tag key",
                    key.name()
                ));
            }
            if let Some(j) = labels.iter().position(|l| *l == label) {
                return Err(format!(
                    "tag keys {:?} and {:?} of view {view_name:?} both become Prometheus label \
                     {label:?}; rename one of them",
                    view.tag_keys()[j].name(),
                    key.name()
                ));
            }
            if const_labels.iter().any(|(n, _)| *n == label) {
                return Err(format!(
                    "tag key {:?} of view {view_name:?} becomes Prometheus label {label:?}, \
                     which is also a constant label of the exporter; rename the tag key or \
                     drop the constant label",
                    key.name()
                ));
            }
            labels.push(label);
        }
        Ok(Family { name, kind, labels })
    }

    /// The family name in the Prometheus text format, where a counter's
    /// family is named like its sample.
    pub fn text_name(&self) -> String {
        match self.kind {
            Kind::Counter => format!("{}_total", self.name),
            Kind::Gauge | Kind::Histogram => self.name.clone(),
        }
    }

    /// Every name the family occupies in either format: its family names
    /// and its sample names. Two families clash when these overlap.
    pub fn occupied_names(&self) -> Vec<String> {
        let n = &self.name;
        match self.kind {
            Kind::Counter => vec![n.clone(), format!("{n}_total")],
            Kind::Gauge => vec![n.clone()],
            Kind::Histogram => vec![
                n.clone(),
                format!("{n}_bucket"),
                format!("{n}_sum"),
                format!("{n}_count"),
            ],
        }
    }
}

/// The names already taken in one exposition, and by which view.
#[derive(Debug, Default)]
pub struct NameTable {
    owners: HashMap<String, String>,
}

impl NameTable {
    /// Claims every name of `family` for `view`.
    ///
    /// # Errors
    ///
    /// A message naming both views when another view already holds one of
    /// the names; nothing is claimed then.
    pub fn claim(&mut self, view: &str, family: &Family) -> Result<(), String> {
        let names = family.occupied_names();
        if let Some((taken, owner)) = names
            .iter()
            .find_map(|n| self.owners.get(n).map(|owner| (n, owner)))
        {
            return Err(format!(
                "views {owner:?} and {view:?} would both export Prometheus metric {taken:?} \
                 (view {view:?} becomes {} {:?}); rename one of them",
                family.kind.as_str(),
                family.text_name(),
            ));
        }
        for n in names {
            self.owners.insert(n, view.to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{MeasureF64, TagKey};

    fn view(name: &str, keys: &[&str], aggregation: Aggregation) -> View {
        let m = MeasureF64::new("m", "a measure", "1").expect("valid measure");
        let keys: Vec<TagKey> = keys
            .iter()
            .map(|k| TagKey::new(*k).expect("valid key"))
            .collect();
        View::builder(name, &m)
            .tag_keys(keys)
            .aggregation(aggregation)
            .build()
            .expect("valid view")
    }

    fn plan(v: &View) -> Result<Family, String> {
        Family::plan(v, "ns", &[("service".into(), "x".into())])
    }

    #[test]
    fn counters_carry_one_total_suffix() -> Result<(), String> {
        let f = plan(&view("req", &[], Aggregation::Count))?;
        assert_eq!(
            (f.name.as_str(), f.text_name()),
            ("ns_req", "ns_req_total".into())
        );
        let f = plan(&view("req_total", &[], Aggregation::Sum))?;
        assert_eq!(
            (f.name.as_str(), f.text_name()),
            ("ns_req", "ns_req_total".into())
        );
        let f = plan(&view("busy_total", &[], Aggregation::LastValue))?;
        assert_eq!(f.text_name(), "ns_busy_total");
        let f = plan(&view("in_flight", &[], Aggregation::UpDownSum))?;
        assert_eq!(
            (f.kind, f.text_name()),
            (Kind::Gauge, "ns_in_flight".into())
        );
        Ok(())
    }

    #[test]
    fn label_clashes_inside_a_view_are_refused_naming_both_keys() {
        let err = plan(&view("v", &["a.b", "a-b"], Aggregation::Count)).unwrap_err();
        assert!(err.contains("\"a.b\"") && err.contains("\"a-b\""), "{err}");
        assert!(err.contains("\"a_b\""), "{err}");
        for key in ["le", "quantile", "census_overflow", "__name__", "service"] {
            let err = plan(&view("v", &[key], Aggregation::Sum)).unwrap_err();
            assert!(err.contains(&format!("{key:?}")), "{key}: {err}");
        }
    }

    #[test]
    fn families_clash_on_any_shared_family_or_sample_name() -> Result<(), String> {
        let cases = [
            (
                view("a.b", &[], Aggregation::Count),
                view("a/b", &[], Aggregation::Sum),
                true,
            ),
            (
                view("x", &[], Aggregation::Count),
                view("x_total", &[], Aggregation::Count),
                true,
            ),
            (
                view("x", &[], Aggregation::Count),
                view("x", &[], Aggregation::LastValue),
                true,
            ),
            (
                view(
                    "h",
                    &[],
                    Aggregation::Distribution(
                        census_core::Bounds::new([1.0]).map_err(|e| e.to_string())?,
                    ),
                ),
                view("h_sum", &[], Aggregation::LastValue),
                true,
            ),
            (
                view("x", &[], Aggregation::LastValue),
                view("y", &[], Aggregation::LastValue),
                false,
            ),
            (
                view("x", &[], Aggregation::LastValue),
                view("x_bucket", &[], Aggregation::Count),
                false,
            ),
        ];
        for (first, second, clash) in cases {
            let mut table = NameTable::default();
            table.claim(first.name(), &plan(&first)?)?;
            let got = table.claim(second.name(), &plan(&second)?);
            assert_eq!(
                got.is_err(),
                clash,
                "{} vs {}: {got:?}",
                first.name(),
                second.name()
            );
            if let Err(msg) = got {
                assert!(msg.contains(&format!("{:?}", first.name())), "{msg}");
                assert!(msg.contains(&format!("{:?}", second.name())), "{msg}");
            }
        }
        Ok(())
    }
}
