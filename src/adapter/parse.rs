//! Tolerant, typed parsing of LM replies into a signature's output values.
//!
//! Both reply formats DSPy uses are read here: the chat format (`[[ ## field ## ]]` sections,
//! [`parse_chat`]) and one JSON object ([`parse_json`]). Each field's text or JSON value then goes
//! through [`coerce`], which reads it as the field's type and checks its constraints. The parser
//! accepts everything DSPy 3.4.1's own parser accepts and repairs more (headers in other case or
//! spacing, fences, prose around JSON, `87%` for a probability, bulleted lists, fuzzy keys and
//! enum names), recording every repair; what it cannot read honestly (`"very high"` for a
//! probability, `positive or negative` for one enum value, a reply cut off inside a value) is an
//! error that names the field and carries the raw reply.

mod coerce;
mod field_error;
mod input;
mod keys;
mod lenient_json;
mod parse_error;
mod sections;
mod text;

use serde::Serialize;
use serde_json::{Map, Value};

pub use coerce::Raw;
pub use field_error::{FieldError, Problem, Unit};
pub use input::{coerce_input, validate_input};
pub use parse_error::{ParseError, ReplyFormat, ReplyProblem};

use crate::schema::{Document, Field, Type};
use coerce::Coercer;
use lenient_json::Member;

/// The hint for a reply that ends before it should.
const CUT_OFF_HELP: &str =
    "the reply looks cut off: allow the LM more output tokens (`max_tokens`)";

/// An LM reply read as a signature's outputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parsed {
    /// Every output field, in signature order; an absent optional field is `null`.
    pub values: Map<String, Value>,
    /// What had to be repaired to read the reply, in the order it was done.
    pub repairs: Vec<Repair>,
}

/// One liberty taken with a reply, so a caller can see how far the LM strayed from the format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repair {
    /// Where: `answer`, `sources[1]`, `person.age`; empty for the reply as a whole.
    pub path: String,
    /// What was done, such as `read "87%" as 0.87`.
    pub description: String,
}

/// Reads `raw` (a section's text or a JSON value) as a value of type `ty`, with the repairs it
/// took. `path` names the value in repairs and errors. It converts what has one honest reading
/// (`"0.87."`, `87%` for a probability, `Yes`, `Sentiment.POSITIVE`, `- a` bullets, `3.0` for
/// an integer) and refuses what has none or several (`very high`, `87%` for a plain float,
/// `positive or negative`, `3.5` for an integer); constraints are checked, never clamped.
pub fn coerce(
    document: &Document,
    ty: &Type,
    raw: Raw<'_>,
    path: &str,
) -> Result<(Value, Vec<Repair>), FieldError> {
    let mut coercer = Coercer::new(document);
    let value = coercer.value(ty, raw, path)?;
    Ok((value, coercer.repairs))
}

/// Whether a section's name is the `completed` marker, however it is spelt.
fn is_completed_marker(name: &str) -> bool {
    // A name of lowercase letters only is its own normal form (the usual field header): no
    // need to normalize it to know it is not `completed`.
    let plain = name.bytes().all(|byte| byte.is_ascii_lowercase());
    name == "completed" || (!plain && keys::normalize(name) == "completed")
}

/// Whether `header` is exactly `[[ ## name ## ]]`.
fn is_canonical_header(header: &str, name: &str) -> bool {
    header
        .strip_prefix("[[ ## ")
        .and_then(|rest| rest.strip_suffix(" ## ]]"))
        == Some(name)
}

