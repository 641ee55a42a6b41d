//! How DSPy 3.4.1 and pydantic 2.14 describe a type in a prompt: the annotation name
//! (`list[str]`, `Union[int, NoneType]`, `Annotated[str, annotation=NoneType ...]`) and the JSON
//! Schema pydantic generates for it, key order included. The types are the ones `dspex codegen
//! --target python` writes for the model (spec section 6), so the text matches DSPy's for the
//! generated classes.

use serde_json::{json, Map, Value};

use super::python::{cleandoc, repr, title};
use crate::codegen::constraints::{self, Number};
use crate::schema::{Document, Record, Type};

/// `get_annotation_name` of the Python annotation of a field whose type is `ty`: the field's
/// own constraints are keyword arguments, so they do not show; nested ones show as pydantic
/// prints an `Annotated` type.
pub fn annotation_name(ty: &Type) -> String {
    name(ty, true)
}

fn name(ty: &Type, field: bool) -> String {
    if let Type::Optional(inner) = ty {
        let inner_is_field = field && !matches!(**inner, Type::Optional(_));
        return format!("Union[{}, NoneType]", name(inner, inner_is_field));
    }
    let base = match ty {
        Type::String { .. } | Type::ReasoningChain => "str".to_owned(),
        Type::Integer { .. } => "int".to_owned(),
        Type::Float { .. } | Type::Probability { .. } => "float".to_owned(),
        Type::Boolean => "bool".to_owned(),
        Type::Json => "Any".to_owned(),
        Type::List { item, .. } => format!("list[{}]", name(item, false)),
        Type::Map { value, .. } => format!("dict[str, {}]", name(value, false)),
        Type::Literals(values) => {
            let values: Vec<String> = values.iter().map(|v| literal_text(v)).collect();
            format!("Literal[{}]", values.join(", "))
        }
        Type::Record(name) | Type::Enum(name) => name.clone(),
        Type::Optional(_) => unreachable_optional(),
    };
    if field {
        return base;
    }
    let metadata = metadata(ty);
    if metadata.is_empty() {
        return base;
    }
    format!(
        "Annotated[{base}, annotation=NoneType required=True metadata=[{}]]",
        metadata.join(", ")
    )
}

/// `Optional` is handled before the match that would reach this; kept total without a panic.
fn unreachable_optional() -> String {
    "Any".to_owned()
}

/// DSPy's `_quoted_string_for_literal_type_annotation`.
fn literal_text(text: &str) -> String {
    let single = text.contains('\'');
    let double = text.contains('"');
    match (single, double) {
        (true, false) => format!("\"{text}\""),
        (true, true) => format!("'{}'", text.replace('\'', "\\'")),
        _ => format!("'{text}'"),
    }
}

/// pydantic's `repr` of the metadata a type's own constraints become.
fn metadata(ty: &Type) -> Vec<String> {
    let constraints = constraints::of(ty);
    let mut items = Vec::new();
    if let Some(bounds) = constraints.bounds {
        if let Some(min) = bounds.min {
            items.push(format!("Ge(ge={})", number_text(min)));
        }
        if let Some(max) = bounds.max {
            items.push(format!("Le(le={})", number_text(max)));
        }
    }
    if let Some(length) = constraints.length {
        if let Some(min) = length.min {
            items.push(format!("MinLen(min_length={min})"));
        }
        if let Some(max) = length.max {
            items.push(format!("MaxLen(max_length={max})"));
        }
    }
    if let Some(pattern) = constraints.pattern {
        items.push(format!(
            "_PydanticGeneralMetadata(pattern={})",
            repr(&Value::String(pattern.to_owned()))
        ));
    }
    items
}

/// Python's `str()` of a bound as codegen writes it: ints as ints, floats as floats.
pub(crate) fn number_text(number: Number) -> String {
    match number {
        Number::Integer(value) => value.to_string(),
        Number::Float(value) => crate::codegen::python::float_repr(value),
    }
}

