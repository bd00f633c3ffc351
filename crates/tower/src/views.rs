//! The standard views: their names, tag keys, units and bucket bounds, as
//! OpenTelemetry's HTTP semantic conventions give them.

use census_core::{Aggregation, Error, MeasureF64, MeasureI64, TagKey, View};

/// The view counting completed requests. OpenTelemetry derives this count
/// from the duration histogram; census keeps it as a view of its own, as
/// OpenCensus' HTTP plugin did, so a Prometheus scrape has a plain
/// `_total` counter to take a `rate()` of.
pub const REQUESTS_VIEW: &str = "http.server.requests";

/// The view of request durations, in seconds
/// (`http.server.request.duration`).
pub const DURATION_VIEW: &str = "http.server.request.duration";

/// The view of requests being served (`http.server.active_requests`): an
/// up-down sum of +1 when a request starts and -1 when it ends, a gauge in
/// Prometheus.
pub const ACTIVE_REQUESTS_VIEW: &str = "http.server.active_requests";

/// The view of request body sizes, in bytes
/// (`http.server.request.body.size`).
pub const REQUEST_BODY_SIZE_VIEW: &str = "http.server.request.body.size";

/// The view of response body sizes, in bytes
/// (`http.server.response.body.size`).
pub const RESPONSE_BODY_SIZE_VIEW: &str = "http.server.response.body.size";

/// The tag key of the request method: one of the nine methods of RFC 9110
/// and RFC 5789, or [`OTHER_METHOD`].
pub const METHOD_KEY: &str = "http.request.method";

/// The tag key of the matched route template, such as `/users/{id}`.
pub const ROUTE_KEY: &str = "http.route";

/// The tag key of the response status code, such as `404`.
pub const STATUS_KEY: &str = "http.response.status_code";

/// The method value of every request whose method is not one of the nine
/// known ones, so that invented methods cannot add rows.
pub const OTHER_METHOD: &str = "_OTHER";

/// The bucket bounds of the duration view, in seconds: those OpenTelemetry
/// advises for `http.server.request.duration`.
pub const DURATION_BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The bucket bounds of the body size views, in bytes: empty, then powers
/// of four from 64 B to 1 GiB. OpenTelemetry advises none for body sizes;
/// these tell empty bodies, small JSON answers, typical payloads and large
/// uploads apart with 15 buckets.
pub const BODY_SIZE_BOUNDS: [f64; 14] = [
    0.0,
    64.0,
    256.0,
    1024.0,
    4096.0,
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
    268_435_456.0,
    1_073_741_824.0,
];

/// The measures the layer records and the keys it records them under.
#[derive(Debug)]
pub(crate) struct Measures {
    pub(crate) duration: MeasureF64,
    pub(crate) active: MeasureI64,
    pub(crate) request_size: MeasureI64,
    pub(crate) response_size: MeasureI64,
    pub(crate) method: TagKey,
    pub(crate) route: TagKey,
    pub(crate) status: TagKey,
}

impl Measures {
    /// The measures, named after the views with `prefix` in front.
    pub(crate) fn new(prefix: &str) -> Result<Measures, Error> {
        Ok(Measures {
            duration: MeasureF64::new(
                format!("{prefix}{DURATION_VIEW}"),
                "Duration of HTTP server requests.",
                "s",
            )?,
            active: MeasureI64::new(
                format!("{prefix}{ACTIVE_REQUESTS_VIEW}"),
                "Number of active HTTP server requests.",
                "{request}",
            )?,
            request_size: MeasureI64::new(
                format!("{prefix}{REQUEST_BODY_SIZE_VIEW}"),
                "Size of HTTP server request bodies.",
                "By",
            )?,
            response_size: MeasureI64::new(
                format!("{prefix}{RESPONSE_BODY_SIZE_VIEW}"),
                "Size of HTTP server response bodies.",
                "By",
            )?,
            method: TagKey::new(METHOD_KEY)?,
            route: TagKey::new(ROUTE_KEY)?,
            status: TagKey::new(STATUS_KEY)?,
        })
    }

    /// The five standard views, named with `prefix` in front.
    pub(crate) fn views(&self, prefix: &str) -> Result<Vec<View>, Error> {
        let done = [self.method.clone(), self.route.clone(), self.status.clone()];
        Ok(vec![
            View::builder(format!("{prefix}{REQUESTS_VIEW}"), &self.duration)
                .description("Number of HTTP server requests completed.")
                .tag_keys(done.clone())
                .aggregation(Aggregation::Count)
                .build()?,
            View::builder(format!("{prefix}{DURATION_VIEW}"), &self.duration)
                .description("Duration of HTTP server requests, in seconds.")
                .tag_keys(done.clone())
                .aggregation(Aggregation::distribution(DURATION_BOUNDS)?)
                .build()?,
            View::builder(format!("{prefix}{ACTIVE_REQUESTS_VIEW}"), &self.active)
                .description("Number of active HTTP server requests.")
                .tag_keys([self.method.clone(), self.route.clone()])
                .aggregation(Aggregation::UpDownSum)
                .build()?,
            View::builder(
                format!("{prefix}{REQUEST_BODY_SIZE_VIEW}"),
                &self.request_size,
            )
            .description("Size of HTTP server request bodies, in bytes, where known.")
            .tag_keys(done.clone())
            .aggregation(Aggregation::distribution(BODY_SIZE_BOUNDS)?)
            .build()?,
            View::builder(
                format!("{prefix}{RESPONSE_BODY_SIZE_VIEW}"),
                &self.response_size,
            )
            .description("Size of HTTP server response bodies, in bytes, where known.")
            .tag_keys(done)
            .aggregation(Aggregation::distribution(BODY_SIZE_BOUNDS)?)
            .build()?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_takes_the_prefix_and_builds() -> Result<(), Error> {
        let measures = Measures::new("shop.")?;
        let names: Vec<String> = measures
            .views("shop.")?
            .iter()
            .map(|v| v.name().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "shop.http.server.requests",
                "shop.http.server.request.duration",
                "shop.http.server.active_requests",
                "shop.http.server.request.body.size",
                "shop.http.server.response.body.size",
            ]
        );
        Ok(())
    }

    #[test]
    fn a_prefix_with_a_space_is_refused_naming_it() {
        let err = Measures::new("my app/").map(|_| ()).err();
        assert!(
            matches!(&err, Some(Error::InvalidMeasureName { name, .. }) if name.starts_with("my app/")),
            "{err:?}"
        );
    }
}
