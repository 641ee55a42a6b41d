//! Typed coercion: turns a field's section text or JSON value into the value its type declares,
//! repairing what an LM commonly gets slightly wrong and refusing what cannot honestly be read.
//! Every repair is recorded; constraints are validated afterwards, never clamped.

use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Number, Value};

use super::field_error::{FieldError, Problem, Unit};
use super::keys::{self, Closeness};
use super::lenient_json::{self, Reading};
use super::text;
use super::Repair;
use crate::schema::{Document, Field, Type};

/// Deeper nesting than this is refused.
const MAX_DEPTH: usize = 128;

/// What a value is read from: the text of a chat section (or a command-line input), or a value
/// an already-parsed JSON reply holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Raw<'a> {
    /// Text to read as the type: a chat section, a list item, a `key: value` value.
    Text(&'a str),
    /// A value from a JSON reply; a JSON string is read like text where the type is not text.
    Json(&'a Value),
}

/// Coerces values of one reply, collecting repairs and caching compiled patterns.
pub(crate) struct Coercer<'d> {
    document: &'d Document,
    pub(crate) repairs: Vec<Repair>,
    patterns: HashMap<String, Result<Regex, String>>,
    /// The text being read ends where the reply ends without `[[ ## completed ## ]]`, so a
    /// bracket left open means the reply was cut off rather than mistyped.
    pub(crate) text_may_be_cut: bool,
    depth: usize,
}

/// A scalar's source once JSON strings and section text are told apart.
enum Scalar<'a> {
    Json(&'a Value),
    Text {
        /// The text as written (for messages).
        original: &'a str,
        /// The text once fences and a repeated label are removed.
        cleaned: &'a str,
        /// Whether anything had to be removed, or the text came from a JSON string.
        altered: bool,
        from_json_string: bool,
    },
}