/// Parses a reply in DSPy's chat format: each output field under a `[[ ## name ## ]]` header,
/// ending with `[[ ## completed ## ]]`.
///
/// Beyond DSPy: headers anywhere in a line and in any case or spacing, a fence around the whole
/// reply, and a missing `completed` marker are fine. When a field's header appears more than
/// once the first non-empty section wins (DSPy takes the first, even when empty). An empty
/// section counts as absent. Text before the first header and sections for unknown names are
/// ignored (and recorded).
pub fn parse_chat(
    document: &Document,
    outputs: &[Field],
    reply: &str,
) -> Result<Parsed, ParseError> {
    let mut coercer = Coercer::new(document);
    if reply.trim().is_empty() {
        return Err(failure(
            ReplyFormat::Chat,
            vec![ReplyProblem::EmptyReply],
            None,
            Map::new(),
            reply,
        ));
    }
    let mut body = reply;
    if let Some(inner) = text::unfence(reply) {
        if !sections::split(inner).sections.is_empty() {
            coercer.repair("", "removed the markdown fence around the reply");
            body = inner;
        }
    }
    let split = sections::split(body);
    if !split.preamble.is_empty() && !split.sections.is_empty() {
        coercer.repair(
            "",
            "ignored text before the first `[[ ## field ## ]]` header",
        );
    }
    let names: Vec<&str> = outputs.iter().map(|field| field.name.as_str()).collect();
    let completed = split
        .sections
        .iter()
        .any(|section| is_completed_marker(section.name));
    // For each output field, the indexes of its sections, in order.
    let mut found: Vec<Vec<usize>> = vec![Vec::new(); outputs.len()];
    for (index, section) in split.sections.iter().enumerate() {
        if is_completed_marker(section.name) {
            if !section.content.is_empty() {
                coercer.repair("", "ignored text after `[[ ## completed ## ]]`");
            }
            continue;
        }
        match keys::find(section.name, &names) {
            Some((field, _)) => found[field].push(index),
            None => coercer.repair(
                "",
                format!(
                    "ignored the section `{}`, which is not an output field",
                    section.header
                ),
            ),
        }
    }
    let last_section = split.sections.len().checked_sub(1);
    let mut values = Map::new();
    let mut missing = Vec::new();
    let mut invalid = Vec::new();
    for (field, indexes) in outputs.iter().zip(&found) {
        let path = field.name.as_str();
        let chosen = indexes
            .iter()
            .copied()
            .find(|index| !split.sections[*index].content.is_empty());
        if let Some(chosen) = chosen {
            let section = &split.sections[chosen];
            if !is_canonical_header(section.header, &field.name) {
                coercer.repair(
                    path,
                    format!(
                        "read the header `{}` as `[[ ## {} ## ]]`",
                        section.header, field.name
                    ),
                );
            }
            if !section.starts_line {
                coercer.repair(path, "read a header that does not start its line");
            }
            if indexes.len() > 1 {
                coercer.repair(
                    path,
                    format!(
                        "the reply has {} `{}` sections; kept the first that is not empty",
                        indexes.len(),
                        field.name
                    ),
                );
            }
            let is_last = Some(chosen) == last_section;
            let mut content = section.content;
            if is_last {
                content = without_stray_fence_close(content);
            }
            coercer.text_may_be_cut = is_last && !completed;
            match coercer.value(&field.ty, Raw::Text(content), path) {
                Ok(value) => {
                    values.insert(field.name.clone(), value);
                }
                Err(error) => invalid.push(error),
            }
            coercer.text_may_be_cut = false;
        } else if field.ty.is_optional() {
            values.insert(field.name.clone(), Value::Null);
        } else {
            missing.push(field.name.clone());
        }
    }
    if missing.is_empty() && invalid.is_empty() {
        return Ok(Parsed {
            values,
            repairs: coercer.repairs,
        });
    }
    let help = if split.sections.is_empty() {
        Some(if parse_error::looks_like_refusal(reply) {
            "the LM declined to answer: the reply has no `[[ ## field ## ]]` sections".to_owned()
        } else {
            "the reply has no `[[ ## field ## ]]` headers; the LM did not follow the chat format"
                .to_owned()
        })
    } else if !completed
        && (!missing.is_empty() || invalid.iter().any(|e| e.problem == Problem::Truncated))
    {
        Some(CUT_OFF_HELP.to_owned())
    } else if !missing.is_empty() {
        Some("each output field must come under its own `[[ ## name ## ]]` header".to_owned())
    } else {
        invalid.iter().find_map(|error| error.help.clone())
    };
    Err(failure(
        ReplyFormat::Chat,
        problems(missing, invalid),
        help,
        values,
        reply,
    ))
}

