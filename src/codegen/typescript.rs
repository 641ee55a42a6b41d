//! The TypeScript codegen target: a string-literal union per `enum`, an interface per `type`,
//! `<Sig>Input` and `<Sig>Output` interfaces per signature, and `<Sig>Schema`, the non-strict
//! JSON Schemas of both sides as a `const`, so a program can validate what it sends and receives.
//!
//! Docs and field descriptions become JSDoc comments, and constraints TypeScript cannot express
//! (lengths, bounds, patterns) are spelled out in them.

use serde_json::Value;

use super::constraints::{self, Bounds, Container, Length};
use super::{header_text, json_schema, Source};
use crate::schema::{Document, Enum, Field, Signature, Type};

/// Indentation of interface members.
const INDENT: &str = "  ";

/// The `.ts` file for one document.
pub fn generate(document: &Document, source: &Source) -> String {
    let names = Names::new(document);
    let mut out = vec![format!("// {}", single_line(&header_text(source)))];
    for enumeration in &document.enums {
        out.push(String::new());
        enum_alias(&mut out, enumeration, &names);
    }
    for record in &document.records {
        out.push(String::new());
        let docs = record.docs.iter().map(String::as_str).collect::<Vec<_>>();
        interface(
            &mut out,
            &names.declared(&record.name),
            &docs,
            &record.fields,
            &names,
        );
    }
    for signature in &document.signatures {
        signature_declarations(&mut out, document, signature, &names);
    }
    if document.enums.is_empty() && document.records.is_empty() && document.signatures.is_empty() {
        // Still a module, so importing it works (and `isolatedModules` accepts it).
        out.push(String::new());
        out.push("export {};".to_string());
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// How declared names are spelled in TypeScript.
struct Names<'a> {
    document: &'a Document,
    /// A declared `type Record` shadows TypeScript's `Record<K, V>`; maps then use an index
    /// signature instead.
    record_is_shadowed: bool,
}

impl<'a> Names<'a> {
    fn new(document: &'a Document) -> Self {
        let record_is_shadowed = document.records.iter().any(|r| r.name == "Record")
            || document.enums.iter().any(|e| e.name == "Record");
        Names {
            document,
            record_is_shadowed,
        }
    }

    /// The TypeScript name of a declared `type` or `enum`: its own name, with `_` appended to
    /// the few that TypeScript reserves (`string`, `class`, ...).
    fn declared(&self, name: &str) -> String {
        let name = identifier(name);
        if RESERVED_TYPE_NAMES.contains(&name.as_str()) {
            format!("{name}_")
        } else {
            name
        }
    }

    fn map_of(&self, value: &str) -> String {
        if self.record_is_shadowed {
            format!("{{ [key: string]: {value} }}")
        } else {
            format!("Record<string, {value}>")
        }
    }
}

/// `name` as a TypeScript identifier. Declared names already are identifiers; a signature named
/// after its file (`2fa.sig`) may start with a digit or hold other characters, which become `_`.
fn identifier(name: &str) -> String {
    let mut identifier: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '$' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if identifier.is_empty() || identifier.starts_with(|c: char| c.is_ascii_digit()) {
        identifier.insert(0, '_');
    }
    identifier
}

/// Words TypeScript does not accept as the name of a type alias or interface.
const RESERVED_TYPE_NAMES: &[&str] = &[
    "any",
    "bigint",
    "boolean",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "let",
    "never",
    "new",
    "null",
    "number",
    "object",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "static",
    "string",
    "super",
    "switch",
    "symbol",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "undefined",
    "unknown",
    "var",
    "void",
    "while",
    "with",
    "yield",
];

fn enum_alias(out: &mut Vec<String>, enumeration: &Enum, names: &Names) {
    let mut docs: Vec<String> = enumeration.docs.iter().cloned().collect();
    let described: Vec<String> = enumeration
        .variants
        .iter()
        .filter_map(|variant| {
            let description = variant.description.as_deref()?;
            Some(format!("- `{}`: {}", variant.name, description))
        })
        .collect();
    if !described.is_empty() {
        docs.push(described.join("\n"));
    }
    let docs: Vec<&str> = docs.iter().map(String::as_str).collect();
    doc_comment(out, "", &docs);
    let variants: Vec<String> = enumeration
        .variants
        .iter()
        .map(|variant| string_literal(&variant.name))
        .collect();
    out.push(format!(
        "export type {} = {};",
        names.declared(&enumeration.name),
        variants.join(" | ")
    ));
}

fn signature_declarations(
    out: &mut Vec<String>,
    document: &Document,
    signature: &Signature,
    names: &Names,
) {
    let name = identifier(&signature.name);
    let instructions = signature.instructions.as_deref();
    for (suffix, side, fields) in [
        ("Input", "inputs", &signature.inputs),
        ("Output", "outputs", &signature.outputs),
    ] {
        out.push(String::new());
        let summary = format!("The {side} of the `{}` signature.", signature.name);
        let docs: Vec<&str> = [Some(summary.as_str()), instructions]
            .into_iter()
            .flatten()
            .collect();
        interface(out, &format!("{name}{suffix}"), &docs, fields, names);
    }

    out.push(String::new());
    let schemas = json_schema::plain_signature_schemas(document, signature);
    doc_comment(
        out,
        "",
        &[&format!(
            "JSON Schemas (draft 2020-12) of the inputs and outputs of `{}`.",
            signature.name
        )],
    );
    let schemas = escape_line_separators(&format!("{schemas:#}"));
    out.push(format!("export const {name}Schema = {schemas} as const;"));
}

fn interface(out: &mut Vec<String>, name: &str, docs: &[&str], fields: &[Field], names: &Names) {
    doc_comment(out, "", docs);
    if fields.is_empty() {
        // `{}` would accept any value; an empty record is an object with no keys.
        out.push(format!("export interface {name} {{"));
        out.push(format!("{INDENT}[key: string]: never;"));
        out.push("}".to_string());
        return;
    }
    out.push(format!("export interface {name} {{"));
    for field in fields {
        let mut field_docs: Vec<String> = field.description.iter().cloned().collect();
        let notes = constraint_notes(&field.ty);
        if !notes.is_empty() {
            field_docs.push(notes.join("\n"));
        }
        let field_docs: Vec<&str> = field_docs.iter().map(String::as_str).collect();
        doc_comment(out, INDENT, &field_docs);
        let key = property_key(&field.name);
        let line = match &field.ty {
            Type::Optional(inner) => format!("{key}?: {} | null;", type_text(inner, names)),
            ty => format!("{key}: {};", type_text(ty, names)),
        };
        out.push(format!("{INDENT}{line}"));
    }
    out.push("}".to_string());
}

/// The TypeScript spelling of a type.
fn type_text(ty: &Type, names: &Names) -> String {
    match ty {
        Type::String { .. } | Type::ReasoningChain => "string".into(),
        Type::Integer { .. } | Type::Float { .. } | Type::Probability { .. } => "number".into(),
        Type::Boolean => "boolean".into(),
        Type::Json => "unknown".into(),
        Type::List { item, .. } => {
            let item_text = type_text(item, names);
            if is_union(item) {
                format!("({item_text})[]")
            } else {
                format!("{item_text}[]")
            }
        }
        Type::Map { value, .. } => names.map_of(&type_text(value, names)),
        Type::Optional(inner) => format!("{} | null", type_text(inner, names)),
        Type::Literals(literals) => {
            let literals: Vec<String> = literals.iter().map(|l| string_literal(l)).collect();
            literals.join(" | ")
        }
        Type::Record(name) | Type::Enum(name) => {
            let declared =
                names.document.record(name).is_some() || names.document.enumeration(name).is_some();
            // The checker resolves every name; an unknown one stays as loose as `json`.
            if declared {
                names.declared(name)
            } else {
                "unknown".into()
            }
        }
    }
}

/// Whether `type_text` spells `ty` as a union, which needs parentheses before `[]`.
fn is_union(ty: &Type) -> bool {
    match ty {
        Type::Optional(_) => true,
        Type::Literals(literals) => literals.len() > 1,
        _ => false,
    }
}

/// What the type promises beyond its TypeScript type, one sentence a line.
fn constraint_notes(ty: &Type) -> Vec<String> {
    constraint_phrases(ty)
        .into_iter()
        .map(|phrase| format!("{}.", capitalized(&phrase)))
        .collect()
}

/// The constraints of every level of `ty`, nested ones after `each item: ` or `each value: `.
fn constraint_phrases(ty: &Type) -> Vec<String> {
    let mut phrases = Vec::new();
    for level in constraints::levels(ty) {
        let subject: String = level
            .path
            .iter()
            .map(|container| match container {
                Container::ListItems => "each item: ",
                Container::MapValues => "each value: ",
            })
            .collect();
        let own = level.constraints;
        let level_phrases = [
            own.length.and_then(count_phrase),
            own.bounds.and_then(bound_phrase),
            own.pattern
                .map(|pattern| format!("matches the regular expression `{pattern}`")),
        ];
        phrases.extend(
            level_phrases
                .into_iter()
                .flatten()
                .map(|phrase| format!("{subject}{phrase}")),
        );
    }
    phrases
}

/// "at least 1 item", "at most 5 characters", "from 1 to 3 entries".
fn count_phrase(length: Length) -> Option<String> {
    let unit = length.unit;
    match (length.min, length.max) {
        (Some(min), Some(max)) if min == max => {
            Some(format!("exactly {min} {}", unit.counted(min)))
        }
        (Some(min), Some(max)) => Some(format!("from {min} to {max} {}", unit.counted(max))),
        (Some(min), None) => Some(format!("at least {min} {}", unit.counted(min))),
        (None, Some(max)) => Some(format!("at most {max} {}", unit.counted(max))),
        (None, None) => None,
    }
}

/// "at least 0", "at most 5", "from 1 to 5", "a probability from 0 to 1".
fn bound_phrase(bounds: Bounds) -> Option<String> {
    match (bounds.min, bounds.max) {
        (Some(min), Some(max)) if bounds.probability => {
            Some(format!("a probability from {min} to {max}"))
        }
        (Some(min), Some(max)) => Some(format!("from {min} to {max}")),
        (Some(min), None) => Some(format!("at least {min}")),
        (None, Some(max)) => Some(format!("at most {max}")),
        (None, None) => None,
    }
}

fn capitalized(phrase: &str) -> String {
    let mut chars = phrase.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Writes `paragraphs` as one JSDoc comment, separated by empty lines; nothing when empty.
fn doc_comment(out: &mut Vec<String>, indent: &str, paragraphs: &[&str]) {
    let mut lines: Vec<String> = Vec::new();
    for paragraph in paragraphs {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        // Every line terminator JavaScript knows starts a new comment line.
        let paragraph = paragraph.replace("\r\n", "\n");
        let paragraph_lines = paragraph
            .trim_end()
            .split(['\n', '\r', '\u{2028}', '\u{2029}']);
        lines.extend(paragraph_lines.map(|line| comment_safe(line.trim_end())));
    }
    match lines.as_slice() {
        [] => {}
        [line] => out.push(format!("{indent}/** {line} */")),
        lines => {
            out.push(format!("{indent}/**"));
            for line in lines {
                if line.is_empty() {
                    out.push(format!("{indent} *"));
                } else {
                    out.push(format!("{indent} * {line}"));
                }
            }
            out.push(format!("{indent} */"));
        }
    }
}

/// Text that cannot end the comment it is in: `*/` becomes `*\/`.
fn comment_safe(text: &str) -> String {
    text.replace("*/", "*\\/")
}

/// Text that fits on one `//` line: every line terminator JavaScript knows becomes a space.
fn single_line(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => ' ',
            c => c,
        })
        .collect()
}

