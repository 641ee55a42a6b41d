//! JSON Schema (draft 2020-12) for the inputs and outputs of signatures, and the `.schema.json`
//! codegen target built from it.
//!
//! Two variants exist. The plain one follows the type table of the language (spec section 3):
//! optional fields may be left out, signature objects accept extra keys, records do not. The
//! strict one is what OpenAI structured outputs accept: every property is required (an optional
//! field becomes "T or null"), every object says `additionalProperties: false`, a `$ref` has no
//! sibling keywords, and string lengths are left to dspex's own validation, because strict mode
//! does not document `minLength`/`maxLength`. Types without a fixed shape (`map[T]`, `json`) make
//! the strict variant fail with a [`StrictError`] naming the field.

use serde_json::{Map, Value};
use thiserror::Error;

use super::constraints::{self, Number, Unit};
use super::{header_text, Source};
use crate::schema::{Document, Enum, Field, Record, Signature, Type};

/// The `$schema` of every signature schema.
const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// Which half of a signature a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Inputs,
    Outputs,
}

impl Side {
    fn fields(self, signature: &Signature) -> &[Field] {
        match self {
            Side::Inputs => &signature.inputs,
            Side::Outputs => &signature.outputs,
        }
    }

    /// The lowercase name used in paths and as the key in [`signature_schemas`].
    fn key(self) -> &'static str {
        match self {
            Side::Inputs => "inputs",
            Side::Outputs => "outputs",
        }
    }

    /// The suffix of the schema's `title` (`QAInputs`).
    fn title_suffix(self) -> &'static str {
        match self {
            Side::Inputs => "Inputs",
            Side::Outputs => "Outputs",
        }
    }
}

/// A field whose type the strict (OpenAI structured outputs) schema cannot express.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("field `{path}` cannot be part of a strict schema: {reason}")]
pub struct StrictError {
    /// Where the field is: `QA.outputs.metadata` for a signature field, `Source.extra` for a
    /// field of a `type`.
    pub path: String,
    /// Why strict mode cannot express its type.
    pub reason: String,
}

impl StrictError {
    /// What the user can do about it.
    pub fn help(&self) -> &'static str {
        "declare a `type` with the keys you expect and use it for this field, \
         or use the non-strict schema"
    }
}

/// The JSON Schema of one side of `signature`; `strict` selects the OpenAI structured-outputs
/// variant, which fails on types it cannot express.
pub fn signature_schema(
    document: &Document,
    signature: &Signature,
    side: Side,
    strict: bool,
) -> Result<Value, StrictError> {
    let mut builder = Builder::new(document, strict);
    let schema = builder.side(signature, side);
    builder.finish(schema)
}

/// `{"inputs": ..., "outputs": ...}` for one signature.
pub fn signature_schemas(
    document: &Document,
    signature: &Signature,
    strict: bool,
) -> Result<Value, StrictError> {
    let mut builder = Builder::new(document, strict);
    let schemas = builder.sides(signature);
    builder.finish(schemas)
}

/// Both sides of every signature, keyed by signature name in declaration order.
pub fn document_schemas(document: &Document, strict: bool) -> Result<Value, StrictError> {
    let mut builder = Builder::new(document, strict);
    let schemas = builder.document();
    builder.finish(schemas)
}

/// [`signature_schemas`] without strict mode, which cannot fail.
pub(crate) fn plain_signature_schemas(document: &Document, signature: &Signature) -> Value {
    Builder::new(document, false).sides(signature)
}

/// The `.schema.json` file: a `$comment` header, then the non-strict schemas of every signature.
pub fn generate(document: &Document, source: &Source) -> String {
    // Without strict mode the builder records no problem, so there is nothing to report.
    let signatures = Builder::new(document, false).document();
    let mut file = Map::new();
    file.insert("$comment".into(), Value::String(header_text(source)));
    file.insert("signatures".into(), signatures);
    // `{:#}` is serde_json's pretty printer, which cannot fail on a `Value`.
    format!("{:#}\n", Value::Object(file))
}

