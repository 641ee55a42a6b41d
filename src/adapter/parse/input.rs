//! Strict reading of inputs a user gives (`--input n=3`, an inputs JSON file): no repairs, since
//! a person can fix their own command line, but the same types and constraints as outputs.

use serde_json::{Map, Value};

use super::coerce::{check_length, json_excerpt, member_path, Coercer, Raw};
use super::field_error::{FieldError, Problem, Unit};
use super::keys;
use super::text;
use crate::schema::{Document, Field, Type};

/// Reads a command-line input's text as `field`'s type. Strings and reasoning are the text as
/// given; numbers and booleans (`true`/`false`) are plain text; lists, maps and records are
/// JSON; `json` is JSON, or the text as a string when it is not JSON. For an optional field,
/// `null` (and, unless the field is a string, an empty text) means null.
pub fn coerce_input(document: &Document, field: &Field, text: &str) -> Result<Value, FieldError> {
    let path = field.name.as_str();
    let trimmed = text.trim();
    if field.ty.is_optional() {
        let stringy = matches!(
            field.ty.required(),
            Type::String { .. } | Type::ReasoningChain
        );
        if trimmed == "null" || (trimmed.is_empty() && !stringy) {
            return Ok(Value::Null);
        }
    }
    let value = match field.ty.required() {
        Type::String { .. } | Type::ReasoningChain => Value::String(text.to_owned()),
        Type::Integer { .. } => match trimmed.parse::<i64>() {
            Ok(integer) => Value::from(integer),
            Err(_) => return Err(not_a(path, text, "an integer")),
        },
        Type::Float { .. } | Type::Probability { .. } => {
            let number = trimmed
                .parse::<f64>()
                .ok()
                .filter(|number| number.is_finite())
                .and_then(serde_json::Number::from_f64);
            match number {
                Some(number) => Value::Number(number),
                None => return Err(not_a(path, text, "a number")),
            }
        }
        Type::Boolean => match trimmed.to_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(not_a(path, text, "a boolean").with_help("write `true` or `false`")),
        },
        Type::Literals(_) | Type::Enum(_) => Value::String(trimmed.to_owned()),
        Type::Json => {
            serde_json::from_str(trimmed).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
        Type::List { .. } | Type::Map { .. } | Type::Record(_) => {
            match serde_json::from_str(trimmed) {
                Ok(value) => value,
                Err(error) => {
                    let example = match field.ty.required() {
                        Type::List { .. } => "a JSON array, such as `[\"a\", \"b\"]`",
                        _ => "a JSON object, such as `{\"key\": \"value\"}`",
                    };
                    return Err(FieldError::new(
                        path,
                        Problem::WrongType {
                            found: text::excerpt(text),
                            expected: "valid JSON",
                        },
                    )
                    .with_help(format!("give {example} ({error})")));
                }
            }
        }
        Type::Optional(_) => Value::Null,
    };
    validate_input(document, field, &value)
}

/// Checks a JSON input value against `field`'s type and constraints, strictly: no conversions
/// but a whole float (`3.0`) for an integer. Returns the value normalized (records get their
/// fields in declared order, absent optional fields as null).
pub fn validate_input(
    document: &Document,
    field: &Field,
    value: &Value,
) -> Result<Value, FieldError> {
    let mut validator = Validator {
        document,
        coercer: Coercer::new(document),
        depth: 0,
    };
    validator.value(&field.ty, value, &field.name)
}

struct Validator<'d> {
    document: &'d Document,
    /// Used for the checks both directions share (constraints, patterns), never for repairs.
    coercer: Coercer<'d>,
    depth: usize,
}