impl<'d> Coercer<'d> {
    pub(crate) fn new(document: &'d Document) -> Coercer<'d> {
        Coercer {
            document,
            repairs: Vec::new(),
            patterns: HashMap::new(),
            text_may_be_cut: false,
            depth: 0,
        }
    }

    pub(crate) fn repair(&mut self, path: &str, description: impl Into<String>) {
        let repair = Repair {
            path: path.to_owned(),
            description: description.into(),
        };
        if !self.repairs.contains(&repair) {
            self.repairs.push(repair);
        }
    }

    /// Reads `raw` as a value of type `ty` at `path`.
    pub(crate) fn value(
        &mut self,
        ty: &Type,
        raw: Raw<'_>,
        path: &str,
    ) -> Result<Value, FieldError> {
        if self.depth > MAX_DEPTH {
            return Err(FieldError::new(path, Problem::TooDeep { limit: MAX_DEPTH }));
        }
        self.depth += 1;
        let result = self.value_at_depth(ty, raw, path);
        self.depth -= 1;
        result
    }

    fn value_at_depth(&mut self, ty: &Type, raw: Raw<'_>, path: &str) -> Result<Value, FieldError> {
        if let Type::Optional(inner) = ty {
            return self.optional(inner, raw, path);
        }
        if raw == Raw::Json(&Value::Null) && *ty != Type::Json {
            return Err(FieldError::new(path, Problem::Null));
        }
        match ty {
            Type::Optional(inner) => self.optional(inner, raw, path),
            Type::String { .. } | Type::ReasoningChain => self.string(ty, raw, path),
            Type::Integer { min, max } => self.integer(*min, *max, raw, path),
            Type::Float { min, max } => self.float(*min, *max, false, raw, path),
            Type::Probability { min, max } => self.float(*min, *max, true, raw, path),
            Type::Boolean => self.boolean(raw, path),
            Type::Json => self.json(raw, path),
            Type::List {
                item,
                min_items,
                max_items,
            } => self.list(item, *min_items, *max_items, raw, path),
            Type::Map {
                value,
                min_entries,
                max_entries,
            } => self.map(value, *min_entries, *max_entries, raw, path),
            Type::Literals(values) => self.choice(values, None, raw, path),
            Type::Enum(name) => {
                let variants: Vec<String> = self
                    .document
                    .enumeration(name)
                    .map(|e| e.variants.iter().map(|v| v.name.clone()).collect())
                    .unwrap_or_default();
                self.choice(&variants, Some(name), raw, path)
            }
            Type::Record(name) => self.record(name, raw, path),
        }
    }

    fn optional(&mut self, inner: &Type, raw: Raw<'_>, path: &str) -> Result<Value, FieldError> {
        let written = match raw {
            Raw::Json(Value::Null) => return Ok(Value::Null),
            Raw::Json(Value::String(text)) => Some((text.as_str(), true)),
            Raw::Text(text) => Some((text, false)),
            Raw::Json(_) => None,
        };
        if let Some((written, from_json_string)) = written {
            if let Some(canonical) = text::null_word(written) {
                if !self.names_a_choice(inner, written) {
                    if !canonical || from_json_string {
                        self.repair(path, format!("read {} as null", text::excerpt(written)));
                    }
                    return Ok(Value::Null);
                }
            }
        }
        self.value(inner, raw, path)
    }

    /// Whether `written` is exactly one of the literals or variants `ty` allows, so that a
    /// literal `"none"` is not mistaken for null.
    fn names_a_choice(&self, ty: &Type, written: &str) -> bool {
        let written = written.trim();
        match ty {
            Type::Literals(values) => values.iter().any(|v| v == written),
            Type::Enum(name) => self
                .document
                .enumeration(name)
                .is_some_and(|e| e.variants.iter().any(|v| v.name == written)),
            _ => false,
        }
    }

    /// Separates text from JSON values for scalar types, removing a fence or a repeated label.
    fn scalar<'a>(&mut self, raw: Raw<'a>, path: &str) -> Scalar<'a> {
        let (original, from_json_string) = match raw {
            Raw::Json(Value::String(text)) => (text.as_str(), true),
            Raw::Json(value) => return Scalar::Json(value),
            Raw::Text(text) => (text, false),
        };
        let mut cleaned = original.trim();
        let mut altered = from_json_string;
        if let Some(inner) = text::unfence(cleaned) {
            cleaned = inner;
            altered = true;
        }
        if let Some(rest) = leaf_name(path).and_then(|name| text::strip_own_label(cleaned, name)) {
            cleaned = rest;
            altered = true;
        }
        Scalar::Text {
            original,
            cleaned,
            altered,
            from_json_string,
        }
    }

    fn record_conversion(
        &mut self,
        path: &str,
        original: &str,
        from_json_string: bool,
        result: &Value,
    ) {
        let source = if from_json_string {
            format!("the string {}", text::excerpt(original))
        } else {
            text::excerpt(original)
        };
        self.repair(path, format!("read {source} as {result}"));
    }

    fn string(&mut self, ty: &Type, raw: Raw<'_>, path: &str) -> Result<Value, FieldError> {
        let text = match raw {
            Raw::Text(text) => text.trim().to_owned(),
            Raw::Json(Value::String(text)) => text.clone(),
            Raw::Json(value @ (Value::Number(_) | Value::Bool(_))) => {
                let text = value.to_string();
                self.repair(path, format!("read {value} as the text {text:?}"));
                text
            }
            Raw::Json(Value::Array(items))
                if *ty == Type::ReasoningChain && items.iter().all(Value::is_string) =>
            {
                let steps: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                self.repair(
                    path,
                    "joined a list of reasoning steps into one text, one per line",
                );
                steps.join("\n")
            }
            Raw::Json(value) => {
                return Err(FieldError::new(
                    path,
                    Problem::WrongType {
                        found: json_excerpt(value),
                        expected: "a string",
                    },
                ))
            }
        };
        if let Type::String {
            min_length,
            max_length,
            pattern,
        } = ty
        {
            check_length(
                text.chars().count(),
                *min_length,
                *max_length,
                Unit::Characters,
                path,
            )?;
            if let Some(pattern) = pattern {
                self.check_pattern(&text, pattern, path)?;
            }
        }
        Ok(Value::String(text))
    }

    fn check_pattern(&mut self, text: &str, pattern: &str, path: &str) -> Result<(), FieldError> {
        let compiled = self
            .patterns
            .entry(pattern.to_owned())
            .or_insert_with(|| Regex::new(pattern).map_err(|error| error.to_string()));
        match compiled {
            Ok(regex) if regex.is_match(text) => Ok(()),
            Ok(_) => Err(FieldError::new(
                path,
                Problem::PatternMismatch {
                    found: text::excerpt(text),
                    pattern: pattern.to_owned(),
                },
            )),
            Err(reason) => Err(FieldError::new(
                path,
                Problem::BadPattern {
                    pattern: pattern.to_owned(),
                    reason: reason.clone(),
                },
            )),
        }
    }

    fn integer(
        &mut self,
        min: Option<i64>,
        max: Option<i64>,
        raw: Raw<'_>,
        path: &str,
    ) -> Result<Value, FieldError> {
        let integer = match self.scalar(raw, path) {
            Scalar::Json(Value::Number(number)) => {
                if let Some(integer) = number.as_i64() {
                    integer
                } else {
                    let value = number.as_f64().unwrap_or(f64::NAN);
                    let integer = whole(value).ok_or_else(|| {
                        FieldError::new(
                            path,
                            Problem::NotWhole {
                                found: number.to_string(),
                            },
                        )
                    })?;
                    self.repair(path, format!("read {number} as {integer}"));
                    integer
                }
            }
            Scalar::Json(value) => return Err(wrong_type(path, json_excerpt(value), "an integer")),
            Scalar::Text {
                original,
                cleaned,
                altered,
                from_json_string,
            } => {
                let Some(number) = text::read_number(cleaned) else {
                    return Err(wrong_type(path, text::excerpt(original), "an integer"));
                };
                if number.percent {
                    return Err(FieldError::new(
                        path,
                        Problem::Percentage {
                            found: text::excerpt(original),
                        },
                    )
                    .with_help("give the number without `%`"));
                }
                let integer = match number.integer {
                    Some(integer) => integer,
                    None => whole(number.value).ok_or_else(|| {
                        FieldError::new(
                            path,
                            Problem::NotWhole {
                                found: text::excerpt(original),
                            },
                        )
                    })?,
                };
                if altered || !number.plain || number.integer.is_none() {
                    self.record_conversion(path, original, from_json_string, &Value::from(integer));
                }
                integer
            }
        };
        if let Some(min) = min.filter(|min| integer < *min) {
            return Err(FieldError::new(
                path,
                Problem::BelowMinimum {
                    found: integer.to_string(),
                    limit: min.to_string(),
                },
            ));
        }
        if let Some(max) = max.filter(|max| integer > *max) {
            return Err(FieldError::new(
                path,
                Problem::AboveMaximum {
                    found: integer.to_string(),
                    limit: max.to_string(),
                },
            ));
        }
        Ok(Value::from(integer))
    }

    fn float(
        &mut self,
        min: Option<f64>,
        max: Option<f64>,
        probability: bool,
        raw: Raw<'_>,
        path: &str,
    ) -> Result<Value, FieldError> {
        let expected = if probability {
            "a probability"
        } else {
            "a number"
        };
        let value = match self.scalar(raw, path) {
            Scalar::Json(Value::Number(number)) => number.as_f64().unwrap_or(f64::NAN),
            Scalar::Json(value) => return Err(wrong_type(path, json_excerpt(value), expected)),
            Scalar::Text {
                original,
                cleaned,
                altered,
                from_json_string,
            } => {
                let Some(number) = text::read_number(cleaned) else {
                    let error = wrong_type(path, text::excerpt(original), expected);
                    return Err(if probability {
                        error.with_help("a probability is a number from 0 to 1, such as `0.85`")
                    } else {
                        error
                    });
                };
                let value = match (number.percent, probability) {
                    (false, _) => number.value,
                    (true, true) => number.value / 100.0,
                    (true, false) => {
                        return Err(FieldError::new(
                            path,
                            Problem::Percentage {
                                found: text::excerpt(original),
                            },
                        )
                        .with_help(format!(
                            "write {} or {} without `%`, whichever the field means",
                            format_float(number.value),
                            format_float(number.value / 100.0)
                        )))
                    }
                };
                if altered || !number.plain {
                    self.record_conversion(path, original, from_json_string, &float_value(value));
                }
                value
            }
        };
        if !value.is_finite() {
            return Err(wrong_type(path, format_float(value), expected));
        }
        let (lower, upper) = if probability {
            (
                Some(min.unwrap_or(0.0).max(0.0)),
                Some(max.unwrap_or(1.0).min(1.0)),
            )
        } else {
            (min, max)
        };
        if let Some(lower) = lower.filter(|lower| value < *lower) {
            let error = FieldError::new(
                path,
                Problem::BelowMinimum {
                    found: format_float(value),
                    limit: format_float(lower),
                },
            );
            return Err(error);
        }
        if let Some(upper) = upper.filter(|upper| value > *upper) {
            let error = FieldError::new(
                path,
                Problem::AboveMaximum {
                    found: format_float(value),
                    limit: format_float(upper),
                },
            );
            return Err(if probability && value > 1.0 {
                error.with_help("a probability is a number from 0 to 1; 85% is `0.85`")
            } else {
                error
            });
        }
        Ok(float_value(value))
    }

    fn boolean(&mut self, raw: Raw<'_>, path: &str) -> Result<Value, FieldError> {
        match self.scalar(raw, path) {
            Scalar::Json(Value::Bool(value)) => Ok(Value::Bool(*value)),
            Scalar::Json(Value::Number(number)) if number.as_u64().is_some_and(|n| n <= 1) => {
                let value = number.as_u64() == Some(1);
                self.repair(path, format!("read {number} as {value}"));
                Ok(Value::Bool(value))
            }
            Scalar::Json(value) => Err(wrong_type(path, json_excerpt(value), "a boolean")),
            Scalar::Text {
                original,
                cleaned,
                altered,
                from_json_string,
            } => match text::read_boolean(cleaned) {
                Some((value, canonical)) => {
                    if altered || !canonical {
                        self.record_conversion(
                            path,
                            original,
                            from_json_string,
                            &Value::Bool(value),
                        );
                    }
                    Ok(Value::Bool(value))
                }
                None => Err(wrong_type(path, text::excerpt(original), "a boolean")
                    .with_help("write `true` or `false`")),
            },
        }
    }

    fn choice(
        &mut self,
        allowed: &[String],
        enum_name: Option<&str>,
        raw: Raw<'_>,
        path: &str,
    ) -> Result<Value, FieldError> {
        let (original, cleaned, altered, from_json_string) = match self.scalar(raw, path) {
            Scalar::Json(value @ (Value::Number(_) | Value::Bool(_))) => {
                let written = value.to_string();
                let index = allowed.iter().position(|a| *a == written).ok_or_else(|| {
                    FieldError::new(
                        path,
                        Problem::NotAllowed {
                            found: written.clone(),
                            allowed: allowed.to_vec(),
                        },
                    )
                })?;
                let result = Value::String(allowed[index].clone());
                self.repair(path, format!("read {value} as {result}"));
                return Ok(result);
            }
            Scalar::Json(value) => {
                return Err(FieldError::new(
                    path,
                    Problem::NotAllowed {
                        found: json_excerpt(value),
                        allowed: allowed.to_vec(),
                    },
                ))
            }
            Scalar::Text {
                original,
                cleaned,
                altered,
                from_json_string,
            } => (original, cleaned, altered, from_json_string),
        };
        let index = match_choice(cleaned, allowed, enum_name).map_err(|miss| {
            let found = text::excerpt(original);
            let allowed = allowed.to_vec();
            let problem = match miss {
                ChoiceMiss::Ambiguous => Problem::Ambiguous { found, allowed },
                ChoiceMiss::NotAllowed => Problem::NotAllowed { found, allowed },
            };
            FieldError::new(path, problem)
        })?;
        let result = Value::String(allowed[index].clone());
        // A JSON string is how a choice is written in JSON: only a changed text is a repair.
        let exact_json_string = from_json_string && original == allowed[index];
        if !exact_json_string && (altered || cleaned != allowed[index]) {
            self.record_conversion(path, original, from_json_string, &result);
        }
        Ok(result)
    }

    fn json(&mut self, raw: Raw<'_>, path: &str) -> Result<Value, FieldError> {
        let text = match raw {
            Raw::Json(value) => return Ok(value.clone()),
            Raw::Text(text) => text.trim(),
        };
        let (body, fenced) = match text::unfence(text) {
            Some(inner) => (inner, true),
            None => (text, false),
        };
        if let Ok(reading) = lenient_json::read_whole(body) {
            let bare_word = reading.value.is_string() && !body.starts_with(['"', '\'', '“', '‘']);
            if !bare_word {
                let value = self.take_reading(reading, path)?;
                if fenced {
                    self.repair(path, "removed the markdown fence around the value");
                }
                return Ok(value);
            }
        }
        self.repair(path, "the text is not JSON; kept it as a string");
        Ok(Value::String(text.to_owned()))
    }

    /// Records a reading's slips as repairs, or refuses it when the reply was cut off inside.
    fn take_reading(&mut self, reading: Reading, path: &str) -> Result<Value, FieldError> {
        if reading.unclosed && self.text_may_be_cut {
            return Err(FieldError::new(path, Problem::Truncated));
        }
        for slip in &reading.slips {
            self.repair(path, slip.description());
        }
        Ok(reading.value)
    }

    /// A JSON array or object in a field's text: the whole text, a fenced block, or (with a
    /// repair) the first one inside prose.
    fn structured_text(
        &mut self,
        text: &str,
        want_object: bool,
        path: &str,
    ) -> Result<Option<Value>, FieldError> {
        let trimmed = text.trim();
        let (body, fenced) = match text::unfence(trimmed) {
            Some(inner) => (inner, true),
            None => (trimmed, false),
        };
        let opens = if want_object {
            body.starts_with('{')
        } else {
            body.starts_with(['[', '('])
        };
        if opens {
            if let Ok(reading) = lenient_json::read_whole(body) {
                let value = self.take_reading(reading, path)?;
                if fenced {
                    self.repair(path, "removed the markdown fence around the value");
                }
                return Ok(Some(value));
            }
        }
        if want_object {
            if let Some(found) = lenient_json::find_object(body, 0) {
                let before = body[..found.start].trim();
                let after = body.get(found.reading.end..).unwrap_or("").trim();
                if !before.is_empty() || !after.is_empty() {
                    let value = self.take_reading(found.reading, path)?;
                    self.repair(path, "ignored text around the JSON object");
                    return Ok(Some(value));
                }
            }
        }
        Ok(None)
    }

    fn list(
        &mut self,
        item: &Type,
        min: Option<u64>,
        max: Option<u64>,
        raw: Raw<'_>,
        path: &str,
    ) -> Result<Value, FieldError> {
        let mut values = Vec::new();
        match raw {
            Raw::Json(Value::Array(items)) => {
                for (index, element) in items.iter().enumerate() {
                    values.push(self.value(
                        item,
                        Raw::Json(element),
                        &format!("{path}[{index}]"),
                    )?);
                }
            }
            Raw::Json(Value::String(text)) => {
                let before = self.repairs.len();
                values = self.text_list(item, text, path)?;
                if self.repairs.len() == before {
                    self.repair(path, "read the list inside a string");
                }
            }
            Raw::Json(single) => {
                let value = self.value(item, Raw::Json(single), &format!("{path}[0]"))?;
                self.repair(path, "read a single value as a one-item list");
                values.push(value);
            }
            Raw::Text(text) => values = self.text_list(item, text, path)?,
        }
        check_length(values.len(), min, max, Unit::Items, path)?;
        Ok(Value::Array(values))
    }

    fn text_list(&mut self, item: &Type, text: &str, path: &str) -> Result<Vec<Value>, FieldError> {
        let trimmed = text.trim();
        let mut values = Vec::new();
        if let Some(Value::Array(items)) = self.structured_text(trimmed, false, path)? {
            for (index, element) in items.iter().enumerate() {
                values.push(self.value(item, Raw::Json(element), &format!("{path}[{index}]"))?);
            }
            return Ok(values);
        }
        let body = text::unfence(trimmed).unwrap_or(trimmed);
        if text::null_word(body).is_some() {
            return Err(wrong_type(path, text::excerpt(text), "a list")
                .with_help("write `[]` for an empty list"));
        }
        if body.starts_with('{') {
            if let Ok(reading) = lenient_json::read_whole(body) {
                let single = self.take_reading(reading, path)?;
                let value = self.value(item, Raw::Json(&single), &format!("{path}[0]"))?;
                self.repair(path, "read a single value as a one-item list");
                return Ok(vec![value]);
            }
        }
        if let Some(list) = text::read_list(body) {
            if list.dropped_label {
                self.repair(path, "ignored the label line before the list");
            }
            self.repair(path, format!("read {}", list.layout.description()));
            for (index, element) in list.items.iter().enumerate() {
                values.push(self.value(item, Raw::Text(element), &format!("{path}[{index}]"))?);
            }
            return Ok(values);
        }
        if body.starts_with(['[', '{', '(']) {
            // Brackets that do not read as JSON: not a value to wrap in a list.
            return Err(wrong_type(path, text::excerpt(text), "a list").with_help(
                "write a JSON array, such as `[\"a\", \"b\"]`, or one `- item` per line",
            ));
        }
        if let Some(array) = self.array_in_prose(body, path)? {
            for (index, element) in array.iter().enumerate() {
                values.push(self.value(item, Raw::Json(element), &format!("{path}[{index}]"))?);
            }
            return Ok(values);
        }
        if body.contains('\n') {
            return Err(wrong_type(path, text::excerpt(text), "a list").with_help(
                "write a JSON array, such as `[\"a\", \"b\"]`, or one `- item` per line",
            ));
        }
        if body.contains(',') && !item_is_atomic(item) {
            return Err(FieldError::new(
                path,
                Problem::AmbiguousList {
                    found: text::excerpt(text),
                },
            )
            .with_help("write a JSON array, such as `[\"a\", \"b\"]`, or one `- item` per line"));
        }
        if body.contains(',') {
            self.repair(path, "read comma-separated items");
            for (index, element) in body.split(',').enumerate() {
                values.push(self.value(
                    item,
                    Raw::Text(element.trim()),
                    &format!("{path}[{index}]"),
                )?);
            }
            return Ok(values);
        }
        let value = self.value(item, Raw::Text(body), &format!("{path}[0]"))?;
        self.repair(path, "read a single value as a one-item list");
        Ok(vec![value])
    }

    /// A JSON array of quoted strings or objects after (or before) some prose: `The sources I
    /// used: ["a", "b"]`. Arrays of bare numbers are left alone, since `see [1]` is prose.
    fn array_in_prose(&mut self, text: &str, path: &str) -> Result<Option<Vec<Value>>, FieldError> {
        const MAX_ATTEMPTS: usize = 16;
        let mut from = 0;
        for _ in 0..MAX_ATTEMPTS {
            let Some(offset) = text.get(from..).and_then(|rest| rest.find('[')) else {
                return Ok(None);
            };
            let start = from + offset;
            if let Ok(reading) = lenient_json::read(text, start) {
                let written_as_json = match &reading.value {
                    Value::Array(items) => {
                        !items.is_empty() && items.iter().all(|i| i.is_object() || i.is_string())
                    }
                    _ => false,
                };
                if written_as_json && !reading.slips.contains(&lenient_json::Slip::UnquotedValue) {
                    let Value::Array(items) = self.take_reading(reading, path)? else {
                        return Ok(None);
                    };
                    self.repair(path, "ignored text around the JSON array");
                    return Ok(Some(items));
                }
            }
            from = start + 1;
        }
        Ok(None)
    }

    /// The members of an object-shaped value: a JSON object, JSON text, or `key: value` lines.
    /// `None` when the value has no such shape.
    fn members(&mut self, raw: Raw<'_>, path: &str) -> Result<Option<Members>, FieldError> {
        let text = match raw {
            Raw::Json(Value::Object(map)) => return Ok(Some(Members::Json(map.clone()))),
            Raw::Json(Value::String(text)) => text.as_str(),
            Raw::Text(text) => text,
            Raw::Json(_) => return Ok(None),
        };
        {
            {
                if let Some(Value::Object(map)) = self.structured_text(text, true, path)? {
                    if matches!(raw, Raw::Json(_)) {
                        self.repair(path, "read the JSON object inside a string");
                    }
                    return Ok(Some(Members::Json(map)));
                }
                let body = text.trim();
                let body = text::unfence(body).unwrap_or(body);
                match text::read_key_value_lines(body) {
                    Some(pairs) => {
                        self.repair(path, "read `key: value` lines as an object");
                        Ok(Some(Members::Text(pairs)))
                    }
                    None => Ok(None),
                }
            }
        }
    }

    fn map(
        &mut self,
        value_type: &Type,
        min: Option<u64>,
        max: Option<u64>,
        raw: Raw<'_>,
        path: &str,
    ) -> Result<Value, FieldError> {
        let Some(members) = self.members(raw, path)? else {
            return Err(wrong_type(path, raw_excerpt(raw), "an object"));
        };
        let mut map = Map::new();
        for (key, member) in members.entries() {
            let value = self.value(value_type, member, &member_path(path, key))?;
            map.insert(key.to_owned(), value);
        }
        check_length(map.len(), min, max, Unit::Entries, path)?;
        Ok(Value::Object(map))
    }

    fn record(&mut self, name: &str, raw: Raw<'_>, path: &str) -> Result<Value, FieldError> {
        let Some(members) = self.members(raw, path)? else {
            return Err(wrong_type(path, raw_excerpt(raw), "an object"));
        };
        let fields = self
            .document
            .record(name)
            .map(|record| record.fields.clone())
            .unwrap_or_default();
        let entries = members.entries();
        let keys: Vec<&str> = entries.iter().map(|(key, _)| *key).collect();
        let chosen = self.match_fields(&keys, &fields, path);
        let mut object = Map::new();
        for (field, member) in fields.iter().zip(chosen) {
            let field_path = member_path(path, &field.name);
            let value = match member {
                Some(index) => self.value(&field.ty, entries[index].1, &field_path)?,
                None if field.ty.is_optional() => Value::Null,
                None => return Err(FieldError::new(field_path, Problem::Missing)),
            };
            object.insert(field.name.clone(), value);
        }
        Ok(Value::Object(object))
    }

    /// For each field, which of `keys` gives it: an exact spelling first, then the first
    /// respelling. Records repairs for respelt, repeated and unknown keys.
    pub(crate) fn match_fields(
        &mut self,
        keys: &[&str],
        fields: &[Field],
        path: &str,
    ) -> Vec<Option<usize>> {
        let names: Vec<&str> = fields.iter().map(|field| field.name.as_str()).collect();
        let targets: Vec<Option<(usize, Closeness)>> =
            keys.iter().map(|key| keys::find(key, &names)).collect();
        let mut chosen = Vec::with_capacity(fields.len());
        for (field_index, field) in fields.iter().enumerate() {
            let candidates: Vec<(usize, Closeness)> = targets
                .iter()
                .enumerate()
                .filter_map(|(key_index, target)| match target {
                    Some((index, closeness)) if *index == field_index => {
                        Some((key_index, *closeness))
                    }
                    _ => None,
                })
                .collect();
            let pick = candidates
                .iter()
                .min_by_key(|(key_index, closeness)| (*closeness, *key_index))
                .map(|(key_index, _)| *key_index);
            let field_path = member_path(path, &field.name);
            if let Some(pick) = pick {
                if keys[pick] != field.name {
                    self.repair(
                        &field_path,
                        format!("read the key `{}` as `{}`", keys[pick], field.name),
                    );
                }
                for (other, _) in candidates
                    .iter()
                    .filter(|(key_index, _)| *key_index != pick)
                {
                    self.repair(
                        &field_path,
                        format!(
                            "ignored the key `{}`, which repeats `{}`",
                            keys[*other], keys[pick]
                        ),
                    );
                }
            }
            chosen.push(pick);
        }
        for (key, target) in keys.iter().zip(&targets) {
            if target.is_none() {
                self.repair(path, format!("ignored the unknown key `{key}`"));
            }
        }
        chosen
    }
}

