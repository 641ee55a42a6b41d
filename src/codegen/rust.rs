//! Rust target: serde types for the inputs and outputs of every signature, and for the
//! records, enums and literal unions they use.
//!
//! The output is a plain list of items (no inner attributes), so it works as a module file or
//! through `include!`. It needs `serde` (with `derive`) and `serde_json` in the crate that uses
//! it. Names are planned once per document before anything is written: every Rust name is a
//! valid identifier, unique in its namespace, and the JSON names stay exactly as declared
//! (`#[serde(rename = "...")]` wherever the Rust name differs).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::OnceLock;

use heck::{ToSnakeCase, ToUpperCamelCase};

use super::constraints::{self, Bounds, Container, Length};
use super::{header_text, Source};
use crate::schema::{Document, Field, Type};

/// Writes the Rust module for one checked document.
pub fn generate(document: &Document, source: &Source) -> String {
    let plan = Plan::new(document);
    let mut writer = Writer::default();
    writer.line(&format!("// {}", comment_safe(&header_text(source))));
    for (signature, structs) in document.signatures.iter().zip(&plan.signatures) {
        let instructions = signature.instructions.as_deref();
        for (side, fields, shape) in [
            ("Inputs", &signature.inputs, &structs.input),
            ("Outputs", &signature.outputs, &structs.output),
        ] {
            let mut docs = format!("{side} of the `{}` signature.", signature.name);
            if let Some(instructions) = instructions {
                docs.push_str("\n\n");
                docs.push_str(instructions);
            }
            plan.write_struct(&mut writer, &docs, fields, shape);
        }
    }
    for (record, shape) in document.records.iter().zip(&plan.records) {
        let docs = record.docs.clone().unwrap_or_default();
        plan.write_struct(&mut writer, &docs, &record.fields, shape);
    }
    for (enumeration, (ident, variant_idents)) in document.enums.iter().zip(&plan.enums) {
        let variants: Vec<EnumVariant> = enumeration
            .variants
            .iter()
            .zip(variant_idents)
            .map(|(variant, ident)| EnumVariant {
                ident,
                json: &variant.name,
                docs: variant.description.as_deref(),
            })
            .collect();
        let docs = enumeration.docs.as_deref().unwrap_or_default();
        plan.write_enum(&mut writer, docs, ident, &variants);
    }
    writer.output
}

/// The Rust struct names chosen for one signature's inputs and outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureTypes {
    /// The signature's name in the `.sig` file.
    pub signature: String,
    /// Usually `<Signature>Input`; suffixed with a number if that name is taken.
    pub input: String,
    /// Usually `<Signature>Output`; suffixed with a number if that name is taken.
    pub output: String,
}

/// The struct names [`generate`] gives each signature's inputs and outputs, in declaration
/// order, so code that uses the generated module (and its tests) need not guess them.
pub fn signature_types(document: &Document) -> Vec<SignatureTypes> {
    let plan = Plan::new(document);
    document
        .signatures
        .iter()
        .zip(plan.signatures)
        .map(|(signature, structs)| SignatureTypes {
            signature: signature.name.clone(),
            input: structs.input.ident,
            output: structs.output.ident,
        })
        .collect()
}

/// Every Rust name of one document, decided before any code is written.
struct Plan<'a> {
    paths: Paths,
    record_idents: HashMap<&'a str, String>,
    enum_idents: HashMap<&'a str, String>,
    signatures: Vec<SignatureStructs>,
    records: Vec<StructShape>,
    /// Per declared enum: its Rust name and its variants' names.
    enums: Vec<(String, Vec<String>)>,
}

struct SignatureStructs {
    input: StructShape,
    output: StructShape,
}

/// The Rust names of one struct and of its fields, in field order.
struct StructShape {
    ident: String,
    fields: Vec<FieldShape>,
}

struct FieldShape {
    ident: String,
    /// Whether the JSON key differs from the Rust name (or may, after Unicode normalization).
    needs_rename: bool,
    /// Whether a record reference in this field goes through a `Box` (it closes a cycle).
    boxed: bool,
    /// The generated enum for a literal union in this field's type.
    literals: Option<LiteralEnum>,
}

struct LiteralEnum {
    ident: String,
    variants: Vec<String>,
}

/// One variant as written: its Rust name, its JSON string and its documentation.
struct EnumVariant<'a> {
    ident: &'a str,
    json: &'a str,
    docs: Option<&'a str>,
}

/// How the generated code spells the standard and serde names it uses: short where nothing
/// in the document shadows them, fully qualified where something does.
struct Paths {
    string: String,
    vec: String,
    option: String,
    boxed: String,
    map: String,
    serde: String,
    json_value: String,
    bool: String,
    i64: String,
    f64: String,
}

impl Paths {
    fn new(type_names: &HashSet<String>) -> Paths {
        let pick = |short: &str, name: &str, qualified: &str| {
            if type_names.contains(name) {
                qualified.to_string()
            } else {
                short.to_string()
            }
        };
        Paths {
            string: pick("String", "String", "::std::string::String"),
            vec: pick("Vec", "Vec", "::std::vec::Vec"),
            option: pick("Option", "Option", "::std::option::Option"),
            boxed: pick("Box", "Box", "::std::boxed::Box"),
            map: pick(
                "std::collections::BTreeMap",
                "std",
                "::std::collections::BTreeMap",
            ),
            serde: pick("serde", "serde", "::serde"),
            json_value: pick("serde_json::Value", "serde_json", "::serde_json::Value"),
            bool: pick("bool", "bool", "::core::primitive::bool"),
            i64: pick("i64", "i64", "::core::primitive::i64"),
            f64: pick("f64", "f64", "::core::primitive::f64"),
        }
    }
}

