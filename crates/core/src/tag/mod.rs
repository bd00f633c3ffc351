//! Tags: the dimensions a measurement is recorded under.
//!
//! A [`TagKey`] is a name made once (at start-up) and cheap to copy; a
//! [`TagValue`] is short text, usually request data, kept inline when it is
//! short; a [`TagMap`] holds one value per key and is built per request
//! without touching the heap.

mod key;
mod map;
mod value;

pub use key::TagKey;
pub use map::TagMap;
pub use value::TagValue;