/// An object's members, from JSON or from `key: value` lines.
enum Members {
    Json(Map<String, Value>),
    Text(Vec<(String, String)>),
}

impl Members {
    fn entries(&self) -> Vec<(&str, Raw<'_>)> {
        match self {
            Members::Json(map) => map
                .iter()
                .map(|(k, v)| (k.as_str(), Raw::Json(v)))
                .collect(),
            Members::Text(pairs) => pairs
                .iter()
                .map(|(k, v)| (k.as_str(), Raw::Text(v.as_str())))
                .collect(),
        }
    }
}

/// Matches text to one of `allowed`: exactly, or once quotes, markup, a trailing period, a
/// `Literal[...]` wrapper or an `Enum.` prefix are removed and case and separators are ignored.
/// Never picks one of several.
fn match_choice(
    written: &str,
    allowed: &[String],
    enum_name: Option<&str>,
) -> Result<usize, ChoiceMiss> {
    let names: Vec<&str> = allowed.iter().map(String::as_str).collect();
    if let Some(index) = names.iter().position(|name| *name == written.trim()) {
        return Ok(index);
    }
    let mut cleaned = written.trim();
    for _ in 0..4 {
        let before = cleaned;
        cleaned = text::undecorate(cleaned).0;
        for wrapper in ["Literal[", "str[", "literal["] {
            if let Some(inner) = cleaned
                .strip_prefix(wrapper)
                .and_then(|r| r.strip_suffix(']'))
            {
                cleaned = inner.trim();
            }
        }
        if let Some(name) = enum_name {
            if let Some((prefix, rest)) = cleaned.split_once('.') {
                if prefix.eq_ignore_ascii_case(name) && !rest.is_empty() {
                    cleaned = rest;
                }
            }
        }
        if cleaned == before {
            break;
        }
    }
    if let Some((index, _)) = keys::find(cleaned, &names) {
        return Ok(index);
    }
    let words: Vec<String> = keys::normalize(written)
        .split('_')
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect();
    let mentioned = names
        .iter()
        .filter(|name| {
            let parts: Vec<String> = keys::normalize(name)
                .split('_')
                .filter(|word| !word.is_empty())
                .map(str::to_owned)
                .collect();
            !parts.is_empty()
                && words
                    .windows(parts.len())
                    .any(|window| window == parts.as_slice())
        })
        .count();
    Err(if mentioned >= 2 {
        ChoiceMiss::Ambiguous
    } else {
        ChoiceMiss::NotAllowed
    })
}

