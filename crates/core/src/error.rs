//! The errors census returns for bad input, and the error exporters return.

use std::fmt;

/// Why a name, tag key or tag value was refused.
///
/// Carried inside [`Error`] so a caller can react to the exact rule that
/// was broken; its `Display` says what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidReason {
    /// The text is empty, and this kind of text must not be.
    Empty,
    /// The text is longer than the 255-byte limit.
    TooLong {
        /// The length that was given, in bytes.
        len: usize,
    },
    /// The text holds a character outside the allowed range.
    BadChar {
        /// The refused character.
        ch: char,
        /// Its byte offset in the text.
        index: usize,
    },
}

/// The errors census returns when asked to do something it cannot.
///
/// Every variant carries the offending value, and its message says which
/// rule was broken and what to change.
///
/// ```
/// let err = census_core::TagKey::new("http method").unwrap_err();
/// assert!(err.to_string().contains("' '"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A measure name broke the name rules (see [`crate::MeasureI64::new`]).
    InvalidMeasureName {
        /// The name that was given.
        name: String,
        /// The rule it broke.
        reason: InvalidReason,
    },
    /// A view name broke the name rules (see [`crate::View::builder`]).
    InvalidViewName {
        /// The name that was given.
        name: String,
        /// The rule it broke.
        reason: InvalidReason,
    },
    /// A tag key broke the name rules (see [`crate::TagKey::new`]).
    InvalidTagKey {
        /// The key that was given.
        key: String,
        /// The rule it broke.
        reason: InvalidReason,
    },
    /// A tag value broke the value rules (see [`crate::TagValue::new`]).
    InvalidTagValue {
        /// The key the value was meant for, if known.
        key: Option<String>,
        /// The value that was given.
        value: String,
        /// The rule it broke.
        reason: InvalidReason,
    },
    /// Distribution bounds were not finite and strictly increasing.
    InvalidBounds {
        /// The bounds that were given.
        bounds: Vec<f64>,
        /// Index of the first offending bound.
        index: usize,
    },
    /// A distribution was given more bounds than [`crate::MAX_BOUNDS`].
    TooManyBounds {
        /// How many bounds were given.
        count: usize,
        /// The most allowed.
        max: usize,
    },
    /// A view lists the same tag key twice.
    DuplicateTagKey {
        /// The view's name.
        view: String,
        /// The repeated key.
        key: String,
    },
    /// A view was built without an aggregation.
    MissingAggregation {
        /// The view's name.
        view: String,
    },
    /// A view was built with a row limit of zero.
    InvalidRowLimit {
        /// The view's name.
        view: String,
    },
    /// A view was built with `expire_after` of zero, which would expire
    /// every row at once.
    InvalidExpiry {
        /// The view's name.
        view: String,
    },
    /// A different view, or any callback view (callbacks cannot be
    /// compared), is already registered under this name.
    ViewConflict {
        /// The contested view name.
        name: String,
    },
    /// A view's measure shares its name with a measure already in use in
    /// this manager but differs in type or unit.
    MeasureConflict {
        /// The measure name.
        name: String,
        /// The definition already in use, as `type, unit`.
        existing: String,
        /// The definition that was refused, as `type, unit`.
        refused: String,
    },
    /// No view of this name is registered.
    UnknownView {
        /// The name that was looked up.
        name: String,
    },
    /// A registered exporter refused the view (for example, its name would
    /// collide with another view's name in that exporter's output).
    ViewRejected {
        /// The refused view's name.
        view: String,
        /// What the exporter said.
        reason: String,
    },
    /// A view given to `register_callback` uses what only a recorded view
    /// can: a Distribution (a callback reports one number per row, and a
    /// histogram needs every value) or `expire_after` (a callback view's
    /// rows are those its latest call reported, so there is nothing to
    /// expire).
    UnsupportedCallbackView {
        /// The view's name.
        view: String,
        /// What the view uses that a callback cannot feed, and what to use
        /// instead.
        reason: String,
    },
    /// This exporter (the same value: the same `Arc`, or a handle whose
    /// [`Exporter::instance`](crate::Exporter::instance) says so) is
    /// already registered with this manager; a second registration would
    /// have it export every batch twice.
    ExporterAlreadyRegistered {
        /// The exporter's [`name`](crate::Exporter::name).
        exporter: String,
    },
    /// The manager has been shut down and no longer accepts this operation.
    ShutDown,
    /// A configuration value an exporter or processor was built with is unusable.
    InvalidConfig {
        /// What was configured (for example `namespace` or `url`).
        what: String,
        /// The value that was given.
        value: String,
        /// What is wrong with it and what would work.
        reason: String,
    },
}