/// Builds schemas for one document; in strict mode it remembers the first field it could not
/// express and keeps going, so callers get one error and the builder needs no early returns.
struct Builder<'a> {
    document: &'a Document,
    strict: bool,
    problem: Option<StrictError>,
    /// Records being inlined in strict mode, to stop at a record that contains itself.
    inlining: Vec<&'a str>,
}

impl<'a> Builder<'a> {
    fn new(document: &'a Document, strict: bool) -> Self {
        Builder {
            document,
            strict,
            problem: None,
            inlining: Vec::new(),
        }
    }

    fn finish(self, value: Value) -> Result<Value, StrictError> {
        match self.problem {
            Some(problem) => Err(problem),
            None => Ok(value),
        }
    }

    fn unsupported(&mut self, path: &str, reason: &str) {
        if self.problem.is_none() {
            self.problem = Some(StrictError {
                path: path.to_string(),
                reason: reason.to_string(),
            });
        }
    }

    fn document(&mut self) -> Value {
        let document = self.document;
        let mut schemas = Map::new();
        for signature in &document.signatures {
            schemas.insert(signature.name.clone(), self.sides(signature));
        }
        Value::Object(schemas)
    }

    fn sides(&mut self, signature: &'a Signature) -> Value {
        let mut sides = Map::new();
        for side in [Side::Inputs, Side::Outputs] {
            sides.insert(side.key().into(), self.side(signature, side));
        }
        Value::Object(sides)
    }

    fn side(&mut self, signature: &'a Signature, side: Side) -> Value {
        let fields = side.fields(signature);
        let mut schema = Map::new();
        schema.insert("$schema".into(), DRAFT_2020_12.into());
        schema.insert(
            "title".into(),
            format!("{}{}", signature.name, side.title_suffix()).into(),
        );
        if let Some(instructions) = &signature.instructions {
            schema.insert("description".into(), instructions.as_str().into());
        }
        let path = format!("{}.{}", signature.name, side.key());
        // An example or a reply may carry keys of the other side; only strict mode closes it.
        self.object_body(&mut schema, fields, &path, self.strict);

        let definitions = self.document.definitions_used_by(fields);
        if !definitions.is_empty() {
            let mut defs = Map::new();
            for enumeration in definitions.enums {
                defs.insert(enumeration.name.clone(), enum_schema(enumeration));
            }
            for record in definitions.records {
                defs.insert(record.name.clone(), self.record_schema(record));
            }
            schema.insert("$defs".into(), Value::Object(defs));
        }
        Value::Object(schema)
    }

    /// `type`, `properties`, `required` and, when `closed`, `additionalProperties: false`.
    fn object_body(
        &mut self,
        schema: &mut Map<String, Value>,
        fields: &'a [Field],
        path: &str,
        closed: bool,
    ) {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for field in fields {
            let field_path = format!("{path}.{}", field.name);
            properties.insert(field.name.clone(), self.field_schema(field, &field_path));
            if self.strict || !field.ty.is_optional() {
                required.push(Value::String(field.name.clone()));
            }
        }
        schema.insert("type".into(), "object".into());
        schema.insert("properties".into(), Value::Object(properties));
        schema.insert("required".into(), Value::Array(required));
        if closed {
            schema.insert("additionalProperties".into(), false.into());
        }
    }

    fn record_schema(&mut self, record: &'a Record) -> Value {
        let mut schema = Map::new();
        if let Some(docs) = &record.docs {
            schema.insert("description".into(), docs.as_str().into());
        }
        self.object_body(&mut schema, &record.fields, &record.name, true);
        Value::Object(schema)
    }

    fn field_schema(&mut self, field: &'a Field, path: &str) -> Value {
        let Some(description) = &field.description else {
            return self.type_schema(&field.ty, path);
        };
        let schema = match &field.ty {
            // Strict mode allows no keyword beside `$ref`, so the definition is inlined to carry
            // the description; a record inside itself keeps its bare `$ref` instead.
            Type::Record(name) | Type::Enum(name) if self.strict => {
                match self.inline_definition(name) {
                    Some(definition) => definition,
                    None => return self.type_schema(&field.ty, path),
                }
            }
            _ => self.type_schema(&field.ty, path),
        };
        described(description, schema)
    }