/// Parses a reply meant to be one JSON object with a key per output field.
///
/// The object may sit in a ```` ```json ```` fence or inside prose, and may have trailing
/// commas, single quotes, unquoted keys, comments and Python literals. Keys match fields when
/// spelt differently (`firstName`, `First Name`, `Stadt`); unknown keys are ignored (and
/// recorded). A reply cut off after complete members is read; a member cut in the middle is an
/// error for its field.
pub fn parse_json(
    document: &Document,
    outputs: &[Field],
    reply: &str,
) -> Result<Parsed, ParseError> {
    let mut coercer = Coercer::new(document);
    if reply.trim().is_empty() {
        return Err(failure(
            ReplyFormat::Json,
            vec![ReplyProblem::EmptyReply],
            None,
            Map::new(),
            reply,
        ));
    }
    let Some(located) = locate_object(reply) else {
        let problem = match reply
            .find('{')
            .map(|start| lenient_json::read(reply, start))
        {
            Some(Err(error)) => {
                let (line, column) = line_and_column(reply, error.offset);
                ReplyProblem::InvalidJson {
                    expected: error.expected,
                    line,
                    column,
                }
            }
            _ => ReplyProblem::NoJsonObject,
        };
        let help = if parse_error::looks_like_refusal(reply) {
            "the LM declined to answer instead of writing a JSON object".to_owned()
        } else {
            format!(
                "the reply must be a JSON object with the keys {}",
                backticked_names(outputs)
            )
        };
        return Err(failure(
            ReplyFormat::Json,
            vec![problem],
            Some(help),
            Map::new(),
            reply,
        ));
    };
    if located.fenced {
        coercer.repair("", "read the JSON object inside a markdown fence");
    }
    if located.prose_around {
        coercer.repair("", "ignored text around the JSON object");
    }
    if located.second_object {
        coercer.repair("", "the reply has a second JSON object; kept the first");
    }
    for slip in &located.reading.slips {
        coercer.repair("", slip.description());
    }
    let Value::Object(mut object) = located.reading.value else {
        return Err(failure(
            ReplyFormat::Json,
            vec![ReplyProblem::NoJsonObject],
            None,
            Map::new(),
            reply,
        ));
    };
    let cut_key = match &located.reading.cut_member {
        Some(Member::Key(key)) => Some(key.clone()),
        _ => None,
    };
    let names: Vec<&str> = outputs.iter().map(|f| f.name.as_str()).collect();
    let matches_any = |object: &Map<String, Value>| {
        object.keys().any(|key| keys::find(key, &names).is_some())
            || cut_key
                .as_deref()
                .is_some_and(|key| keys::find(key, &names).is_some())
    };
    if !matches_any(&object) {
        if let Some((wrapper, inner)) = single_wrapped_object(&object, &names) {
            coercer.repair(
                "",
                format!("read the fields inside the wrapper key `{wrapper}`"),
            );
            object = inner;
        } else if let Some(field) = record_given_flat(document, outputs, &object) {
            coercer.repair(
                &field.name,
                format!("read the top-level keys as the fields of `{}`", field.name),
            );
            object = Map::from_iter([(field.name.clone(), Value::Object(object))]);
        } else if object.is_empty() && cut_key.is_some() {
            return Err(failure(
                ReplyFormat::Json,
                vec![ReplyProblem::CutBeforeFields],
                Some(CUT_OFF_HELP.to_owned()),
                Map::new(),
                reply,
            ));
        }
    }
    if let Some(key) = &cut_key {
        // A number or bare word at the very end may have been longer.
        object.shift_remove(key);
    }
    let keys_written: Vec<&str> = object.keys().map(String::as_str).collect();
    let chosen = coercer.match_fields(&keys_written, outputs, "");
    let cut_field = cut_key
        .as_deref()
        .and_then(|key| keys::find(key, &names))
        .map(|(index, _)| index);
    let mut values = Map::new();
    let mut missing = Vec::new();
    let mut invalid = Vec::new();
    for (index, (field, member)) in outputs.iter().zip(chosen).enumerate() {
        let path = field.name.as_str();
        match member {
            Some(member) => {
                let value = &object[keys_written[member]];
                match coercer.value(&field.ty, Raw::Json(value), path) {
                    Ok(value) => {
                        values.insert(field.name.clone(), value);
                    }
                    Err(error) => invalid.push(error),
                }
            }
            None if cut_field == Some(index) => {
                invalid.push(FieldError::new(path, Problem::Truncated));
            }
            None if field.ty.is_optional() => {
                values.insert(field.name.clone(), Value::Null);
            }
            None => missing.push(field.name.clone()),
        }
    }
    if missing.is_empty() && invalid.is_empty() {
        return Ok(Parsed {
            values,
            repairs: coercer.repairs,
        });
    }
    let cut_off = (!missing.is_empty() && located.reading.unclosed)
        || invalid.iter().any(|e| e.problem == Problem::Truncated);
    let help = if cut_off {
        Some(CUT_OFF_HELP.to_owned())
    } else if !missing.is_empty() {
        Some(format!(
            "the JSON object needs the keys {}",
            backticked_names(outputs)
        ))
    } else {
        invalid.iter().find_map(|error| error.help.clone())
    };
    Err(failure(
        ReplyFormat::Json,
        problems(missing, invalid),
        help,
        values,
        reply,
    ))
}

