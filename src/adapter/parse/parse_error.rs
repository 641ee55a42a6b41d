//! `ParseError`: an LM reply that does not give every output field in its type, with every
//! problem found, a hint, and the raw reply so the caller can show it.

use serde_json::{Map, Value};

use super::field_error::FieldError;

/// The reply format a parser expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyFormat {
    /// `[[ ## field ## ]]` sections, DSPy's `ChatAdapter`.
    Chat,
    /// One JSON object, DSPy's `JSONAdapter`.
    Json,
}

/// An LM reply that could not be read as the signature's outputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", summary(.problems))]
pub struct ParseError {
    pub format: ReplyFormat,
    /// Everything wrong with the reply, missing fields first, then fields in signature order.
    pub problems: Vec<ReplyProblem>,
    /// What would fix it, when that is known.
    pub help: Option<String>,
    /// The output fields that were read successfully, in signature order (boxed to keep the
    /// error small).
    pub partial: Box<Map<String, Value>>,
    /// The LM's reply, verbatim.
    pub reply: String,
}

impl ParseError {
    /// Names of the required output fields the reply does not give.
    pub fn missing_fields(&self) -> Vec<&str> {
        self.problems
            .iter()
            .flat_map(|problem| match problem {
                ReplyProblem::MissingFields(names) => names.iter().map(String::as_str).collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// The values that are present but wrong.
    pub fn invalid_fields(&self) -> impl Iterator<Item = &FieldError> {
        self.problems.iter().filter_map(|problem| match problem {
            ReplyProblem::Invalid(error) => Some(error),
            _ => None,
        })
    }
}

/// One thing wrong with a reply.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplyProblem {
    /// Nothing but whitespace.
    #[error("the reply is empty")]
    EmptyReply,
    /// JSON format: no `{` that begins a readable object.
    #[error("the reply has no JSON object")]
    NoJsonObject,
    /// JSON format: an object that cannot be read even leniently, and where it fails.
    #[error("the reply's JSON is not valid: expected {expected} at line {line}, column {column}")]
    InvalidJson {
        expected: &'static str,
        line: usize,
        column: usize,
    },
    /// JSON format: the reply ends inside the object's first key.
    #[error("the reply's JSON object is cut off before its first field")]
    CutBeforeFields,
    /// Required output fields the reply does not give, in signature order.
    #[error("missing output field{} {}", if .0.len() == 1 { "" } else { "s" }, backticked(.0))]
    MissingFields(Vec<String>),
    /// An output field whose value cannot be read as its type.
    #[error("output field {0}")]
    Invalid(FieldError),
}

fn summary(problems: &[ReplyProblem]) -> String {
    match problems {
        [] => "the LM reply could not be parsed".to_owned(),
        [only] => only.to_string(),
        several => {
            let mut text = format!("the LM reply has {} problems:", several.len());
            for problem in several {
                text.push_str("\n  ");
                text.push_str(&problem.to_string());
            }
            text
        }
    }
}

fn backticked(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a reply reads like the LM declining to answer, for the hint.
pub(crate) fn looks_like_refusal(reply: &str) -> bool {
    let lower = reply.to_lowercase().replace('’', "'");
    [
        "i cannot",
        "i can't",
        "i can not",
        "i'm sorry",
        "i am sorry",
        "i'm unable",
        "i am unable",
        "i'm not able",
        "i am not able",
        "as an ai",
        "i won't",
        "i will not",
        "unable to answer",
        "unable to help",
        "cannot help",
        "can't help",
        "cannot assist",
        "can't assist",
        "cannot provide",
        "can't provide",
    ]
    .iter()
    .any(|phrase| lower.contains(phrase))
}