    /// The schema of the record or enum `name`, built afresh; `None` for a record that is
    /// already being inlined (it contains itself).
    fn inline_definition(&mut self, name: &'a str) -> Option<Value> {
        if let Some(enumeration) = self.document.enumeration(name) {
            return Some(enum_schema(enumeration));
        }
        let record = self.document.record(name)?;
        if self.inlining.contains(&name) {
            return None;
        }
        self.inlining.push(name);
        let inlined = self.record_schema(record);
        self.inlining.pop();
        Some(inlined)
    }

    fn type_schema(&mut self, ty: &'a Type, path: &str) -> Value {
        let mut schema = Map::new();
        if let Some(json_type) = json_type(ty) {
            schema.insert("type".into(), json_type.into());
        }
        match ty {
            Type::Json if self.strict => self.unsupported(
                path,
                "`json` has no fixed shape, and strict mode needs the type of every value",
            ),
            Type::List { item, .. } => {
                schema.insert("items".into(), self.type_schema(item, path));
            }
            Type::Map { value, .. } => {
                if self.strict {
                    self.unsupported(
                        path,
                        "the keys of a `map` are not known in advance, \
                         and strict mode needs every key listed",
                    );
                }
                schema.insert("additionalProperties".into(), self.type_schema(value, path));
            }
            Type::Optional(inner) => {
                let inner = self.type_schema(inner, path);
                let null = Value::Object(Map::from_iter([("type".into(), "null".into())]));
                schema.insert("anyOf".into(), Value::Array(vec![inner, null]));
            }
            Type::Literals(literals) => {
                schema.insert("enum".into(), literals.clone().into());
            }
            Type::Record(name) | Type::Enum(name) => {
                schema.insert("$ref".into(), reference(name).into());
            }
            Type::String { .. }
            | Type::ReasoningChain
            | Type::Integer { .. }
            | Type::Float { .. }
            | Type::Boolean
            | Type::Probability { .. }
            | Type::Json => {}
        }
        self.insert_constraints(&mut schema, ty);
        Value::Object(schema)
    }

    /// The keywords for what `ty` constrains itself, after its other keywords. Strict mode
    /// leaves string lengths to dspex's own validation.
    fn insert_constraints(&self, schema: &mut Map<String, Value>, ty: &Type) {
        let constraints = constraints::of(ty);
        if let Some(length) = constraints.length {
            let (min_key, max_key) = match length.unit {
                Unit::Character => ("minLength", "maxLength"),
                Unit::Item => ("minItems", "maxItems"),
                Unit::Entry => ("minProperties", "maxProperties"),
            };
            if !(self.strict && length.unit == Unit::Character) {
                insert_count(schema, min_key, length.min);
                insert_count(schema, max_key, length.max);
            }
        }
        if let Some(bounds) = constraints.bounds {
            insert_number(schema, "minimum", bounds.min);
            insert_number(schema, "maximum", bounds.max);
        }
        if let Some(pattern) = constraints.pattern {
            schema.insert("pattern".into(), pattern.into());
        }
    }
}

/// The JSON type of every value of `ty`, where there is one.
fn json_type(ty: &Type) -> Option<&'static str> {
    match ty {
        Type::String { .. } | Type::ReasoningChain | Type::Literals(_) => Some("string"),
        Type::Integer { .. } => Some("integer"),
        Type::Float { .. } | Type::Probability { .. } => Some("number"),
        Type::Boolean => Some("boolean"),
        Type::List { .. } => Some("array"),
        Type::Map { .. } => Some("object"),
        Type::Json | Type::Optional(_) | Type::Record(_) | Type::Enum(_) => None,
    }
}

/// `schema` with `description` as its first keyword, replacing any description it had.
fn described(description: &str, schema: Value) -> Value {
    let Value::Object(schema) = schema else {
        return schema;
    };
    let mut described = Map::new();
    described.insert("description".into(), description.into());
    described.extend(schema.into_iter().filter(|(key, _)| key != "description"));
    Value::Object(described)
}