/// The JSON object a JSON-format reply gives, and what surrounds it.
struct Located {
    reading: lenient_json::Reading,
    fenced: bool,
    prose_around: bool,
    second_object: bool,
}

/// The reply's object: the whole reply, the first fenced block that holds one, or the first
/// readable object inside prose.
fn locate_object(reply: &str) -> Option<Located> {
    for (block, _closed) in text::fenced_blocks(reply) {
        let Some(start) = block.find('{') else {
            continue;
        };
        if !block[..start].trim().is_empty() {
            continue;
        }
        if let Ok(reading) = lenient_json::read(block, start) {
            if reading.value.is_object() {
                let outside = reply.replacen(block, "", 1);
                let outside = outside
                    .replace("```json", "")
                    .replace("```JSON", "")
                    .replace("```", "");
                let rest = block.get(reading.end..).unwrap_or("");
                return Some(Located {
                    second_object: lenient_json::find_object(rest, 0).is_some()
                        || lenient_json::find_object(&outside, 0).is_some(),
                    prose_around: !outside.trim().is_empty() || !rest.trim().is_empty(),
                    fenced: true,
                    reading,
                });
            }
        }
    }
    let found = lenient_json::find_object(reply, 0)?;
    let before = reply[..found.start].trim();
    let after = reply.get(found.reading.end..).unwrap_or("");
    Some(Located {
        second_object: lenient_json::find_object(after, 0).is_some(),
        prose_around: !before.is_empty() || !after.trim().is_empty(),
        fenced: false,
        reading: found.reading,
    })
}

/// `{"output": {"answer": ...}}`: one key holding an object whose keys are the fields.
fn single_wrapped_object(
    object: &Map<String, Value>,
    names: &[&str],
) -> Option<(String, Map<String, Value>)> {
    let mut objects = object.iter().filter(|(_, value)| value.is_object());
    let (key, Value::Object(inner)) = objects.next()? else {
        return None;
    };
    if objects.next().is_some() || object.len() != 1 {
        return None;
    }
    inner
        .keys()
        .any(|inner_key| keys::find(inner_key, names).is_some())
        .then(|| (key.clone(), inner.clone()))
}

/// A signature whose only output is a record, answered with the record's own fields at the top.
fn record_given_flat<'a>(
    document: &Document,
    outputs: &'a [Field],
    object: &Map<String, Value>,
) -> Option<&'a Field> {
    let [field] = outputs else {
        return None;
    };
    let Type::Record(name) = field.ty.required() else {
        return None;
    };
    let record = document.record(name)?;
    let record_names: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
    object
        .keys()
        .any(|key| keys::find(key, &record_names).is_some())
        .then_some(field)
}

/// A reply that ends with the closing fence of a fence opened before the first header leaves a
/// stray ```` ``` ```` at the end of the last section.
fn without_stray_fence_close(content: &str) -> &str {
    match content.strip_suffix("```") {
        Some(rest) if content.matches("```").count() % 2 == 1 => rest.trim_end(),
        _ => content,
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

fn backticked_names(fields: &[Field]) -> String {
    fields
        .iter()
        .map(|field| format!("`{}`", field.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn problems(missing: Vec<String>, invalid: Vec<FieldError>) -> Vec<ReplyProblem> {
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(ReplyProblem::MissingFields(missing));
    }
    problems.extend(invalid.into_iter().map(ReplyProblem::Invalid));
    problems
}

fn failure(
    format: ReplyFormat,
    problems: Vec<ReplyProblem>,
    help: Option<String>,
    partial: Map<String, Value>,
    reply: &str,
) -> ParseError {
    ParseError {
        format,
        problems,
        help,
        partial: Box::new(partial),
        reply: reply.to_owned(),
    }
}
