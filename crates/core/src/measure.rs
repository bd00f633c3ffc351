//! Measures: the named, typed quantities a service records.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::error::Error;
use crate::name::check_name;
use crate::view_data::Number;

/// Whether a measure records integers or floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasureType {
    /// Values are `i64`; sums and last values stay exact integers.
    Int64,
    /// Values are `f64`.
    Float64,
}

impl fmt::Display for MeasureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MeasureType::Int64 => "int64",
            MeasureType::Float64 => "float64",
        })
    }
}

/// The definition of a measure, whatever its type: what views and exporters
/// see.
///
/// Get one from a typed measure with `as_ref()`. Cloning copies a pointer.
/// Two measures are equal when name, description, unit and type are equal.
#[derive(Clone)]
pub struct Measure(Arc<MeasureDef>);

#[derive(PartialEq, Eq, Hash)]
struct MeasureDef {
    name: String,
    description: String,
    unit: String,
    measure_type: MeasureType,
}

impl Measure {
    fn new(
        name: String,
        description: String,
        unit: String,
        measure_type: MeasureType,
    ) -> Result<Measure, Error> {
        if let Err(reason) = check_name(&name) {
            return Err(Error::InvalidMeasureName { name, reason });
        }
        Ok(Measure(Arc::new(MeasureDef {
            name,
            description,
            unit,
            measure_type,
        })))
    }

    /// The measure's name, such as `demo/latency`.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// What the measure measures, for people.
    pub fn description(&self) -> &str {
        &self.0.description
    }

    /// The unit values are in, such as `ms`, `By` or `1` (UCUM spelling, as
    /// OpenCensus uses).
    pub fn unit(&self) -> &str {
        &self.0.unit
    }

    /// Whether values are integers or floats.
    pub fn measure_type(&self) -> MeasureType {
        self.0.measure_type
    }

    /// Whether two handles are one measure, comparing pointers before the
    /// definition: handles are usually clones of one another.
    #[inline]
    pub fn same_as(&self, other: &Measure) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl PartialEq for Measure {
    fn eq(&self, other: &Measure) -> bool {
        self.same_as(other)
    }
}

impl Eq for Measure {}

impl std::hash::Hash for Measure {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

impl fmt::Debug for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Measure")
            .field("name", &self.0.name)
            .field("description", &self.0.description)
            .field("unit", &self.0.unit)
            .field("type", &self.0.measure_type)
            .finish()
    }
}

impl Serialize for Measure {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Measure", 4)?;
        st.serialize_field("name", &self.0.name)?;
        st.serialize_field("description", &self.0.description)?;
        st.serialize_field("unit", &self.0.unit)?;
        st.serialize_field("type", &self.0.measure_type)?;
        st.end()
    }
}

impl AsRef<Measure> for Measure {
    fn as_ref(&self) -> &Measure {
        self
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A measure that knows the Rust type of its values: [`MeasureI64`] or
/// [`MeasureF64`]. It lets `MeasurementMap::put` accept `1` for one and
/// `12.5` for the other with no casts. Sealed: census defines both.
pub trait TypedMeasure: AsRef<Measure> + sealed::Sealed {
    /// The type of the values this measure records.
    type Value: Copy;

    /// Turns a value into a [`Number`].
    fn number(value: Self::Value) -> Number;
}

macro_rules! typed_measure {
    ($(#[$doc:meta])* $name:ident, $value:ty, $kind:ident, $variant:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(Measure);

        impl $name {
            /// Makes a measure.
            ///
            /// Making the same measure twice gives equal handles. Two
            /// measures that share a name but differ in type or unit are
            /// refused when a view over the second one is registered in a
            /// manager that already uses the first
            /// ([`Error::MeasureConflict`]).
            ///
            /// # Errors
            ///
            /// [`Error::InvalidMeasureName`] unless the name is 1 to 255 bytes
            /// of printable ASCII without spaces (`'!'` to `'~'`).
            pub fn new(
                name: impl Into<String>,
                description: impl Into<String>,
                unit: impl Into<String>,
            ) -> Result<$name, Error> {
                Measure::new(
                    name.into(),
                    description.into(),
                    unit.into(),
                    MeasureType::$kind,
                )
                .map($name)
            }

            /// The measure's name.
            pub fn name(&self) -> &str {
                self.0.name()
            }

            /// The measure's definition.
            pub fn measure(&self) -> &Measure {
                &self.0
            }
        }

        impl AsRef<Measure> for $name {
            fn as_ref(&self) -> &Measure {
                &self.0
            }
        }

        impl sealed::Sealed for $name {}

        impl TypedMeasure for $name {
            type Value = $value;

            #[inline]
            fn number(value: $value) -> Number {
                Number::$variant(value)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    };
}

typed_measure!(
    /// A measure of `i64` values, such as request counts or bytes.
    ///
    /// ```
    /// # fn main() -> Result<(), census_core::Error> {
    /// let requests = census_core::MeasureI64::new("demo/requests", "requests served", "1")?;
    /// assert_eq!(requests.name(), "demo/requests");
    /// # Ok(()) }
    /// ```
    MeasureI64,
    i64,
    Int64,
    Int
);

typed_measure!(
    /// A measure of `f64` values, such as latencies.
    ///
    /// ```
    /// # fn main() -> Result<(), census_core::Error> {
    /// let latency = census_core::MeasureF64::new("demo/latency", "request latency", "ms")?;
    /// assert_eq!(latency.measure().unit(), "ms");
    /// # Ok(()) }
    /// ```
    MeasureF64,
    f64,
    Float64,
    Float
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidReason;

    #[test]
    fn same_definition_gives_equal_handles() -> Result<(), Error> {
        let a = MeasureF64::new("demo/latency", "latency", "ms")?;
        let b = MeasureF64::new("demo/latency", "latency", "ms")?;
        assert_eq!(a, b);
        let c = MeasureF64::new("demo/latency", "latency", "s")?;
        assert_ne!(a, c);
        let i = MeasureI64::new("demo/latency", "latency", "ms")?;
        assert_ne!(a.as_ref(), i.as_ref());
        assert_eq!(i.measure().measure_type(), MeasureType::Int64);
        Ok(())
    }

    #[test]
    fn bad_names_are_refused_with_the_name() {
        assert_eq!(
            MeasureI64::new("", "", "1").unwrap_err(),
            Error::InvalidMeasureName {
                name: String::new(),
                reason: InvalidReason::Empty
            }
        );
        let err = MeasureF64::new("my latency", "", "ms").unwrap_err();
        assert!(err.to_string().contains("\"my latency\""), "{err}");
        assert!(MeasureF64::new("x".repeat(256), "", "ms").is_err());
        assert!(MeasureF64::new("x".repeat(255), "", "ms").is_ok());
        assert!(MeasureF64::new("lat\u{e9}ncia", "", "ms").is_err());
    }

    #[test]
    fn measures_are_send_sync_and_serialize() -> Result<(), Error> {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<MeasureI64>();
        assert_send_sync::<MeasureF64>();
        let m = MeasureI64::new("demo/requests", "requests", "1")?;
        let json = serde_json::to_string(m.measure()).map_err(|e| Error::InvalidConfig {
            what: "json".into(),
            value: String::new(),
            reason: e.to_string(),
        })?;
        assert_eq!(
            json,
            r#"{"name":"demo/requests","description":"requests","unit":"1","type":"int64"}"#
        );
        Ok(())
    }
}