fn enum_schema(enumeration: &Enum) -> Value {
    let mut schema = Map::new();
    if let Some(docs) = &enumeration.docs {
        schema.insert("description".into(), docs.as_str().into());
    }
    schema.insert("type".into(), "string".into());
    let variants = enumeration
        .variants
        .iter()
        .map(|variant| Value::String(variant.name.clone()))
        .collect();
    schema.insert("enum".into(), Value::Array(variants));
    Value::Object(schema)
}

/// `#/$defs/Name` as a URI fragment: a JSON pointer (RFC 6901) with every byte outside the
/// unreserved ASCII set percent-encoded, so non-ASCII type names stay valid references.
fn reference(name: &str) -> String {
    let mut pointer = String::from("#/$defs/");
    for byte in name.bytes() {
        match byte {
            b'~' => pointer.push_str("~0"),
            b'/' => pointer.push_str("~1"),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => {
                pointer.push(char::from(byte))
            }
            _ => pointer.push_str(&format!("%{byte:02X}")),
        }
    }
    pointer
}

fn insert_count(schema: &mut Map<String, Value>, key: &str, count: Option<u64>) {
    if let Some(count) = count {
        schema.insert(key.into(), count.into());
    }
}

/// Inserts a bound as a JSON number: an integer as an integer, a float as a float (`0.0`). A
/// float JSON cannot hold (NaN, infinity) is left out.
fn insert_number(schema: &mut Map<String, Value>, key: &str, value: Option<Number>) {
    let number = match value {
        Some(Number::Integer(integer)) => Some(integer.into()),
        Some(Number::Float(float)) => serde_json::Number::from_f64(float),
        None => None,
    };
    if let Some(number) = number {
        schema.insert(key.into(), Value::Number(number));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn qa() -> Document {
        Document {
            signatures: vec![Signature::new(
                "QA",
                vec![Field::new("question", Type::string()).with_description("the question")],
                vec![
                    Field::new("answer", Type::string())
                        .with_description("often between 1 and 5 words"),
                    Field::new("confidence", Type::probability()),
                ],
            )
            .with_instructions("Answer questions with short factoid answers.")],
            ..Document::default()
        }
    }

    /// A document with a record, an enum, an optional field and inner constraints.
    fn triage() -> Document {
        Document {
            signatures: vec![Signature::new(
                "Triage",
                vec![Field::new(
                    "subject",
                    Type::String {
                        min_length: Some(1),
                        max_length: Some(200),
                        pattern: None,
                    },
                )],
                vec![
                    Field::new("team", Type::enumeration("Team"))
                        .with_description("who handles it"),
                    Field::new(
                        "urgency",
                        Type::optional(Type::integer_range(Some(1), Some(5))),
                    ),
                    Field::new(
                        "sources",
                        Type::List {
                            item: Box::new(Type::record("Source")),
                            min_items: Some(1),
                            max_items: None,
                        },
                    ),
                    Field::new("owner", Type::record("Source")).with_description("the owner"),
                ],
            )],
            records: vec![Record::new(
                "Source",
                vec![
                    Field::new("title", Type::string()),
                    Field::new("score", Type::optional(Type::float_range(Some(-1.0), None)))
                        .with_description("relevance"),
                ],
            )
            .with_docs("A cited source.")],
            enums: vec![
                Enum::new("Team", &["billing", "shipping"]).with_docs("Where the ticket goes."),
                Enum::new("Unused", &["x"]),
            ],
            programs: Vec::new(),
        }
    }

    fn with_output(document: &mut Document, output: Field) {
        document.signatures[0].outputs.push(output);
    }

    #[test]
    fn inputs_of_a_simple_signature() {
        let document = qa();
        let schema =
            signature_schema(&document, &document.signatures[0], Side::Inputs, false).unwrap();
        assert_eq!(
            schema,
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": "QAInputs",
                "description": "Answer questions with short factoid answers.",
                "type": "object",
                "properties": {
                    "question": {"description": "the question", "type": "string"}
                },
                "required": ["question"]
            })
        );
    }

    #[test]
    fn probability_is_a_number_between_zero_and_one() {
        let document = qa();
        let schema =
            signature_schema(&document, &document.signatures[0], Side::Outputs, false).unwrap();
        assert_eq!(schema["title"], "QAOutputs");
        assert_eq!(
            schema["properties"]["confidence"],
            json!({"type": "number", "minimum": 0.0, "maximum": 1.0})
        );
        assert_eq!(schema["required"], json!(["answer", "confidence"]));
        // Floats stay floats in the text.
        let text = schema["properties"]["confidence"].to_string();
        assert_eq!(text, r#"{"type":"number","minimum":0.0,"maximum":1.0}"#);
    }

    #[test]
    fn definitions_references_and_constraints() {
        let document = triage();
        let schema =
            signature_schema(&document, &document.signatures[0], Side::Outputs, false).unwrap();
        assert_eq!(
            schema,
            json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": "TriageOutputs",
                "type": "object",
                "properties": {
                    "team": {"description": "who handles it", "$ref": "#/$defs/Team"},
                    "urgency": {"anyOf": [
                        {"type": "integer", "minimum": 1, "maximum": 5},
                        {"type": "null"}
                    ]},
                    "sources": {
                        "type": "array",
                        "items": {"$ref": "#/$defs/Source"},
                        "minItems": 1
                    },
                    "owner": {"description": "the owner", "$ref": "#/$defs/Source"}
                },
                "required": ["team", "sources", "owner"],
                "$defs": {
                    "Team": {
                        "description": "Where the ticket goes.",
                        "type": "string",
                        "enum": ["billing", "shipping"]
                    },
                    "Source": {
                        "description": "A cited source.",
                        "type": "object",
                        "properties": {
                            "title": {"type": "string"},
                            "score": {
                                "description": "relevance",
                                "anyOf": [{"type": "number", "minimum": -1.0}, {"type": "null"}]
                            }
                        },
                        "required": ["title"],
                        "additionalProperties": false
                    }
                }
            })
        );
        let inputs =
            signature_schema(&document, &document.signatures[0], Side::Inputs, false).unwrap();
        assert_eq!(
            inputs["properties"]["subject"],
            json!({"type": "string", "minLength": 1, "maxLength": 200})
        );
        assert!(inputs.get("$defs").is_none(), "inputs use no definitions");
    }

    #[test]
    fn strict_requires_everything_and_closes_every_object() {
        let document = triage();
        let schema =
            signature_schema(&document, &document.signatures[0], Side::Outputs, true).unwrap();
        assert_eq!(
            schema["required"],
            json!(["team", "urgency", "sources", "owner"])
        );
        assert_eq!(schema["additionalProperties"], json!(false));
        let source = &schema["$defs"]["Source"];
        assert_eq!(source["required"], json!(["title", "score"]));
        assert_eq!(source["additionalProperties"], json!(false));
        // No keyword beside `$ref`: described references are inlined.
        assert_eq!(
            schema["properties"]["team"],
            json!({"description": "who handles it", "type": "string", "enum": ["billing", "shipping"]})
        );
        assert_eq!(schema["properties"]["owner"]["description"], "the owner");
        assert_eq!(schema["properties"]["owner"]["type"], "object");
        assert_eq!(
            schema["properties"]["sources"]["items"],
            json!({"$ref": "#/$defs/Source"})
        );
        // Lengths are not part of the documented strict subset; the validator checks them.
        let inputs =
            signature_schema(&document, &document.signatures[0], Side::Inputs, true).unwrap();
        assert_eq!(inputs["properties"]["subject"], json!({"type": "string"}));
    }

    #[test]
    fn strict_stops_at_a_record_that_contains_itself() {
        let document = Document {
            signatures: vec![Signature::new(
                "Tree",
                vec![Field::new("text", Type::string())],
                vec![Field::new("root", Type::record("Node")).with_description("the root")],
            )],
            records: vec![Record::new(
                "Node",
                vec![Field::new("next", Type::record("Node")).with_description("the next node")],
            )],
            ..Document::default()
        };
        let schema =
            signature_schema(&document, &document.signatures[0], Side::Outputs, true).unwrap();
        assert_eq!(
            schema["properties"]["root"]["properties"]["next"],
            json!({"$ref": "#/$defs/Node"})
        );
    }

    #[test]
    fn strict_rejects_maps_and_json_and_names_the_field() {
        let mut document = qa();
        with_output(
            &mut document,
            Field::new("metadata", Type::map(Type::string())),
        );
        let signature = &document.signatures[0];
        let error = signature_schema(&document, signature, Side::Outputs, true).unwrap_err();
        assert_eq!(error.path, "QA.outputs.metadata");
        assert_eq!(
            error.to_string(),
            "field `QA.outputs.metadata` cannot be part of a strict schema: the keys of a `map` \
             are not known in advance, and strict mode needs every key listed"
        );
        assert!(error.help().contains("`type`"));
        // The inputs do not use the map, and the non-strict schema accepts it.
        assert!(signature_schema(&document, signature, Side::Inputs, true).is_ok());
        assert!(signature_schemas(&document, signature, false).is_ok());
        assert!(document_schemas(&document, true).is_err());

        let mut document = triage();
        document.records[0]
            .fields
            .push(Field::new("extra", Type::list(Type::Json)));
        let error = document_schemas(&document, true).unwrap_err();
        assert_eq!(error.path, "Source.extra");
        assert!(error.reason.contains("`json`"));
    }

    #[test]
    fn json_maps_and_literals() {
        let mut document = qa();
        with_output(&mut document, Field::new("raw", Type::Json));
        with_output(
            &mut document,
            Field::new(
                "stock",
                Type::Map {
                    value: Box::new(Type::integer_range(Some(0), None)),
                    min_entries: None,
                    max_entries: Some(20),
                },
            ),
        );
        with_output(
            &mut document,
            Field::new("condition", Type::literals(&["new", "used"])),
        );
        let schema =
            signature_schema(&document, &document.signatures[0], Side::Outputs, false).unwrap();
        let properties = &schema["properties"];
        assert_eq!(properties["raw"], json!({}));
        assert_eq!(
            properties["stock"],
            json!({
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0},
                "maxProperties": 20
            })
        );
        assert_eq!(
            properties["condition"],
            json!({"type": "string", "enum": ["new", "used"]})
        );
    }

    #[test]
    fn non_ascii_type_names_are_percent_encoded_in_references() {
        assert_eq!(reference("Größe"), "#/$defs/Gr%C3%B6%C3%9Fe");
        assert_eq!(reference("Source_2"), "#/$defs/Source_2");
    }

    #[test]
    fn document_schemas_are_keyed_by_signature_in_order() {
        let mut document = qa();
        let mut second = document.signatures[0].clone();
        second.name = "Another".into();
        document.signatures.push(second);
        let schemas = document_schemas(&document, false).unwrap();
        let names: Vec<&String> = schemas.as_object().unwrap().keys().collect();
        assert_eq!(names, ["QA", "Another"]);
        assert_eq!(schemas["Another"]["inputs"]["title"], "AnotherInputs");
        assert_eq!(schemas["QA"]["outputs"]["title"], "QAOutputs");
    }

    #[test]
    fn generated_file_starts_with_the_header_and_is_deterministic() {
        let document = triage();
        let source = Source::new("signatures/triage.sig", "triage");
        let text = generate(&document, &source);
        assert!(text.starts_with(
            "{\n  \"$comment\": \"generated by dspex from signatures/triage.sig; do not edit\",\n  \"signatures\": {"
        ));
        assert!(text.ends_with("}\n"));
        assert_eq!(text, generate(&document, &source));
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed["signatures"]["Triage"]["outputs"],
            signature_schema(&document, &document.signatures[0], Side::Outputs, false).unwrap()
        );
    }
}
