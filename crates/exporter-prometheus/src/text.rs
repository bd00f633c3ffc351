//! The escaping layer of the exposition formats: how label values and help
//! text are spelled (numbers are census-prometheus-model's).

/// Writes a label value with `\`, `"` and line feed escaped, as both
/// formats require inside the double quotes.
pub(crate) fn write_label_value(out: &mut String, value: &str) {
    // Tag values are usually plain; checking first lets them go in whole.
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
}

/// Writes help text. The Prometheus text format escapes only `\` and line
/// feed there; OpenMetrics escapes `"` too.
pub(crate) fn write_help(out: &mut String, help: &str, escape_quote: bool) {
    for ch in help.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if escape_quote => out.push_str("\\\""),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        let mut s = String::new();
        write_label_value(&mut s, "a\\b\"c\nd");
        assert_eq!(s, r#"a\\b\"c\nd"#);
        let mut s = String::new();
        write_label_value(&mut s, "plain value");
        assert_eq!(s, "plain value");
        let mut s = String::new();
        write_label_value(&mut s, "");
        assert_eq!(s, "");
    }

    #[test]
    fn help_escapes_quotes_only_for_openmetrics() {
        let mut text = String::new();
        write_help(&mut text, "say \"hi\"\\\n", false);
        assert_eq!(text, r#"say "hi"\\\n"#);
        let mut om = String::new();
        write_help(&mut om, "say \"hi\"\\\n", true);
        assert_eq!(om, r#"say \"hi\"\\\n"#);
    }
}