impl<'a> Plan<'a> {
    fn new(document: &'a Document) -> Plan<'a> {
        let mut types = Namespace::default();
        // Declared names are claimed first so that they keep their spelling whenever they can.
        let declared = document
            .records
            .iter()
            .map(|r| r.name.as_str())
            .chain(document.enums.iter().map(|e| e.name.as_str()))
            .map(type_ident)
            .collect();
        let mut declared_idents = types.claim_all(declared, "");
        let enum_list = declared_idents.split_off(document.records.len());
        let record_list = declared_idents;
        let record_idents = document
            .records
            .iter()
            .map(|r| r.name.as_str())
            .zip(record_list.iter().cloned())
            .collect();
        let enum_idents = document
            .enums
            .iter()
            .map(|e| e.name.as_str())
            .zip(enum_list.iter().cloned())
            .collect();

        let signature_idents: Vec<(String, String)> = document
            .signatures
            .iter()
            .map(|signature| {
                // `Self` gives `SelfInput`, not `Self_Input`.
                let ident = type_ident(&signature.name);
                let base = ident.strip_suffix('_').unwrap_or(&ident);
                let input = types.claim(format!("{base}Input"), "");
                let output = types.claim(format!("{base}Output"), "");
                (input, output)
            })
            .collect();

        let no_boxes = HashSet::new();
        let signatures = document
            .signatures
            .iter()
            .zip(signature_idents)
            .map(|(signature, (input, output))| SignatureStructs {
                input: struct_shape(&mut types, input, &signature.inputs, &no_boxes),
                output: struct_shape(&mut types, output, &signature.outputs, &no_boxes),
            })
            .collect();
        let boxed = boxed_fields(document);
        let records = document
            .records
            .iter()
            .zip(record_list)
            .enumerate()
            .map(|(index, (record, ident))| {
                let record_boxes = boxed
                    .iter()
                    .filter(|(owner, _)| *owner == index)
                    .map(|&(_, field)| field)
                    .collect();
                struct_shape(&mut types, ident, &record.fields, &record_boxes)
            })
            .collect();
        let enums = document
            .enums
            .iter()
            .zip(enum_list)
            .map(|(enumeration, ident)| {
                let names: Vec<&str> = enumeration
                    .variants
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect();
                (ident, variant_idents(&names))
            })
            .collect();
        Plan {
            paths: Paths::new(&types.used),
            record_idents,
            enum_idents,
            signatures,
            records,
            enums,
        }
    }

    /// Writes one struct, then the enums of the literal unions among its fields.
    fn write_struct(&self, writer: &mut Writer, docs: &str, fields: &[Field], shape: &StructShape) {
        writer.blank();
        writer.docs("", docs);
        self.write_type_allows(writer, &shape.ident);
        writer.line(&format!(
            "#[derive(Debug, Clone, PartialEq, {serde}::Serialize, {serde}::Deserialize)]",
            serde = self.paths.serde
        ));
        writer.line(&format!("pub struct {} {{", shape.ident));
        for (field, field_shape) in fields.iter().zip(&shape.fields) {
            let mut docs = field.description.clone().unwrap_or_default();
            if let Some(constraints) = constraint_text(&field.ty) {
                if !docs.is_empty() {
                    docs.push_str("\n\n");
                }
                docs.push_str(&format!("Constraints: {constraints}."));
            }
            writer.docs("    ", &docs);
            let mut serde_options = Vec::new();
            if field_shape.needs_rename {
                serde_options.push(format!("rename = {}", string_literal(&field.name)));
            }
            if field.ty.is_optional() {
                serde_options.push("default".to_string());
                serde_options.push(format!(
                    "skip_serializing_if = \"{}::is_none\"",
                    self.paths.option
                ));
            }
            writer.serde_attribute("    ", &serde_options);
            let literal_ident = field_shape.literals.as_ref().map(|l| l.ident.as_str());
            let ty = self.rust_type(&field.ty, literal_ident, field_shape.boxed);
            writer.field(&field_shape.ident, &ty);
        }
        writer.line("}");

        for (field, field_shape) in fields.iter().zip(&shape.fields) {
            let (Some(literals), Some(values)) = (&field_shape.literals, literal_values(&field.ty))
            else {
                continue;
            };
            let variants: Vec<EnumVariant> = values
                .iter()
                .zip(&literals.variants)
                .map(|(value, ident)| EnumVariant {
                    ident,
                    json: value,
                    docs: None,
                })
                .collect();
            let docs = format!(
                "The values allowed in `{}` of `{}`.",
                field.name, shape.ident
            );
            self.write_enum(writer, &docs, &literals.ident, &variants);
        }
    }

    /// Writes a fieldless enum whose variants serialize as the given strings.
    fn write_enum(&self, writer: &mut Writer, docs: &str, ident: &str, variants: &[EnumVariant]) {
        writer.blank();
        writer.docs("", docs);
        self.write_type_allows(writer, ident);
        writer.line(&format!(
            "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, {serde}::Serialize, {serde}::Deserialize)]",
            serde = self.paths.serde
        ));
        writer.line(&format!("pub enum {ident} {{"));
        for variant in variants {
            writer.docs("    ", variant.docs.unwrap_or_default());
            if is_shouting(variant.ident) {
                writer.line("    #[allow(clippy::upper_case_acronyms)]");
            }
            writer.serde_attribute(
                "    ",
                &[format!("rename = {}", string_literal(variant.json))],
            );
            writer.line(&format!("    {},", variant.ident));
        }
        writer.line("}");
    }

    /// Lint allowances a declared type name needs (`my_record`, `URL`); generated code must
    /// not add warnings to the crate that includes it.
    fn write_type_allows(&self, writer: &mut Writer, ident: &str) {
        let mut allows = Vec::new();
        if !is_camel_case(ident) {
            allows.push("non_camel_case_types");
        }
        if is_shouting(ident) {
            allows.push("clippy::upper_case_acronyms");
        }
        if !allows.is_empty() {
            writer.line(&format!("#[allow({})]", allows.join(", ")));
        }
    }

    /// The Rust type of `ty`; `literals` names the enum of a literal union inside it and
    /// `boxed` puts a record reference behind a `Box`.
    fn rust_type(&self, ty: &Type, literals: Option<&str>, boxed: bool) -> RustType {
        let paths = &self.paths;
        match ty {
            Type::String { .. } | Type::ReasoningChain => RustType::plain(&paths.string),
            Type::Integer { .. } => RustType::plain(&paths.i64),
            Type::Float { .. } | Type::Probability { .. } => RustType::plain(&paths.f64),
            Type::Boolean => RustType::plain(&paths.bool),
            Type::Json => RustType::plain(&paths.json_value),
            Type::List { item, .. } => {
                RustType::generic(&paths.vec, vec![self.rust_type(item, literals, false)])
            }
            Type::Map { value, .. } => RustType::generic(
                &paths.map,
                vec![
                    RustType::plain(&paths.string),
                    self.rust_type(value, literals, false),
                ],
            ),
            Type::Optional(inner) => {
                RustType::generic(&paths.option, vec![self.rust_type(inner, literals, boxed)])
            }
            // A checked document gives every literal union an enum; a string still holds
            // any of its values should that ever not hold.
            Type::Literals(_) => RustType::plain(literals.unwrap_or(&paths.string)),
            Type::Record(name) => {
                let ident = self
                    .record_idents
                    .get(name.as_str())
                    .cloned()
                    .unwrap_or_else(|| type_ident(name));
                let record = RustType::plain(&ident);
                if boxed {
                    RustType::generic(&paths.boxed, vec![record])
                } else {
                    record
                }
            }
            Type::Enum(name) => RustType::plain(
                &self
                    .enum_idents
                    .get(name.as_str())
                    .cloned()
                    .unwrap_or_else(|| type_ident(name)),
            ),
        }
    }
}

/// A Rust type as a path with generic arguments, kept as a tree so that it can be laid out
/// the way rustfmt lays it out and scored the way clippy scores it.
struct RustType {
    path: String,
    arguments: Vec<RustType>,
}

impl RustType {
    fn plain(path: &str) -> RustType {
        RustType {
            path: path.to_string(),
            arguments: Vec::new(),
        }
    }

