//! The two exposition formats and how a scrape picks one.

/// The `Content-Type` of the Prometheus text format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `Content-Type` of OpenMetrics 1.0 text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An exposition format the exporter can render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PrometheusFormat {
    /// The Prometheus text format, version 0.0.4: what every Prometheus
    /// version reads, and what a scrape gets unless it asks for OpenMetrics.
    Text,
    /// OpenMetrics 1.0 text: counter families named without `_total`, help
    /// text with `"` escaped, and a closing `# EOF`.
    OpenMetrics,
}

impl PrometheusFormat {
    /// The `Content-Type` header value for this format.
    pub fn content_type(self) -> &'static str {
        match self {
            PrometheusFormat::Text => TEXT_CONTENT_TYPE,
            PrometheusFormat::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }

    /// Picks the format for a request's `Accept` header.
    ///
    /// OpenMetrics is chosen when the header lists
    /// `application/openmetrics-text` (with no version, or version `1.0.0`
    /// or `0.0.1`) with a quality at least as high as any text format or
    /// wildcard it lists; anything else, including no header or a header
    /// naming neither, gets the text format, which every scraper reads.
    ///
    /// ```
    /// use census_exporter_prometheus::PrometheusFormat;
    /// // What Prometheus 2.x sends:
    /// let accept = "application/openmetrics-text;version=1.0.0,\
    ///               application/openmetrics-text;version=0.0.1;q=0.75,\
    ///               text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(PrometheusFormat::from_accept(Some(accept)), PrometheusFormat::OpenMetrics);
    /// assert_eq!(PrometheusFormat::from_accept(Some("text/plain")), PrometheusFormat::Text);
    /// assert_eq!(PrometheusFormat::from_accept(None), PrometheusFormat::Text);
    /// ```
    pub fn from_accept(accept: Option<&str>) -> PrometheusFormat {
        let Some(accept) = accept else {
            return PrometheusFormat::Text;
        };
        let (mut openmetrics, mut text) = (0.0_f32, 0.0_f32);
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let (mut quality, mut version) = (1.0_f32, None);
            for param in parts {
                let Some((key, value)) = param.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    // A malformed quality counts as 0: the client did not
                    // say it wants this type in a way we can rely on.
                    "q" => quality = value.parse().unwrap_or(0.0),
                    "version" => version = Some(value.to_owned()),
                    _ => {}
                }
            }
            match media.as_str() {
                "application/openmetrics-text"
                    if matches!(version.as_deref(), None | Some("1.0.0") | Some("0.0.1")) =>
                {
                    openmetrics = openmetrics.max(quality);
                }
                "text/plain" if matches!(version.as_deref(), None | Some("0.0.4")) => {
                    text = text.max(quality);
                }
                "*/*" | "text/*" => text = text.max(quality),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            PrometheusFormat::OpenMetrics
        } else {
            PrometheusFormat::Text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_pick_the_best_supported_format() {
        let cases = [
            (None, PrometheusFormat::Text),
            (Some(""), PrometheusFormat::Text),
            (Some("*/*"), PrometheusFormat::Text),
            (Some("application/json"), PrometheusFormat::Text),
            (
                Some("application/openmetrics-text"),
                PrometheusFormat::OpenMetrics,
            ),
            (
                Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
                PrometheusFormat::OpenMetrics,
            ),
            (
                Some("application/openmetrics-text;version=2.0.0"),
                PrometheusFormat::Text,
            ),
            (
                Some("application/openmetrics-text;q=0"),
                PrometheusFormat::Text,
            ),
            (
                Some("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"),
                PrometheusFormat::Text,
            ),
            (
                Some("text/plain;q=0.5,application/openmetrics-text;q=0.9"),
                PrometheusFormat::OpenMetrics,
            ),
            (
                Some("application/openmetrics-text;q=oops"),
                PrometheusFormat::Text,
            ),
            (
                Some("Application/OpenMetrics-Text"),
                PrometheusFormat::OpenMetrics,
            ),
        ];
        for (accept, want) in cases {
            assert_eq!(PrometheusFormat::from_accept(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn content_types_name_version_and_charset() {
        assert_eq!(
            PrometheusFormat::Text.content_type(),
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert_eq!(
            PrometheusFormat::OpenMetrics.content_type(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
    }
}