/// A double-quoted TypeScript string literal: JSON's escaping, which is valid TypeScript, plus
/// escaped line and paragraph separators, which JSON leaves as they are.
fn string_literal(text: &str) -> String {
    escape_line_separators(&Value::String(text.to_string()).to_string())
}

/// JSON text with U+2028 and U+2029 escaped. They can only occur inside its strings, where
/// they are valid but invisible, and editors and compilers count them as line breaks.
fn escape_line_separators(json: &str) -> String {
    json.replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// A property name as written in an interface: bare when it is a plain ASCII identifier,
/// quoted otherwise (`"prénom"`), which TypeScript accepts for any name.
fn property_key(name: &str) -> String {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if plain {
        name.to_string()
    } else {
        string_literal(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Record;

    fn source() -> Source {
        Source::new("signatures/qa.sig", "qa")
    }

    fn render(ty: Type) -> String {
        let document = Document::default();
        type_text(&ty, &Names::new(&document))
    }

    #[test]
    fn types_are_spelled_as_typescript() {
        let literals = || Type::literals(&["a", "b\"c"]);
        assert_eq!(render(Type::string()), "string");
        assert_eq!(render(Type::ReasoningChain), "string");
        assert_eq!(render(Type::probability()), "number");
        assert_eq!(render(Type::Json), "unknown");
        assert_eq!(render(literals()), r#""a" | "b\"c""#);
        assert_eq!(
            render(Type::literals(&["line\u{2028}break"])),
            r#""line\u2028break""#
        );
        assert_eq!(render(Type::list(literals())), r#"("a" | "b\"c")[]"#);
        assert_eq!(render(Type::list(Type::literals(&["a"]))), r#""a"[]"#);
        assert_eq!(
            render(Type::list(Type::optional(Type::Boolean))),
            "(boolean | null)[]"
        );
        assert_eq!(
            render(Type::map(Type::list(Type::string()))),
            "Record<string, string[]>"
        );
    }

    #[test]
    fn property_keys_are_quoted_when_not_plain_identifiers() {
        assert_eq!(property_key("question"), "question");
        assert_eq!(property_key("type"), "type");
        assert_eq!(property_key("_private2"), "_private2");
        assert_eq!(property_key("prénom"), "\"prénom\"");
        assert_eq!(property_key("2fa"), "\"2fa\"");
    }

    #[test]
    fn names_become_identifiers() {
        assert_eq!(identifier("QuestionAnswer"), "QuestionAnswer");
        assert_eq!(identifier("Größe"), "Größe");
        assert_eq!(identifier("2fa"), "_2fa");
        assert_eq!(identifier("Qa+v2"), "Qa_v2");
    }

    #[test]
    fn docs_cannot_close_their_comment() {
        let mut out = Vec::new();
        doc_comment(
            &mut out,
            "",
            &["a */ b", "second\r\nparagraph\u{2028}third line\n"],
        );
        assert_eq!(
            out,
            [
                "/**",
                " * a *\\/ b",
                " *",
                " * second",
                " * paragraph",
                " * third line",
                " */"
            ]
        );
    }

    #[test]
    fn constraints_are_described() {
        let notes = constraint_notes(&Type::List {
            item: Box::new(Type::String {
                min_length: None,
                max_length: Some(40),
                pattern: Some("^[a-z]+$".into()),
            }),
            min_items: Some(1),
            max_items: Some(1),
        });
        assert_eq!(
            notes,
            [
                "Exactly 1 item.",
                "Each item: at most 40 characters.",
                "Each item: matches the regular expression `^[a-z]+$`."
            ]
        );
        let probability = Type::Probability {
            min: Some(0.5),
            max: None,
        };
        assert_eq!(
            constraint_notes(&probability),
            ["A probability from 0.5 to 1."]
        );
        let entries = Type::Map {
            value: Box::new(Type::integer_range(Some(0), None)),
            min_entries: Some(2),
            max_entries: Some(20),
        };
        assert_eq!(
            constraint_notes(&entries),
            ["From 2 to 20 entries.", "Each value: at least 0."]
        );
    }

    #[test]
    fn reserved_names_and_a_shadowed_record_type_stay_valid() {
        let document = Document {
            records: vec![Record::new(
                "Record",
                vec![Field::new("tags", Type::map(Type::enumeration("string")))],
            )],
            enums: vec![Enum::new("string", &["x"])],
            ..Document::default()
        };
        let text = generate(&document, &source());
        assert!(text.contains("export type string_ = \"x\";"), "{text}");
        assert!(text.contains("tags: { [key: string]: string_ };"), "{text}");
    }

    #[test]
    fn a_signature_gives_two_interfaces_and_a_schema_constant() {
        let document = Document {
            signatures: vec![Signature::new(
                "QA",
                vec![Field::new("question", Type::string()).with_description("the question")],
                vec![
                    Field::new("answer", Type::string()),
                    Field::new(
                        "score",
                        Type::optional(Type::integer_range(Some(1), Some(5))),
                    )
                    .with_description("how good"),
                ],
            )
            .with_instructions("Answer questions.")],
            ..Document::default()
        };
        let text = generate(&document, &source());
        let expected_start = "\
// generated by dspex from signatures/qa.sig; do not edit

/**
 * The inputs of the `QA` signature.
 *
 * Answer questions.
 */
export interface QAInput {
  /** the question */
  question: string;
}

/**
 * The outputs of the `QA` signature.
 *
 * Answer questions.
 */
export interface QAOutput {
  answer: string;
  /**
   * how good
   *
   * From 1 to 5.
   */
  score?: number | null;
}

/** JSON Schemas (draft 2020-12) of the inputs and outputs of `QA`. */
export const QASchema = {
  \"inputs\": {
    \"$schema\": \"https://json-schema.org/draft/2020-12/schema\",
    \"title\": \"QAInputs\",";
        assert!(text.starts_with(expected_start), "{text}");
        assert!(text.ends_with("} as const;\n"), "{text}");
        assert_eq!(text, generate(&document, &source()));
    }

    #[test]
    fn the_header_stays_on_one_line_and_an_empty_file_is_a_module() {
        let document = Document::default();
        let source = Source::new("odd\nname.sig", "odd");
        assert_eq!(
            generate(&document, &source),
            "// generated by dspex from odd name.sig; do not edit\n\nexport {};\n"
        );
    }
}