    fn generic(path: &str, arguments: Vec<RustType>) -> RustType {
        RustType {
            path: path.to_string(),
            arguments,
        }
    }

    /// clippy's `type_complexity` score: every path counts ten times its nesting depth.
    fn complexity(&self, depth: usize) -> usize {
        10 * depth
            + self
                .arguments
                .iter()
                .map(|argument| argument.complexity(depth + 1))
                .sum::<usize>()
    }

    /// The lines of this type as rustfmt writes it when it starts after `prefix` (which
    /// begins with the indentation `indent`) and is followed by `suffix`: on one line if
    /// that fits, otherwise with one generic argument per line.
    fn layout(&self, indent: &str, prefix: &str, suffix: &str, lines: &mut Vec<String>) {
        let one_line = format!("{prefix}{self}{suffix}");
        if width(&one_line) <= MAX_WIDTH || self.arguments.is_empty() {
            lines.push(one_line);
            return;
        }
        lines.push(format!("{prefix}{}<", self.path));
        let inner = format!("{indent}    ");
        for argument in &self.arguments {
            argument.layout(&inner, &inner, ",", lines);
        }
        lines.push(format!("{indent}>{suffix}"));
    }
}

impl std::fmt::Display for RustType {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.path)?;
        if let Some((first, rest)) = self.arguments.split_first() {
            write!(formatter, "<{first}")?;
            for argument in rest {
                write!(formatter, ", {argument}")?;
            }
            formatter.write_str(">")?;
        }
        Ok(())
    }
}

/// clippy's default `type-complexity-threshold`.
const COMPLEXITY_THRESHOLD: usize = 250;

/// Names a struct's fields and the enums of its literal unions.
fn struct_shape(
    types: &mut Namespace,
    ident: String,
    fields: &[Field],
    boxed: &HashSet<usize>,
) -> StructShape {
    let shapes = fields
        .iter()
        .zip(field_idents(fields))
        .enumerate()
        .map(|(index, (field, (field_ident, needs_rename)))| {
            let literals = literal_values(&field.ty).map(|values| {
                let field_part =
                    pascal_ident(&field.name).unwrap_or_else(|| format!("Field{index}"));
                LiteralEnum {
                    ident: types.claim(format!("{ident}{field_part}"), ""),
                    variants: variant_idents(values),
                }
            });
            FieldShape {
                ident: field_ident,
                needs_rename,
                boxed: boxed.contains(&index),
                literals,
            }
        })
        .collect();
    StructShape {
        ident,
        fields: shapes,
    }
}

/// The literal union inside a field's type, if any (at most one: lists, maps and `?` wrap
/// exactly one type).
fn literal_values(ty: &Type) -> Option<&[String]> {
    let mut found = None;
    ty.walk(&mut |t| {
        if let Type::Literals(values) = t {
            found = Some(values.as_slice());
        }
    });
    found
}

/// The record fields (record index, field index) that must hold their record in a `Box`:
/// those whose type is a record, possibly optional, from which the field's own record can be
/// reached again without passing through a list or a map. Such a cycle would otherwise give
/// a type of infinite size.
fn boxed_fields(document: &Document) -> HashSet<(usize, usize)> {
    let index_of: HashMap<&str, usize> = document
        .records
        .iter()
        .enumerate()
        .map(|(index, record)| (record.name.as_str(), index))
        .collect();
    let direct_target = |ty: &Type| -> Option<usize> {
        let mut ty = ty;
        while let Type::Optional(inner) = ty {
            ty = inner;
        }
        match ty {
            Type::Record(name) => index_of.get(name.as_str()).copied(),
            _ => None,
        }
    };
    let edges: Vec<Vec<(usize, usize)>> = document
        .records
        .iter()
        .map(|record| {
            record
                .fields
                .iter()
                .enumerate()
                .filter_map(|(field, f)| direct_target(&f.ty).map(|target| (field, target)))
                .collect()
        })
        .collect();
    let reaches = |from: usize, to: usize| -> bool {
        let mut seen = vec![false; edges.len()];
        let mut pending = vec![from];
        while let Some(current) = pending.pop() {
            if current == to {
                return true;
            }
            if std::mem::replace(&mut seen[current], true) {
                continue;
            }
            pending.extend(edges[current].iter().map(|&(_, target)| target));
        }
        false
    };
    let mut boxed = HashSet::new();
    for (record, record_edges) in edges.iter().enumerate() {
        for &(field, target) in record_edges {
            if reaches(target, record) {
                boxed.insert((record, field));
            }
        }
    }
    boxed
}