/// DSPy's `Constraints:` line for a field: the field keyword constraints in codegen's order,
/// with pydantic's words (`pattern` is not among them).
pub fn constraint_text(ty: &Type) -> Option<String> {
    let constraints = constraints::of(ty.required());
    let mut parts = Vec::new();
    if let Some(bounds) = constraints.bounds {
        if let Some(min) = bounds.min {
            parts.push(format!("greater than or equal to: {}", number_text(min)));
        }
        if let Some(max) = bounds.max {
            parts.push(format!("less than or equal to: {}", number_text(max)));
        }
    }
    if let Some(length) = constraints.length {
        if let Some(min) = length.min {
            parts.push(format!("minimum length: {min}"));
        }
        if let Some(max) = length.max {
            parts.push(format!("maximum length: {max}"));
        }
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// `TypeAdapter(annotation).json_schema()` for a field of type `ty`, with DSPy's
/// `move_type_to_front` key order applied (`type` first, the rest sorted).
pub fn json_schema(document: &Document, ty: &Type) -> Value {
    let mut generator = Generator {
        document,
        defs: Map::new(),
        in_progress: Vec::new(),
        recursive: Vec::new(),
    };
    // The field's own constraints are keyword arguments of the DSPy field, not part of the
    // annotation, so the top level is written without them.
    let mut schema = match ty {
        Type::Record(name) => generator.record_body(name),
        other => generator.schema(&strip_own_constraints(other)),
    };
    let top_record = match ty {
        Type::Record(name) => Some(name.as_str()),
        _ => None,
    };
    if let (Some(name), Value::Object(_)) = (top_record, &schema) {
        if generator.recursive.iter().any(|r| r == name) {
            generator.defs.insert(name.to_owned(), schema);
            schema = json!({ "$ref": format!("#/$defs/{name}") });
        }
    }
    if !generator.defs.is_empty() {
        if let Value::Object(map) = &mut schema {
            map.insert("$defs".to_owned(), Value::Object(generator.defs));
        }
    }
    sort_keys(schema)
}

/// `ty` without the constraints it declares itself (those of nested types stay).
fn strip_own_constraints(ty: &Type) -> Type {
    match ty {
        Type::String { .. } => Type::string(),
        Type::Integer { .. } => Type::integer(),
        Type::Float { .. } | Type::Probability { .. } => Type::float(),
        Type::List { item, .. } => Type::list((**item).clone()),
        Type::Map { value, .. } => Type::map((**value).clone()),
        Type::Optional(inner) => Type::optional(strip_own_constraints(inner)),
        other => other.clone(),
    }
}

struct Generator<'a> {
    document: &'a Document,
    defs: Map<String, Value>,
    /// Records whose schema is being written (to spot recursion).
    in_progress: Vec<String>,
    /// Records that refer to themselves, directly or not.
    recursive: Vec<String>,
}

impl Generator<'_> {
    /// The schema of `ty` with its own constraints (as nested types carry them).
    fn schema(&mut self, ty: &Type) -> Value {
        let mut schema = match ty {
            Type::String { .. } | Type::ReasoningChain => json!({"type": "string"}),
            Type::Integer { .. } => json!({"type": "integer"}),
            Type::Float { .. } => json!({"type": "number"}),
            // `float` with `ge=0.0, le=1.0`: the bounds come from the constraints below.
            Type::Probability { .. } => json!({"type": "number"}),
            Type::Boolean => json!({"type": "boolean"}),
            Type::Json => json!({}),
            Type::List { item, .. } => json!({"type": "array", "items": self.schema(item)}),
            Type::Map { value, .. } => {
                let values = if matches!(**value, Type::Json) {
                    Value::Bool(true)
                } else {
                    self.schema(value)
                };
                json!({"type": "object", "additionalProperties": values})
            }
            Type::Optional(inner) => json!({"anyOf": [self.schema(inner), {"type": "null"}]}),
            Type::Literals(values) if values.len() == 1 => {
                json!({"const": values[0], "type": "string"})
            }
            Type::Literals(values) => json!({"enum": values, "type": "string"}),
            Type::Enum(name) => {
                self.enumeration(name);
                json!({ "$ref": format!("#/$defs/{name}") })
            }
            Type::Record(name) => {
                self.record(name);
                json!({ "$ref": format!("#/$defs/{name}") })
            }
        };
        self.add_constraints(&mut schema, ty);
        schema
    }

    fn add_constraints(&self, schema: &mut Value, ty: &Type) {
        let Value::Object(map) = schema else { return };
        let constraints = constraints::of(ty);
        let (min_key, max_key) = match ty {
            Type::String { .. } => ("minLength", "maxLength"),
            Type::List { .. } => ("minItems", "maxItems"),
            Type::Map { .. } => ("minProperties", "maxProperties"),
            _ => ("minimum", "maximum"),
        };
        if let Some(bounds) = constraints.bounds {
            for (key, bound) in [("minimum", bounds.min), ("maximum", bounds.max)] {
                match bound {
                    Some(Number::Integer(value)) => {
                        map.insert(key.to_owned(), json!(value));
                    }
                    Some(Number::Float(value)) => {
                        map.insert(key.to_owned(), json!(value));
                    }
                    None => {}
                }
            }
        }
        if let Some(length) = constraints.length {
            if let Some(min) = length.min {
                map.insert(min_key.to_owned(), json!(min));
            }
            if let Some(max) = length.max {
                map.insert(max_key.to_owned(), json!(max));
            }
        }
        if let Some(pattern) = constraints.pattern {
            map.insert("pattern".to_owned(), json!(pattern));
        }
    }

    fn enumeration(&mut self, name: &str) {
        if self.defs.contains_key(name) {
            return;
        }
        let Some(enumeration) = self.document.enumeration(name) else {
            return;
        };
        let values: Vec<&str> = enumeration
            .variants
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        let mut schema = json!({"enum": values, "title": name, "type": "string"});
        if let (Some(docs), Value::Object(map)) = (&enumeration.docs, &mut schema) {
            map.insert("description".to_owned(), json!(cleandoc(docs)));
        }
        self.defs.insert(name.to_owned(), schema);
    }

    fn record(&mut self, name: &str) {
        if self.defs.contains_key(name) {
            return;
        }
        if self.in_progress.iter().any(|r| r == name) {
            if !self.recursive.iter().any(|r| r == name) {
                self.recursive.push(name.to_owned());
            }
            return;
        }
        let body = self.record_body(name);
        self.defs.insert(name.to_owned(), body);
    }

    /// The object schema of a record (what goes into `$defs`, or the top level).
    fn record_body(&mut self, name: &str) -> Value {
        let Some(record) = self.document.record(name) else {
            return json!({});
        };
        self.in_progress.push(name.to_owned());
        let schema = self.record_schema(record);
        self.in_progress.pop();
        schema
    }

    fn record_schema(&mut self, record: &Record) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for field in &record.fields {
            let mut property = self.field_schema(&field.ty);
            if let Value::Object(map) = &mut property {
                if !is_model_reference(&field.ty) {
                    map.insert(
                        "title".to_owned(),
                        json!(title(&field.name).replace('_', " ")),
                    );
                }
                if let Some(description) = &field.description {
                    map.insert("description".to_owned(), json!(description));
                }
                if field.ty.is_optional() {
                    map.insert("default".to_owned(), Value::Null);
                }
            }
            if !field.ty.is_optional() {
                required.push(json!(field.name));
            }
            properties.insert(field.name.clone(), property);
        }
        let mut schema = Map::new();
        if let Some(docs) = &record.docs {
            schema.insert("description".to_owned(), json!(cleandoc(docs)));
        }
        schema.insert("properties".to_owned(), Value::Object(properties));
        if !required.is_empty() {
            schema.insert("required".to_owned(), Value::Array(required));
        }
        schema.insert("title".to_owned(), json!(record.name));
        schema.insert("type".to_owned(), json!("object"));
        Value::Object(schema)
    }

    /// A record field's schema: its `pydantic.Field` constraints apply to the type under the
    /// outermost `?`.
    fn field_schema(&mut self, ty: &Type) -> Value {
        match ty {
            Type::Optional(inner) => json!({"anyOf": [self.schema(inner), {"type": "null"}]}),
            other => self.schema(other),
        }
    }
}

/// pydantic leaves out a field's title when its schema is a reference (to a model or an enum).
fn is_model_reference(ty: &Type) -> bool {
    matches!(ty.required(), Type::Record(_) | Type::Enum(_))
}

/// DSPy's `move_type_to_front`: every object's keys sorted, `type` first.
fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|(a, _), (b, _)| (a != "type", a.as_str()).cmp(&(b != "type", b)));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key, sort_keys(value)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}
