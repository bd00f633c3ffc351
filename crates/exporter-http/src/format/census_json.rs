//! census's own JSON schema, `census.v1` (documented with an example in
//! docs/http-exporter.md): the schema name and the resource around the
//! views, each written in census-core's one JSON shape of `ViewData`.

use census_core::ViewData;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// The schema name; bumped whenever a field changes meaning or goes away
/// (new fields may be added within a version).
pub(super) const SCHEMA: &str = "census.v1";

pub(super) struct Body<'a> {
    pub(super) resource: &'a [(String, String)],
    pub(super) views: &'a [ViewData],
}

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("schema", SCHEMA)?;
        m.serialize_entry("resource", &Pairs(self.resource))?;
        m.serialize_entry("views", self.views)?;
        m.end()
    }
}

struct Pairs<'a>(&'a [(String, String)]);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use census_core::{Aggregation, AggregationData, MeasureI64, Number, Row, View};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn body_wraps_the_views_in_the_schema_and_resource() -> Result<(), Box<dyn std::error::Error>> {
        let req = MeasureI64::new("demo/requests", "requests", "1")?;
        let sum = View::builder("demo/requests_sum", &req)
            .aggregation(Aggregation::Sum)
            .build()?;
        let start = UNIX_EPOCH + Duration::from_secs(1);
        let batch = [ViewData::new(
            sum,
            start,
            start,
            vec![Row::new(
                vec![],
                AggregationData::Sum(Number::Int(i64::MAX)),
                start,
            )],
        )];
        let resource = vec![("service.name".to_owned(), "svc".to_owned())];
        let body = serde_json::to_value(Body {
            resource: &resource,
            views: &batch,
        })?;
        assert_eq!(body["schema"], "census.v1");
        assert_eq!(body["resource"]["service.name"], "svc");
        // Each view is census-core's JSON of ViewData, unchanged.
        assert_eq!(body["views"][0], serde_json::to_value(&batch[0])?);
        assert_eq!(body["views"][0]["rows"][0]["sum"], "9223372036854775807");
        Ok(())
    }
}