/// The constraints on a type in words, or `None` if it has none: `1 <= value <= 5`,
/// `at most 5 items; items: at most 40 characters`. Each nesting level (list items, map
/// values) is one `;`-separated part, its own constraints joined with `, `.
fn constraint_text(ty: &Type) -> Option<String> {
    let parts: Vec<String> = constraints::levels(ty)
        .into_iter()
        .map(|level| {
            let own = level.constraints;
            let pattern = own
                .pattern
                .map(|pattern| format!("matches {}", inline_code(&comment_safe(pattern))));
            let phrases: Vec<String> = [
                own.length.and_then(length_phrase),
                own.bounds.and_then(range_phrase),
                pattern,
            ]
            .into_iter()
            .flatten()
            .collect();
            let phrases = phrases.join(", ");
            // The innermost container first: `values of items`.
            let subject: Vec<&str> = level
                .path
                .iter()
                .rev()
                .map(|container| match container {
                    Container::ListItems => "items",
                    Container::MapValues => "values",
                })
                .collect();
            if subject.is_empty() {
                phrases
            } else {
                format!("{}: {phrases}", subject.join(" of "))
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn length_phrase(length: Length) -> Option<String> {
    let unit = length.unit;
    match (length.min, length.max) {
        (Some(min), Some(max)) if min == max => {
            Some(format!("exactly {min} {}", unit.counted(min)))
        }
        (Some(min), Some(max)) => Some(format!("between {min} and {max} {}", unit.plural())),
        (Some(min), None) => Some(format!("at least {min} {}", unit.counted(min))),
        (None, Some(max)) => Some(format!("at most {max} {}", unit.counted(max))),
        (None, None) => None,
    }
}

fn range_phrase(bounds: Bounds) -> Option<String> {
    match (bounds.min, bounds.max) {
        (Some(min), Some(max)) => Some(format!("{min} <= value <= {max}")),
        (Some(min), None) => Some(format!("value >= {min}")),
        (None, Some(max)) => Some(format!("value <= {max}")),
        (None, None) => None,
    }
}

/// Markdown inline code that holds `text` whatever backticks it contains.
fn inline_code(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    if longest > 0 || text.is_empty() {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

/// Hands out names that are unique within one Rust namespace (the module's types, one
/// struct's fields, one enum's variants).
#[derive(Default)]
struct Namespace {
    used: HashSet<String>,
}

impl Namespace {
    /// `candidate`, or `candidate` + separator + 2, 3, ... if it is taken (no separator
    /// after one it already ends with: `self_2`, not `self__2`).
    fn claim(&mut self, candidate: String, separator: &str) -> String {
        let separator = if candidate.ends_with(separator) {
            ""
        } else {
            separator
        };
        let mut name = candidate.clone();
        let mut counter = 2;
        while self.used.contains(unraw(&name)) {
            name = format!("{candidate}{separator}{counter}");
            counter += 1;
        }
        self.used.insert(unraw(&name).to_string());
        name
    }

    /// Claims every free candidate as it is, then numbers the ones that collided, so that
    /// numbering never takes a name that another candidate has as written.
    fn claim_all(&mut self, candidates: Vec<String>, separator: &str) -> Vec<String> {
        let mut claimed: Vec<Option<String>> = vec![None; candidates.len()];
        let mut later = Vec::new();
        for (index, candidate) in candidates.into_iter().enumerate() {
            if self.used.contains(unraw(&candidate)) {
                later.push((index, candidate));
            } else {
                self.used.insert(unraw(&candidate).to_string());
                claimed[index] = Some(candidate);
            }
        }
        for (index, candidate) in later {
            claimed[index] = Some(self.claim(candidate, separator));
        }
        claimed.into_iter().flatten().collect()
    }
}

/// Field names: the declared name where Rust accepts it (raw for keywords), a suffixed one
/// for `self`-like keywords, the snake_case spelling of a name that is not snake_case, and
/// `field_<index>` for anything else. The flag says whether serde needs the declared name
/// spelt out.
fn field_idents(fields: &[Field]) -> Vec<(String, bool)> {
    let mut namespace = Namespace::default();
    // Names usable as written go first, so a changed name never takes a declared one.
    let mut idents: Vec<Option<String>> = vec![None; fields.len()];
    for (index, field) in fields.iter().enumerate() {
        let name = &field.name;
        if is_identifier(name) && !is_keyword(name) && is_snake_case(name) {
            idents[index] = Some(namespace.claim(name.clone(), "_"));
        }
    }
    for (index, field) in fields.iter().enumerate() {
        if idents[index].is_none() {
            let candidate =
                field_candidate(&field.name).unwrap_or_else(|| format!("field_{index}"));
            idents[index] = Some(namespace.claim(candidate, "_"));
        }
    }
    fields
        .iter()
        .zip(idents)
        .map(|(field, ident)| {
            let ident = ident.unwrap_or_default();
            // Non-ASCII names keep an explicit rename: rustc normalizes identifiers to NFC,
            // and serde would otherwise use the normalized spelling as the JSON key.
            let needs_rename = unraw(&ident) != field.name || !field.name.is_ascii();
            (ident, needs_rename)
        })
        .collect()
}

/// A field name Rust accepts for `name`, if there is an obvious one.
fn field_candidate(name: &str) -> Option<String> {
    let snake = if is_snake_case(name) {
        name.to_string()
    } else {
        name.to_snake_case()
    };
    if !is_identifier(&snake) {
        return None;
    }
    Some(if !is_keyword(&snake) {
        snake
    } else if can_be_raw(&snake) {
        format!("r#{snake}")
    } else {
        format!("{snake}_")
    })
}

/// Variant names for a list of JSON strings: UpperCamelCase where that gives a fresh
/// identifier, `Variant<index>` otherwise.
fn variant_idents<S: AsRef<str>>(values: &[S]) -> Vec<String> {
    let candidates: Vec<Option<String>> = values.iter().map(|v| pascal_ident(v.as_ref())).collect();
    let mut namespace = Namespace::default();
    let mut idents: Vec<Option<String>> = vec![None; values.len()];
    for (index, candidate) in candidates.iter().enumerate() {
        if let Some(candidate) = candidate {
            if namespace.used.insert(candidate.clone()) {
                idents[index] = Some(candidate.clone());
            }
        }
    }
    for (index, ident) in idents.iter_mut().enumerate() {
        if ident.is_none() {
            *ident = Some(namespace.claim(format!("Variant{index}"), "_"));
        }
    }
    idents.into_iter().flatten().collect()
}

/// `text` in UpperCamelCase if that is a usable identifier.
fn pascal_ident(text: &str) -> Option<String> {
    let pascal = text.to_upper_camel_case();
    (is_identifier(&pascal) && !is_keyword(&pascal)).then_some(pascal)
}

/// A type name: the declared name if Rust accepts it, otherwise the nearest spelling that it
/// does (`Self` -> `Self_`, `2fa` -> `T2fa`).
fn type_ident(name: &str) -> String {
    if is_identifier(name) {
        return if is_keyword(name) {
            format!("{name}_")
        } else {
            name.to_string()
        };
    }
    let mut ident: String = name
        .chars()
        .map(|c| if is_identifier_continue(c) { c } else { '_' })
        .collect();
    if !ident.chars().next().is_some_and(is_identifier_start) {
        ident.insert(0, 'T');
    }
    if is_keyword(&ident) {
        ident.push('_');
    }
    ident
}

fn unraw(ident: &str) -> &str {
    ident.strip_prefix("r#").unwrap_or(ident)
}

/// Whether `text` is a Rust identifier (keywords included) that means the same to every
/// reader: non-ASCII characters must be identifier characters that are not combining marks
/// or conjoining jamo, so the name is already in the form rustc normalizes it to.
fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if first == '_' || is_identifier_start(first) => {
            text != "_" && chars.all(is_identifier_continue)
        }
        _ => false,
    }
}

fn is_identifier_start(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    in_ranges(&identifier_classes().start, c)
}

fn is_identifier_continue(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    in_ranges(&identifier_classes().rest, c)
}

fn in_ranges(ranges: &[(char, char)], c: char) -> bool {
    ranges
        .binary_search_by(|&(low, high)| {
            if high < c {
                std::cmp::Ordering::Less
            } else if low > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// The non-ASCII characters accepted in identifiers, as sorted inclusive ranges.
struct IdentifierClasses {
    start: Vec<(char, char)>,
    rest: Vec<(char, char)>,
}

/// `XID_Start` / `XID_Continue` without marks and conjoining jamo, from `regex-syntax`'s
/// Unicode tables.
fn identifier_classes() -> &'static IdentifierClasses {
    static CLASSES: OnceLock<IdentifierClasses> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let excluded = r"\p{M}\x{1100}-\x{11FF}\x{A960}-\x{A97F}\x{D7B0}-\x{D7FF}";
        IdentifierClasses {
            start: class_ranges(&format!(r"[\p{{XID_Start}}--[{excluded}]]")),
            rest: class_ranges(&format!(r"[\p{{XID_Continue}}--[{excluded}]]")),
        }
    })
}

/// The ranges of a Unicode character class; empty (every non-ASCII name then gets a
/// fallback) if the pattern does not parse.
fn class_ranges(pattern: &str) -> Vec<(char, char)> {
    match regex_syntax::parse(pattern).map(|hir| hir.into_kind()) {
        Ok(regex_syntax::hir::HirKind::Class(regex_syntax::hir::Class::Unicode(class))) => class
            .ranges()
            .iter()
            .map(|range| (range.start(), range.end()))
            .collect(),
        _ => Vec::new(),
    }
}

/// Strict and reserved keywords of every edition since 2018.
const KEYWORDS: &[&str] = &[
    "Self", "abstract", "as", "async", "await", "become", "box", "break", "const", "continue",
    "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if",
    "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

fn is_keyword(text: &str) -> bool {
    KEYWORDS.contains(&text)
}

/// Keywords that cannot be raw identifiers.
fn can_be_raw(keyword: &str) -> bool {
    !matches!(keyword, "Self" | "self" | "super" | "crate")
}

/// rustc's `non_camel_case_types` test.
fn is_camel_case(ident: &str) -> bool {
    let name = unraw(ident).trim_matches('_');
    let has_case = |c: char| c.is_lowercase() || c.is_uppercase();
    let chars: Vec<char> = name.chars().collect();
    !chars.first().is_some_and(|c| c.is_lowercase())
        && !name.contains("__")
        && !chars.windows(2).any(|pair| {
            (has_case(pair[0]) && pair[1] == '_') || (has_case(pair[1]) && pair[0] == '_')
        })
}

/// rustc's `non_snake_case` test.
fn is_snake_case(ident: &str) -> bool {
    let name = unraw(ident).trim_matches('_');
    !name.contains("__") && !name.chars().any(char::is_uppercase)
}

/// clippy's `upper_case_acronyms` test (default settings): more than two capitals and
/// nothing else.
fn is_shouting(ident: &str) -> bool {
    ident.len() > 2 && ident.chars().all(|c| c.is_ascii_uppercase())
}

/// A Rust string literal for `text`.
fn string_literal(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 2);
    literal.push('"');
    for c in text.chars() {
        match c {
            '"' => literal.push_str("\\\""),
            '\\' => literal.push_str("\\\\"),
            '\n' => literal.push_str("\\n"),
            '\r' => literal.push_str("\\r"),
            '\t' => literal.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(literal, "\\u{{{:x}}}", u32::from(c));
            }
            c => literal.push(c),
        }
    }
    literal.push('"');
    literal
}

/// `text` with everything a line comment cannot hold (line breaks, control and
/// bidirectional characters) written as escapes (`\n`, `\u{202e}`).
fn comment_safe(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => safe.push_str("\\n"),
            '\r' => safe.push_str("\\r"),
            '\t' => safe.push('\t'),
            c if needs_escape(c) => {
                let _ = write!(safe, "\\u{{{:x}}}", u32::from(c));
            }
            c => safe.push(c),
        }
    }
    safe
}

/// Characters that generated source spells as escapes: control characters, line and
/// paragraph separators, and the bidirectional controls rustc rejects in comments and
/// literals.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// rustfmt's default `max_width`.
const MAX_WIDTH: usize = 100;

/// rustfmt's default `attr_fn_like_width`: longer attribute arguments go one per line.
const ATTRIBUTE_ARGUMENTS_WIDTH: usize = 70;

/// Columns a line takes (East Asian wide characters count twice, as rustfmt counts them).
fn width(line: &str) -> usize {
    line.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

/// The main blocks of East Asian wide characters (a close reading of Unicode's
/// `East_Asian_Width`, enough for line lengths).
fn is_wide(c: char) -> bool {
    matches!(
        c,
        '\u{1100}'..='\u{115f}'
            | '\u{2e80}'..='\u{303e}'
            | '\u{3041}'..='\u{33ff}'
            | '\u{3400}'..='\u{4dbf}'
            | '\u{4e00}'..='\u{9fff}'
            | '\u{a000}'..='\u{a4cf}'
            | '\u{ac00}'..='\u{d7a3}'
            | '\u{f900}'..='\u{faff}'
            | '\u{fe30}'..='\u{fe4f}'
            | '\u{ff00}'..='\u{ff60}'
            | '\u{ffe0}'..='\u{ffe6}'
            | '\u{1f300}'..='\u{1f64f}'
            | '\u{1f900}'..='\u{1f9ff}'
            | '\u{20000}'..='\u{3fffd}'
    )
}

/// Collects output lines.
#[derive(Default)]
struct Writer {
    output: String,
}

impl Writer {
    fn line(&mut self, line: &str) {
        self.output.push_str(line);
        self.output.push('\n');
    }

    /// `#[serde(...)]` with the options on one line, or one per line where rustfmt would
    /// put them.
    fn serde_attribute(&mut self, indent: &str, options: &[String]) {
        if options.is_empty() {
            return;
        }
        let arguments = options.join(", ");
        let one_line = format!("{indent}#[serde({arguments})]");
        if width(&arguments) <= ATTRIBUTE_ARGUMENTS_WIDTH && width(&one_line) <= MAX_WIDTH {
            self.line(&one_line);
            return;
        }
        self.line(&format!("{indent}#[serde("));
        for (index, option) in options.iter().enumerate() {
            let comma = if index + 1 < options.len() { "," } else { "" };
            self.line(&format!("{indent}    {option}{comma}"));
        }
        self.line(&format!("{indent})]"));
    }

    /// A struct field laid out as rustfmt does: on one line, else with its type on the next
    /// line, else with the type's generic arguments one per line.
    fn field(&mut self, ident: &str, ty: &RustType) {
        if ty.complexity(1) > COMPLEXITY_THRESHOLD {
            self.line("    #[allow(clippy::type_complexity)]");
        }
        let one_line = format!("    pub {ident}: {ty},");
        let type_line = format!("        {ty},");
        let mut lines = Vec::new();
        if width(&one_line) <= MAX_WIDTH {
            lines.push(one_line);
        } else if width(&type_line) <= MAX_WIDTH {
            lines.push(format!("    pub {ident}:"));
            lines.push(type_line);
        } else {
            ty.layout("    ", &format!("    pub {ident}: "), ",", &mut lines);
        }
        for line in lines {
            self.line(&line);
        }
    }

    fn blank(&mut self) {
        self.output.push('\n');
    }

    /// `///` lines for `text`. Lines lose leading whitespace and fences are escaped, so no
    /// text becomes a code block (which rustdoc would compile as a doctest).
    fn docs(&mut self, indent: &str, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        for line in text.split(['\n', '\r']) {
            // clippy's `tabs_in_doc_comments` asks for spaces.
            let line = comment_safe(line.trim()).replace('\t', "    ");
            if line.is_empty() {
                self.line(&format!("{indent}///"));
            } else if line.starts_with("```") || line.starts_with("~~~") {
                self.line(&format!("{indent}/// \\{line}"));
            } else {
                self.line(&format!("{indent}/// {line}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Enum, Record, Signature};

    fn source() -> Source {
        Source::new("signatures/qa.sig", "qa")
    }

    fn generate_for(document: &Document) -> String {
        generate(document, &source())
    }

    #[test]
    fn qa_signature_becomes_input_and_output_structs() {
        let qa = Signature::new(
            "QA",
            vec![Field::new("question", Type::string()).with_description("the question to answer")],
            vec![
                Field::new("answer", Type::string()),
                Field::new("confidence", Type::probability()),
            ],
        )
        .with_instructions("Answer questions with short factoid answers.");
        let document = Document {
            signatures: vec![qa],
            ..Document::default()
        };
        let expected = "\
// generated by dspex from signatures/qa.sig; do not edit

/// Inputs of the `QA` signature.
///
/// Answer questions with short factoid answers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QAInput {
    /// the question to answer
    pub question: String,
}

/// Outputs of the `QA` signature.
///
/// Answer questions with short factoid answers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QAOutput {
    pub answer: String,
    /// Constraints: 0 <= value <= 1.
    pub confidence: f64,
}
";
        assert_eq!(generate_for(&document), expected);
    }

    #[test]
    fn empty_document_is_only_the_header() {
        assert_eq!(
            generate_for(&Document::default()),
            "// generated by dspex from signatures/qa.sig; do not edit\n"
        );
    }

    #[test]
    fn scalar_and_container_types_map_to_rust_types() {
        let document = Document {
            signatures: vec![Signature::new(
                "Types",
                vec![
                    Field::new("text", Type::string()),
                    Field::new("steps", Type::ReasoningChain),
                    Field::new("count", Type::integer()),
                    Field::new("ratio", Type::float()),
                    Field::new("flag", Type::Boolean),
                    Field::new("blob", Type::Json),
                ],
                vec![
                    Field::new("items", Type::list(Type::string())),
                    Field::new("scores", Type::map(Type::list(Type::Boolean))),
                    Field::new("maybe", Type::optional(Type::integer())),
                    Field::new("maybe_items", Type::list(Type::optional(Type::string()))),
                ],
            )],
            ..Document::default()
        };
        let code = generate_for(&document);
        for line in [
            "    pub text: String,",
            "    pub steps: String,",
            "    pub count: i64,",
            "    pub ratio: f64,",
            "    pub flag: bool,",
            "    pub blob: serde_json::Value,",
            "    pub items: Vec<String>,",
            "    pub scores: std::collections::BTreeMap<String, Vec<bool>>,",
            "    #[serde(default, skip_serializing_if = \"Option::is_none\")]\n    pub maybe: Option<i64>,",
            "    pub maybe_items: Vec<Option<String>>,",
        ] {
            assert!(code.contains(line), "missing {line:?} in\n{code}");
        }
        assert_eq!(code.matches("skip_serializing_if").count(), 1, "{code}");
    }

    #[test]
    fn constraints_are_documented() {
        let document = Document {
            signatures: vec![Signature::new(
                "Limits",
                vec![
                    Field::new("rating", Type::integer_range(Some(1), Some(5))),
                    Field::new(
                        "tweet",
                        Type::String {
                            min_length: None,
                            max_length: Some(280),
                            pattern: None,
                        },
                    ),
                    Field::new(
                        "code",
                        Type::String {
                            min_length: None,
                            max_length: None,
                            pattern: Some("^[A-Z]{3}$".to_string()),
                        },
                    ),
                ],
                vec![
                    Field::new(
                        "tags",
                        Type::List {
                            item: Box::new(Type::String {
                                min_length: None,
                                max_length: Some(40),
                                pattern: None,
                            }),
                            min_items: Some(1),
                            max_items: Some(1),
                        },
                    ),
                    Field::new(
                        "weights",
                        Type::optional(Type::Map {
                            value: Box::new(Type::float_range(Some(-1.5), None)),
                            min_entries: None,
                            max_entries: Some(3),
                        }),
                    ),
                    Field::new(
                        "tick",
                        Type::String {
                            min_length: Some(2),
                            max_length: None,
                            pattern: Some("a`b".to_string()),
                        },
                    ),
                    Field::new(
                        "grid",
                        Type::List {
                            item: Box::new(Type::List {
                                item: Box::new(Type::optional(Type::float_range(Some(0.0), None))),
                                min_items: Some(1),
                                max_items: None,
                            }),
                            min_items: None,
                            max_items: Some(10),
                        },
                    ),
                    Field::new(
                        "line",
                        Type::String {
                            min_length: None,
                            max_length: None,
                            pattern: Some("^[^\n]+$".to_string()),
                        },
                    ),
                    Field::new(
                        "score",
                        Type::Probability {
                            min: Some(0.25),
                            max: None,
                        },
                    ),
                ],
            )],
            ..Document::default()
        };
        let code = generate_for(&document);
        for line in [
            "/// Constraints: 1 <= value <= 5.",
            "/// Constraints: at most 280 characters.",
            "/// Constraints: matches `^[A-Z]{3}$`.",
            "/// Constraints: exactly 1 item; items: at most 40 characters.",
            "/// Constraints: at most 3 entries; values: value >= -1.5.",
            "/// Constraints: at least 2 characters, matches `` a`b ``.",
            "/// Constraints: at most 10 items; items: at least 1 item; items of items: value >= 0.",
            "/// Constraints: matches `^[^\\n]+$`.",
            "/// Constraints: 0.25 <= value <= 1.",
        ] {
            assert!(code.contains(line), "missing {line:?} in\n{code}");
        }
    }

    #[test]
    fn keyword_field_names_use_raw_or_suffixed_identifiers() {
        let document = Document {
            signatures: vec![Signature::new(
                "Keywords",
                vec![
                    Field::new("type", Type::string()),
                    Field::new("self", Type::string()),
                    Field::new("self_", Type::string()),
                    Field::new("super", Type::string()),
                    Field::new("crate", Type::string()),
                    Field::new("gen", Type::string()),
                ],
                vec![
                    Field::new("async", Type::string()),
                    Field::new("_", Type::string()),
                ],
            )],
            ..Document::default()
        };
        let code = generate_for(&document);
        for line in [
            "    pub r#type: String,",
            "    #[serde(rename = \"self\")]\n    pub self_2: String,",
            "    pub self_: String,",
            "    #[serde(rename = \"super\")]\n    pub super_: String,",
            "    #[serde(rename = \"crate\")]\n    pub crate_: String,",
            "    pub r#gen: String,",
            "    pub r#async: String,",
            "    #[serde(rename = \"_\")]\n    pub field_1: String,",
        ] {
            assert!(code.contains(line), "missing {line:?} in\n{code}");
        }
        assert!(!code.contains("rename = \"type\""), "{code}");
    }

    #[test]
    fn non_ascii_field_names_are_identifiers_with_explicit_keys() {
        let document = Document {
            signatures: vec![Signature::new(
                "Fiche",
                vec![
                    Field::new("prénom", Type::string()),
                    Field::new("名前", Type::string()),
                ],
                // `e` + combining acute accent: valid Rust, but rustc would normalize it.
                vec![Field::new("e\u{301}t\u{e9}", Type::string())],
            )],
            ..Document::default()
        };
        let code = generate_for(&document);
        assert!(
            code.contains("    #[serde(rename = \"prénom\")]\n    pub prénom: String,"),
            "{code}"
        );
        assert!(code.contains("    pub 名前: String,"), "{code}");
        assert!(
            code.contains("    #[serde(rename = \"e\u{301}té\")]\n    pub field_0: String,"),
            "{code}"
        );
    }

    #[test]
    fn enums_get_pascal_case_variants_with_renames() {
        let mut language = Enum::new("Language", &["english", "not_sure"])
            .with_docs("The language a text is written in.");
        language.variants[0].description = Some("spoken in many places".to_string());
        let document = Document {
            signatures: vec![Signature::new(
                "Detect",
                vec![Field::new("text", Type::string())],
                vec![Field::new("language", Type::enumeration("Language"))],
            )],
            enums: vec![language],
            ..Document::default()
        };
        let code = generate_for(&document);
        let expected = "
/// The language a text is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Language {
    /// spoken in many places
    #[serde(rename = \"english\")]
    English,
    #[serde(rename = \"not_sure\")]
    NotSure,
}
";
        assert!(code.ends_with(expected), "{code}");
        assert!(code.contains("    pub language: Language,"), "{code}");
    }

    #[test]
    fn literal_unions_become_enums_named_after_owner_and_field() {
        let document = Document {
            signatures: vec![Signature::new(
                "Moderate",
                vec![Field::new("text", Type::string())],
                vec![
                    Field::new("decision", Type::literals(&["allow", "review", "block"])),
                    Field::new(
                        "categories",
                        Type::list(Type::literals(&["off_topic", "N/A", "1", "", "n-a"])),
                    ),
                    Field::new(
                        "level",
                        Type::optional(Type::literals(&["Self", "variant 0", "x"])),
                    ),
                ],
            )],
            ..Document::default()
        };
        let code = generate_for(&document);
        for text in [
            "    pub decision: ModerateOutputDecision,",
            "    pub categories: Vec<ModerateOutputCategories>,",
            "    pub level: Option<ModerateOutputLevel>,",
            "pub enum ModerateOutputDecision {\n    #[serde(rename = \"allow\")]\n    Allow,",
            "    #[serde(rename = \"off_topic\")]\n    OffTopic,",
            "    #[serde(rename = \"N/A\")]\n    NA,",
            "    #[serde(rename = \"1\")]\n    Variant2,",
            "    #[serde(rename = \"\")]\n    Variant3,",
            // "n-a" also makes `NA`, which is taken.
            "    #[serde(rename = \"n-a\")]\n    Variant4,",
            // `Self` is a keyword; its fallback must not take the name "variant 0" makes.
            "    #[serde(rename = \"Self\")]\n    Variant0_2,",
            "    #[serde(rename = \"variant 0\")]\n    Variant0,",
            "/// The values allowed in `decision` of `ModerateOutput`.",
        ] {
            assert!(code.contains(text), "missing {text:?} in\n{code}");
        }
    }

    #[test]
    fn colliding_type_names_are_numbered_in_declaration_order() {
        let document = Document {
            signatures: vec![Signature::new(
                "QA",
                vec![Field::new("kind", Type::literals(&["a", "b"]))],
                vec![Field::new("answer", Type::record("QAInput"))],
            )],
            records: vec![
                Record::new("QAInput", vec![Field::new("text", Type::string())]),
                Record::new("QAInput2Kind", vec![Field::new("text", Type::string())]),
            ],
            ..Document::default()
        };
        let code = generate_for(&document);
        assert!(code.contains("pub struct QAInput {"), "{code}");
        assert!(code.contains("pub struct QAInput2 {"), "{code}");
        assert!(code.contains("pub kind: QAInput2Kind2,"), "{code}");
        assert!(code.contains("pub enum QAInput2Kind2 {"), "{code}");
        assert!(code.contains("pub answer: QAInput,"), "{code}");
        assert_eq!(
            signature_types(&document),
            vec![SignatureTypes {
                signature: "QA".to_string(),
                input: "QAInput2".to_string(),
                output: "QAOutput".to_string(),
            }]
        );
    }

    #[test]
    fn shadowed_standard_names_are_fully_qualified() {
        let document = Document {
            signatures: vec![Signature::new(
                "Shadow",
                vec![Field::new("text", Type::optional(Type::string()))],
                vec![
                    Field::new("items", Type::list(Type::record("String"))),
                    Field::new("counts", Type::map(Type::integer())),
                ],
            )],
            records: vec![
                Record::new("String", vec![Field::new("value", Type::Boolean)]),
                Record::new("Option", vec![]),
                Record::new("serde", vec![]),
            ],
            ..Document::default()
        };
        let code = generate_for(&document);
        for text in [
            "#[derive(Debug, Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize)]",
            "skip_serializing_if = \"::std::option::Option::is_none\"",
            "    pub text: ::std::option::Option<::std::string::String>,",
            "    pub items: Vec<String>,",
            "    pub counts: std::collections::BTreeMap<::std::string::String, i64>,",
            "#[allow(non_camel_case_types)]\n#[derive(Debug, Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize)]\npub struct serde {",
        ] {
            assert!(code.contains(text), "missing {text:?} in\n{code}");
        }
    }

    #[test]
    fn only_fields_closing_a_direct_cycle_are_boxed() {
        let document = Document {
            signatures: vec![Signature::new(
                "Org",
                vec![Field::new("text", Type::string())],
                vec![Field::new("ceo", Type::record("Employee"))],
            )],
            records: vec![
                Record::new(
                    "Employee",
                    vec![
                        Field::new("manager", Type::optional(Type::record("Employee"))),
                        Field::new("reports", Type::list(Type::record("Employee"))),
                        Field::new("team", Type::optional(Type::record("Team"))),
                        Field::new("office", Type::record("Office")),
                    ],
                ),
                Record::new(
                    "Team",
                    vec![Field::new("lead", Type::optional(Type::record("Employee")))],
                ),
                Record::new("Office", vec![Field::new("city", Type::string())]),
            ],
            ..Document::default()
        };
        let code = generate_for(&document);
        for text in [
            "    pub ceo: Employee,",
            "    pub manager: Option<Box<Employee>>,",
            "    pub reports: Vec<Employee>,",
            "    pub team: Option<Box<Team>>,",
            "    pub office: Office,",
            "    pub lead: Option<Box<Employee>>,",
        ] {
            assert!(code.contains(text), "missing {text:?} in\n{code}");
        }
    }

    #[test]
    fn docs_cannot_break_out_of_comments_or_become_doctests() {
        let sig = Signature::new(
            "Docs",
            vec![Field::new("text", Type::string()).with_description("a\u{202e}b\rc\td")],
            vec![Field::new("answer", Type::string())],
        )
        .with_instructions("First.\n```\nfn main() {}\n```\n    indented code\n");
        let document = Document {
            signatures: vec![sig],
            ..Document::default()
        };
        let code = generate(&document, &Source::new("odd\nname.sig", "odd"));
        assert!(code.starts_with("// generated by dspex from odd\\nname.sig; do not edit\n"));
        assert!(code
            .contains("/// First.\n/// \\```\n/// fn main() {}\n/// \\```\n/// indented code\n"));
        assert!(
            code.contains("    /// a\\u{202e}b\n    /// c    d\n"),
            "{code}"
        );
    }

    #[test]
    fn type_names_that_are_not_identifiers_are_repaired() {
        assert_eq!(type_ident("QA"), "QA");
        assert_eq!(type_ident("Self"), "Self_");
        assert_eq!(type_ident("2fa"), "T2fa");
        assert_eq!(type_ident("my-type"), "my_type");
        assert_eq!(type_ident("Größe"), "Größe");
    }

    #[test]
    fn lint_checks_match_rustc_and_clippy() {
        assert!(is_camel_case("QAInput"));
        assert!(is_camel_case("Variant0_2"));
        assert!(!is_camel_case("serde"));
        assert!(!is_camel_case("my_type"));
        assert!(is_shouting("URL"));
        assert!(!is_shouting("QA"));
        assert!(!is_shouting("QAInput"));
    }

    #[test]
    fn string_literals_escape_what_rust_requires() {
        assert_eq!(string_literal("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            string_literal("line\nnext\t\u{0}"),
            r#""line\nnext\t\u{0}""#
        );
        assert_eq!(string_literal("caf\u{e9} \u{2066}"), "\"café \\u{2066}\"");
    }

    #[test]
    fn output_is_deterministic() {
        let document = Document {
            signatures: vec![Signature::new(
                "A",
                vec![Field::new("x", Type::literals(&["p", "q"]))],
                vec![Field::new("y", Type::record("R"))],
            )],
            records: vec![Record::new(
                "R",
                vec![Field::new("z", Type::literals(&["a", "b"]))],
            )],
            enums: vec![Enum::new("E", &["one", "two"])],
            ..Document::default()
        };
        let first = generate_for(&document);
        for _ in 0..5 {
            assert_eq!(generate_for(&document), first);
        }
    }
}
