//! Rebuilding a view with another name or other tag keys.

use census_core::{Error, TagKey, View};

/// `view` under `name` with `keys`, keeping its measure, description,
/// aggregation, row limit and expiry.
///
/// # Errors
///
/// What [`census_core::ViewBuilder::build`] returns: an invalid name or a
/// key listed twice.
pub(crate) fn reshape(view: &View, name: &str, keys: Vec<TagKey>) -> Result<View, Error> {
    let builder = View::builder(name, view.measure())
        .description(view.description())
        .tag_keys(keys)
        .aggregation(view.aggregation().clone())
        .row_limit(view.row_limit());
    match view.expire_after() {
        Some(after) => builder.expire_after(after),
        None => builder,
    }
    .build()
}