/// Why text matched none of the allowed choices.
enum ChoiceMiss {
    /// It names two or more of them (`positive or negative`).
    Ambiguous,
    NotAllowed,
}

/// Checks a length, size or count against optional bounds.
pub(crate) fn check_length(
    count: usize,
    min: Option<u64>,
    max: Option<u64>,
    unit: Unit,
    path: &str,
) -> Result<(), FieldError> {
    let count_u64 = u64::try_from(count).unwrap_or(u64::MAX);
    if let Some(limit) = min.filter(|min| count_u64 < *min) {
        return Err(FieldError::new(
            path,
            Problem::TooShort { count, unit, limit },
        ));
    }
    if let Some(limit) = max.filter(|max| count_u64 > *max) {
        return Err(FieldError::new(
            path,
            Problem::TooLong { count, unit, limit },
        ));
    }
    Ok(())
}

/// The field name when `path` is a top-level field (`confidence`, not `sources[0]`).
fn leaf_name(path: &str) -> Option<&str> {
    (!path.is_empty() && !path.contains(['.', '[', '"'])).then_some(path)
}

/// `path.key`, or `path["key"]` when the key is not a plain name.
pub(crate) fn member_path(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    match (path.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (true, false) => format!("[{key:?}]"),
        (false, true) => format!("{path}.{key}"),
        (false, false) => format!("{path}[{key:?}]"),
    }
}