impl Validator<'_> {
    fn value(&mut self, ty: &Type, value: &Value, path: &str) -> Result<Value, FieldError> {
        const MAX_DEPTH: usize = 128;
        if self.depth > MAX_DEPTH {
            return Err(FieldError::new(path, Problem::TooDeep { limit: MAX_DEPTH }));
        }
        self.depth += 1;
        let result = self.value_at_depth(ty, value, path);
        self.depth -= 1;
        result
    }

    fn value_at_depth(
        &mut self,
        ty: &Type,
        value: &Value,
        path: &str,
    ) -> Result<Value, FieldError> {
        match (ty, value) {
            (Type::Optional(_), Value::Null) | (Type::Json, _) => Ok(value.clone()),
            (Type::Optional(inner), _) => self.value(inner, value, path),
            (_, Value::Null) => Err(FieldError::new(path, Problem::Null)),
            (Type::String { .. } | Type::ReasoningChain, Value::String(_))
            | (
                Type::Integer { .. } | Type::Float { .. } | Type::Probability { .. },
                Value::Number(_),
            )
            | (Type::Boolean, Value::Bool(_)) => self.checked(ty, value, path),
            (Type::Literals(allowed), Value::String(written)) => {
                choose_exactly(allowed, written, path).map(|_| value.clone())
            }
            (Type::Enum(name), Value::String(written)) => {
                let allowed: Vec<String> = self
                    .document
                    .enumeration(name)
                    .map(|e| e.variants.iter().map(|v| v.name.clone()).collect())
                    .unwrap_or_default();
                choose_exactly(&allowed, written, path).map(|_| value.clone())
            }
            (
                Type::List {
                    item,
                    min_items,
                    max_items,
                },
                Value::Array(items),
            ) => {
                let mut checked = Vec::with_capacity(items.len());
                for (index, element) in items.iter().enumerate() {
                    checked.push(self.value(item, element, &format!("{path}[{index}]"))?);
                }
                check_length(checked.len(), *min_items, *max_items, Unit::Items, path)?;
                Ok(Value::Array(checked))
            }
            (
                Type::Map {
                    value: value_type,
                    min_entries,
                    max_entries,
                },
                Value::Object(entries),
            ) => {
                let mut checked = Map::new();
                for (key, element) in entries {
                    let element = self.value(value_type, element, &member_path(path, key))?;
                    checked.insert(key.clone(), element);
                }
                check_length(
                    checked.len(),
                    *min_entries,
                    *max_entries,
                    Unit::Entries,
                    path,
                )?;
                Ok(Value::Object(checked))
            }
            (Type::Record(name), Value::Object(entries)) => self.record(name, entries, path),
            (_, _) => Err(FieldError::new(
                path,
                Problem::WrongType {
                    found: json_excerpt(value),
                    expected: expected_name(ty),
                },
            )),
        }
    }

    /// A scalar of the right JSON kind: the output coercion accepts it without a repair, and
    /// checks its constraints.
    fn checked(&mut self, ty: &Type, value: &Value, path: &str) -> Result<Value, FieldError> {
        let before = self.coercer.repairs.len();
        let checked = self.coercer.value(ty, Raw::Json(value), path)?;
        self.coercer.repairs.truncate(before);
        Ok(checked)
    }

    fn record(
        &mut self,
        name: &str,
        entries: &Map<String, Value>,
        path: &str,
    ) -> Result<Value, FieldError> {
        let fields = self
            .document
            .record(name)
            .map(|record| record.fields.clone())
            .unwrap_or_default();
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        if let Some(unknown) = entries.keys().find(|key| !names.contains(&key.as_str())) {
            let error = FieldError::new(
                path,
                Problem::UnknownField {
                    name: unknown.clone(),
                },
            );
            return Err(match keys::find(unknown, &names) {
                Some((index, _)) => error.with_help(format!("did you mean `{}`?", names[index])),
                None => error.with_help(format!(
                    "the fields of `{name}` are {}",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            });
        }
        let mut object = Map::new();
        for field in &fields {
            let field_path = member_path(path, &field.name);
            let value = match entries.get(&field.name) {
                Some(value) => self.value(&field.ty, value, &field_path)?,
                None if field.ty.is_optional() => Value::Null,
                None => return Err(FieldError::new(field_path, Problem::Missing)),
            };
            object.insert(field.name.clone(), value);
        }
        Ok(Value::Object(object))
    }
}

fn choose_exactly(allowed: &[String], written: &str, path: &str) -> Result<(), FieldError> {
    if allowed.iter().any(|a| a == written) {
        return Ok(());
    }
    let error = FieldError::new(
        path,
        Problem::NotAllowed {
            found: text::excerpt(written),
            allowed: allowed.to_vec(),
        },
    );
    let names: Vec<&str> = allowed.iter().map(String::as_str).collect();
    Err(match keys::find(written, &names) {
        Some((index, _)) => error.with_help(format!("did you mean `{}`?", names[index])),
        None => error,
    })
}

fn not_a(path: &str, text: &str, expected: &'static str) -> FieldError {
    FieldError::new(
        path,
        Problem::WrongType {
            found: text::excerpt(text),
            expected,
        },
    )
}

fn expected_name(ty: &Type) -> &'static str {
    match ty.required() {
        Type::String { .. } | Type::ReasoningChain => "a string",
        Type::Integer { .. } => "an integer",
        Type::Float { .. } => "a number",
        Type::Probability { .. } => "a probability",
        Type::Boolean => "a boolean",
        Type::List { .. } => "a list",
        Type::Map { .. } | Type::Record(_) => "an object",
        Type::Literals(_) | Type::Enum(_) => "a string naming one of the allowed values",
        Type::Json | Type::Optional(_) => "a JSON value",
    }
}
