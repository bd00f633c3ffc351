//! Turning census names into Prometheus metric and label names.

/// Label names the exporter writes itself, or that Prometheus gives a
/// meaning of its own: `le` (histogram buckets), `quantile` (summaries;
/// promtool flags it on any other type) and `census_overflow` (the overflow
/// row). A tag key or constant label becoming one of them is refused.
pub const RESERVED_LABELS: [&str; 3] = ["le", "quantile", OVERFLOW_LABEL];

/// The label that marks a view's overflow row.
pub const OVERFLOW_LABEL: &str = "census_overflow";

/// The metric name of a view: the namespace, `_`, then the view name with
/// every character outside `[a-zA-Z0-9_]` replaced by `_`.
///
/// Colons are replaced too although Prometheus allows them in metric names:
/// its documentation reserves them for recording rules, and promtool flags
/// an exposed name that has one. A name that would start with a digit gets
/// a leading `_`.
pub fn metric_name(namespace: &str, view_name: &str) -> String {
    let mut name = String::with_capacity(namespace.len() + 1 + view_name.len());
    if !namespace.is_empty() {
        name.push_str(namespace);
        name.push('_');
    }
    push_sanitised(&mut name, view_name);
    name
}

/// The label name of a tag key: every character outside `[a-zA-Z0-9_]`
/// replaced by `_`, and a leading `_` added before a leading digit.
pub fn label_name(key: &str) -> String {
    let mut name = String::with_capacity(key.len() + 1);
    push_sanitised(&mut name, key);
    name
}

fn push_sanitised(out: &mut String, text: &str) {
    if out.is_empty() && text.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(text.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
}

/// Whether `name` is a label name Prometheus accepts as written:
/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why a (sanitised) label name cannot be used, if it cannot.
pub fn label_problem(name: &str) -> Option<String> {
    if name.starts_with("__") {
        return Some(format!(
            "label names starting with \"__\" are reserved for Prometheus's own use; \
             {name:?} cannot be used"
        ));
    }
    if RESERVED_LABELS.contains(&name) {
        let meaning = match name {
            "le" => "Prometheus reserves it for histogram bucket bounds",
            "quantile" => "Prometheus reserves it for summary quantiles",
            _ => "this exporter uses it to mark a view's overflow row",
        };
        return Some(format!("label {name:?} cannot be used: {meaning}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_replace_every_character_outside_the_alphabet() {
        assert_eq!(metric_name("", "demo/latency"), "demo_latency");
        assert_eq!(metric_name("myapp", "demo/latency"), "myapp_demo_latency");
        assert_eq!(metric_name("", "a.b-c:d~e"), "a_b_c_d_e");
        assert_eq!(metric_name("", "http_requests"), "http_requests");
        assert_eq!(metric_name("", "CamelCase9"), "CamelCase9");
    }

    #[test]
    fn a_leading_digit_is_guarded_only_without_namespace() {
        assert_eq!(metric_name("", "9lives"), "_9lives");
        assert_eq!(metric_name("ns", "9lives"), "ns_9lives");
        assert_eq!(label_name("1st"), "_1st");
        assert_eq!(label_name("http.method"), "http_method");
    }

    #[test]
    fn label_names_are_checked_against_the_prometheus_alphabet() {
        assert!(is_label_name("service"));
        assert!(is_label_name("_x1"));
        assert!(!is_label_name(""));
        assert!(!is_label_name("1x"));
        assert!(!is_label_name("a-b"));
        assert!(!is_label_name("a:b"));
        for name in ["le", "quantile", "census_overflow", "__name__", "__x"] {
            assert!(label_problem(name).is_some(), "{name}");
        }
        assert_eq!(label_problem("method"), None);
        assert_eq!(label_problem("_method"), None);
    }
}