/// A whole number that fits an `i64`, or `None`.
fn whole(value: f64) -> Option<i64> {
    // 2^63 as f64 is exactly representable; everything below it fits.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (value.is_finite() && value.fract() == 0.0 && (-LIMIT..LIMIT).contains(&value))
        .then_some(value as i64)
}

fn float_value(value: f64) -> Value {
    Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// A float for messages: whole values without `.0` (`87`, `1`), others as JSON writes them.
fn format_float(value: f64) -> String {
    match whole(value) {
        Some(integer) if integer.unsigned_abs() < 1 << 53 => integer.to_string(),
        _ => float_value(value).to_string(),
    }
}

fn wrong_type(path: &str, found: String, expected: &'static str) -> FieldError {
    FieldError::new(path, Problem::WrongType { found, expected })
}

/// Compact JSON of a value, shortened for messages.
pub(crate) fn json_excerpt(value: &Value) -> String {
    const LIMIT: usize = 60;
    let text = value.to_string();
    if text.chars().count() <= LIMIT {
        return text;
    }
    let mut shown: String = text.chars().take(LIMIT).collect();
    shown.push('…');
    shown
}

fn raw_excerpt(raw: Raw<'_>) -> String {
    match raw {
        Raw::Text(text) => text::excerpt(text),
        Raw::Json(value) => json_excerpt(value),
    }
}

/// Item types whose text never contains a comma, so `a, b, c` can only be three items.
fn item_is_atomic(item: &Type) -> bool {
    match item.required() {
        Type::Integer { .. } | Type::Float { .. } | Type::Probability { .. } | Type::Boolean => {
            true
        }
        Type::Enum(_) => true,
        Type::Literals(values) => values.iter().all(|value| !value.contains(',')),
        _ => false,
    }
}