impl fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidReason::Empty => f.write_str("it is empty"),
            InvalidReason::TooLong { len } => {
                write!(f, "it is {len} bytes long; the limit is 255 bytes")
            }
            InvalidReason::BadChar { ch, index } => {
                write!(f, "character {ch:?} at byte {index} is not allowed")
            }
        }
    }
}

/// Text from a caller, quoted for a message: whole up to `SHOWN_IN_FULL`
/// bytes (every valid name or value, and an invalid one near the limit),
/// else its first `SHOWN_PREFIX` bytes and an ellipsis, so that a
/// megabyte refused for its length does not become a megabyte in a log.
struct Quoted<'a>(&'a str);

const SHOWN_IN_FULL: usize = 300;
/// Bounds lists an `InvalidBounds` message prints whole.
const BOUNDS_SHOWN_IN_FULL: usize = 20;
const SHOWN_PREFIX: usize = 64;

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= SHOWN_IN_FULL {
            return write!(f, "{:?}", self.0);
        }
        let cut = (0..=SHOWN_PREFIX)
            .rev()
            .find(|&i| self.0.is_char_boundary(i))
            .unwrap_or(0);
        let prefix = self.0.get(..cut).unwrap_or_default();
        write!(f, "{prefix:?}... ({} bytes in all)", self.0.len())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAME_RULE: &str =
            "names are 1 to 255 bytes of printable ASCII without spaces ('!' to '~')";
        const VALUE_RULE: &str = "tag values are 0 to 255 bytes of printable ASCII (' ' to '~')";
        match self {
            Error::InvalidMeasureName { name, reason } => {
                let name = Quoted(name);
                write!(f, "invalid measure name {name}: {reason}; {NAME_RULE}")
            }
            Error::InvalidViewName { name, reason } => {
                let name = Quoted(name);
                write!(f, "invalid view name {name}: {reason}; {NAME_RULE}")
            }
            Error::InvalidTagKey { key, reason } => {
                let key = Quoted(key);
                write!(f, "invalid tag key {key}: {reason}; {NAME_RULE}")
            }
            Error::InvalidTagValue { key, value, reason } => {
                let value = Quoted(value);
                match key {
                    Some(key) => write!(
                        f,
                        "invalid value {value} for tag key {}: {reason}; {VALUE_RULE}",
                        Quoted(key)
                    ),
                    None => write!(f, "invalid tag value {value}: {reason}; {VALUE_RULE}"),
                }
            }
            Error::InvalidBounds { bounds, index } => {
                write!(f, "invalid distribution bounds ")?;
                if bounds.len() <= BOUNDS_SHOWN_IN_FULL {
                    write!(f, "{bounds:?}")?;
                } else {
                    // Up to 1,000 bounds in one log line would bury the
                    // one that matters: show it with its neighbours.
                    let from = index.saturating_sub(1);
                    let around = bounds.get(from..(index + 2).min(bounds.len()));
                    write!(
                        f,
                        "({} in all; bounds {from} on: {:?})",
                        bounds.len(),
                        around.unwrap_or_default()
                    )?;
                }
                write!(
                    f,
                    ": bound {index} must be finite and greater than the one before it"
                )
            }
            Error::TooManyBounds { count, max } => write!(
                f,
                "a distribution with {count} bounds has too many: at most {max} are allowed, \
                 because every row keeps a count per bucket in every recording thread"
            ),
            Error::DuplicateTagKey { view, key } => write!(
                f,
                "view {view:?} lists tag key {key:?} more than once; list each key once"
            ),
            Error::MissingAggregation { view } => write!(
                f,
                "view {view:?} has no aggregation; call .aggregation(..) on its builder"
            ),
            Error::InvalidRowLimit { view } => {
                write!(
                    f,
                    "view {view:?} has a row limit of 0; it must be at least 1"
                )
            }
            Error::InvalidExpiry { view } => write!(
                f,
                "view {view:?} has expire_after of zero, which would drop every row at once; \
                 give a duration longer than the reporting period, or leave expire_after unset \
                 so rows never expire"
            ),
            Error::ViewConflict { name } => write!(
                f,
                "view {name:?} is already registered, with another definition or as a callback \
                 view (a callback view cannot be registered twice); unregister it first or pick \
                 another name"
            ),
            Error::MeasureConflict {
                name,
                existing,
                refused,
            } => write!(
                f,
                "measure {name:?} is already in use as ({existing}) and cannot also be \
                 ({refused}); give the new measure another name"
            ),
            Error::UnknownView { name } => {
                write!(f, "no view named {} is registered", Quoted(name))
            }
            Error::ViewRejected { view, reason } => {
                write!(f, "an exporter refused view {view:?}: {reason}")
            }
            Error::UnsupportedCallbackView { view, reason } => {
                write!(
                    f,
                    "view {view:?} cannot take its rows from a callback: {reason}"
                )
            }
            Error::ExporterAlreadyRegistered { exporter } => write!(
                f,
                "exporter {exporter} is already registered with this manager; register each \
                 exporter once (a second registration would export every batch to it twice)"
            ),
            Error::ShutDown => f.write_str("the view manager has been shut down"),
            Error::InvalidConfig {
                what,
                value,
                reason,
            } => write!(f, "invalid {what} {}: {reason}", Quoted(value)),
        }
    }
}

