//! `FieldError`: why one value (an output field, an item of a list, a field of a record, or a
//! command-line input) could not be read as its declared type.

use std::fmt;

/// A value that could not honestly be read as its type, and where it sits.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{path}`: {problem}")]
pub struct FieldError {
    /// Where the value sits: `answer`, `sources[1]`, `person.age` (list indexes count from 0).
    pub path: String,
    pub problem: Problem,
    /// What would fix it, when that is known.
    pub help: Option<String>,
}

impl FieldError {
    /// An error at `path` without a hint.
    pub fn new(path: impl Into<String>, problem: Problem) -> FieldError {
        FieldError {
            path: path.into(),
            problem,
            help: None,
        }
    }

    /// This error with a hint.
    pub fn with_help(self, help: impl Into<String>) -> FieldError {
        FieldError {
            help: Some(help.into()),
            ..self
        }
    }
}

/// What is wrong with a value. `found` texts are already quoted excerpts (`"very high"`) or
/// compact JSON (`3.5`, `[1,2]`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("{found} is not {expected}")]
    WrongType {
        found: String,
        expected: &'static str,
    },
    #[error("{found} is not one of {}", backticked(.allowed))]
    NotAllowed { found: String, allowed: Vec<String> },
    #[error("{found} names more than one of {}; it must be exactly one", backticked(.allowed))]
    Ambiguous { found: String, allowed: Vec<String> },
    #[error("{found} is not a list: it could be one item or several")]
    AmbiguousList { found: String },
    #[error("{found} is not a whole number")]
    NotWhole { found: String },
    #[error("{found} is a percentage, which is ambiguous for a number that is not a probability")]
    Percentage { found: String },
    #[error("{found} is less than the minimum {limit}")]
    BelowMinimum { found: String, limit: String },
    #[error("{found} is more than the maximum {limit}")]
    AboveMaximum { found: String, limit: String },
    #[error("has {count} {unit}, fewer than the minimum {limit}")]
    TooShort {
        count: usize,
        unit: Unit,
        limit: u64,
    },
    #[error("has {count} {unit}, more than the maximum {limit}")]
    TooLong {
        count: usize,
        unit: Unit,
        limit: u64,
    },
    #[error("{found} does not match the pattern `{pattern}`")]
    PatternMismatch { found: String, pattern: String },
    #[error("the pattern `{pattern}` does not compile: {reason}")]
    BadPattern { pattern: String, reason: String },
    #[error("missing, and it is required")]
    Missing,
    #[error("null, but it is not optional")]
    Null,
    #[error("unknown field `{name}`")]
    UnknownField { name: String },
    #[error("the reply ends inside this value; it was probably cut off")]
    Truncated,
    #[error("nested more than {limit} levels deep")]
    TooDeep { limit: usize },
}

/// What a length constraint counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Characters,
    Items,
    Entries,
}

impl fmt::Display for Unit {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Unit::Characters => "characters",
            Unit::Items => "items",
            Unit::Entries => "entries",
        })
    }
}

fn backticked(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