impl std::error::Error for Error {}

/// The error an [`Exporter`](crate::Exporter) returns when a batch could not
/// be exported.
///
/// It is a message meant for a person; census logs it and counts it.
///
/// ```
/// use census_core::ExportError;
/// let err = ExportError::from("backend down");
/// assert_eq!(err.to_string(), "backend down");
/// let err = ExportError::from(format!("status {}", 503));
/// assert_eq!(err.message(), "status 503");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportError {
    message: String,
}

impl ExportError {
    /// Makes an error from a message.
    pub fn new(message: impl Into<String>) -> Self {
        ExportError {
            message: message.into(),
        }
    }

    /// The message the error was made with.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExportError {}

impl From<&str> for ExportError {
    fn from(message: &str) -> Self {
        ExportError::new(message)
    }
}

impl From<String> for ExportError {
    fn from(message: String) -> Self {
        ExportError::new(message)
    }
}

impl From<std::io::Error> for ExportError {
    fn from(err: std::io::Error) -> Self {
        ExportError::new(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // QA of issue #6: a megabyte refused for its length came back as a
    // megabyte-long message, which a service logging the error would
    // write whole for every hostile request.
    #[test]
    fn a_huge_refused_text_is_quoted_by_its_start() {
        let value = "x".repeat(10_000_000);
        let err = crate::TagValue::new(&value).unwrap_err();
        let message = err.to_string();
        assert!(message.len() < 400, "{} bytes", message.len());
        assert!(
            message.starts_with(&format!("invalid tag value \"{}\"...", "x".repeat(64))),
            "{message}"
        );
        assert!(message.contains("10000000 bytes"), "{message}");
        assert!(message.contains("the limit is 255 bytes"), "{message}");
        // The error still carries the whole value for code to read.
        assert!(
            matches!(err, Error::InvalidTagValue { value: ref v, .. } if v.len() == 10_000_000)
        );

        let name = format!("{}{}", "é".repeat(100), "n".repeat(1000));
        let message = crate::TagKey::new(&name).unwrap_err().to_string();
        assert!(message.len() < 400, "{message}");
        assert!(message.contains(&"é".repeat(32)), "{message}");
    }

    // Review of the above: a view name asked for by a caller, and a
    // configuration value (a header, an environment variable), are as
    // unbounded as a tag value.
    #[test]
    fn unknown_names_and_config_values_are_quoted_by_their_start_too() {
        let huge = "y".repeat(1_000_000);
        let unknown = Error::UnknownView { name: huge.clone() }.to_string();
        assert!(unknown.len() < 400, "{} bytes", unknown.len());
        assert!(unknown.contains("1000000 bytes"), "{unknown}");
        let config = Error::InvalidConfig {
            what: "header".into(),
            value: huge,
            reason: "it holds a newline".into(),
        }
        .to_string();
        assert!(config.len() < 400, "{} bytes", config.len());
        assert!(config.ends_with("it holds a newline"), "{config}");
    }

    #[test]
    fn invalid_bounds_show_a_long_list_around_the_bad_bound() {
        let short = Error::InvalidBounds {
            bounds: vec![1.0, 2.0, 2.0],
            index: 2,
        };
        assert_eq!(
            short.to_string(),
            "invalid distribution bounds [1.0, 2.0, 2.0]: bound 2 must be finite and \
             greater than the one before it"
        );
        let mut bounds: Vec<f64> = (0..1000).map(f64::from).collect();
        bounds[500] = f64::NAN;
        let long = Error::InvalidBounds { bounds, index: 500 };
        assert_eq!(
            long.to_string(),
            "invalid distribution bounds (1000 in all; bounds 499 on: [499.0, NaN, 501.0]): \
             bound 500 must be finite and greater than the one before it"
        );
        let first = Error::InvalidBounds {
            bounds: vec![f64::INFINITY; 30],
            index: 0,
        };
        assert!(
            first
                .to_string()
                .contains("(30 in all; bounds 0 on: [inf, inf])"),
            "{first}"
        );
    }

    #[test]
    fn texts_up_to_a_little_past_the_limit_are_quoted_whole() {
        let value = format!("{}\t", "v".repeat(255));
        let message = crate::TagValue::new(&value).unwrap_err().to_string();
        assert!(message.contains(&format!("{value:?}")), "{message}");
    }
}
