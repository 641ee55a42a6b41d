//! The checker: turns a syntax tree into the typed model, reporting every mistake in the file
//! (names, duplicates, types, constraints, references, the one `->`, programs and modules).

use std::collections::{HashMap, HashSet};

use heck::{ToPascalCase, ToSnakeCase};

use super::model::*;
use crate::diagnostic::{Diagnostic, Span};
use crate::syntax::ast::{self, ArrowKind, Member, Quote, StringLit, TypeExpr, TypeKind};
use crate::syntax::unescape;

/// The checked model of a file and what was found. The model is complete only when no
/// diagnostic is an error.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Checked {
    pub document: Document,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Checks a parsed file. `file_stem` (`question_answering`) names an unnamed signature.
pub fn check(file: &ast::SourceFile, file_stem: &str) -> Checked {
    let mut checker = Checker::default();
    checker.declare(file, file_stem);
    for item in &file.items {
        checker.item(item);
    }
    checker.infinite_records();
    checker.unused(file);
    for docs in &file.dangling_docs {
        checker.report(
            Diagnostic::warning("W0101", "doc comment documents nothing", docs.span)
                .with_label("no item follows")
                .with_help("put `///` docs directly before a signature, type, enum, program or field, or use `#` for a comment"),
        );
    }
    checker
        .diagnostics
        .sort_by_key(|d| (d.span.start, d.span.end));
    Checked {
        document: checker.document,
        diagnostics: checker.diagnostics,
    }
}

/// Built-in type names, for lookups and "did you mean".
const BUILTIN_TYPES: [&str; 11] = [
    "string",
    "integer",
    "int",
    "float",
    "boolean",
    "bool",
    "probability",
    "reasoning_chain",
    "json",
    "list",
    "map",
];

/// Python keywords: DSPy could not declare a field or enum member with these names.
const PYTHON_KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Names DSPy 3.4.1's `Signature` class uses itself: a field with one of them makes the generated
/// class fail to load.
const SIGNATURE_ATTRIBUTES: [&str; 5] = [
    "signature",
    "instructions",
    "fields",
    "input_fields",
    "output_fields",
];

/// pydantic 2.14's own `BaseModel` methods: a field with one of them makes any generated model
/// (a signature or a record) fail to load.
const MODEL_ATTRIBUTES: [&str; 6] = [
    "model_config",
    "model_dump",
    "model_dump_json",
    "model_validate",
    "model_validate_json",
    "model_validate_strings",
];

/// Older `BaseModel` attributes a field would shadow; pydantic warns about each.
const SHADOWED_ATTRIBUTES: [&str; 7] = [
    "json",
    "schema",
    "copy",
    "dict",
    "construct",
    "validate",
    "parse_obj",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeclarationKind {
    Signature,
    Type,
    Enum,
    Program,
}

impl DeclarationKind {
    fn noun(self) -> &'static str {
        match self {
            DeclarationKind::Signature => "signature",
            DeclarationKind::Type => "type",
            DeclarationKind::Enum => "enum",
            DeclarationKind::Program => "program",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Declaration {
    kind: DeclarationKind,
    span: Span,
}

#[derive(Default)]
struct Checker {
    document: Document,
    diagnostics: Vec<Diagnostic>,
    /// Every item name, first declaration wins.
    declared: HashMap<String, Declaration>,
    /// Names given to signature items, by the span of their `signature` keyword.
    signature_names: HashMap<Span, String>,
    /// Position of each checked signature in `document.signatures`, by name.
    signature_index: HashMap<String, usize>,
    /// Record and enum names referenced by some field.
    used: HashSet<String>,
    /// Direct (unboxed) record-to-record references: (from, to, span of the reference).
    direct_references: Vec<(String, String, Span)>,
}

/// Collected `(min: .., max: .., pattern: ..)` values, not yet checked against a type.
#[derive(Default)]
struct ConstraintValues<'a> {
    min: Option<(f64, &'a ast::Constraint)>,
    max: Option<(f64, &'a ast::Constraint)>,
    pattern: Option<(String, &'a ast::Constraint)>,
}

impl Checker {
    fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    // --- Pass 1: names ---------------------------------------------------------------------

    fn declare(&mut self, file: &ast::SourceFile, file_stem: &str) {
        let mut unnamed: Option<Span> = None;
        for item in &file.items {
            let (kind, name, span) = match item {
                ast::Item::Signature(s) => match &s.name {
                    Some(name) => (DeclarationKind::Signature, name.name.clone(), name.span),
                    None => {
                        if let Some(first) = unnamed {
                            self.report(
                                Diagnostic::error(
                                    "E0205",
                                    "a file can have only one unnamed signature",
                                    s.keyword_span,
                                )
                                .with_label("second unnamed signature")
                                .with_related(first, "the first one takes its name from the file")
                                .with_help(
                                    "use the block form to name it: `signature Name { ... }`",
                                ),
                            );
                            continue;
                        }
                        unnamed = Some(s.keyword_span);
                        let name = name_from_stem(file_stem);
                        if !is_identifier(&name) {
                            self.report(
                                Diagnostic::error(
                                    "E0206",
                                    format!("cannot name a signature after the file `{file_stem}`"),
                                    s.keyword_span,
                                )
                                .with_label("unnamed signature")
                                .with_help("rename the file to start with a letter, or use the block form: `signature Name { ... }`"),
                            );
                            continue;
                        }
                        (DeclarationKind::Signature, name, s.keyword_span)
                    }
                },
                ast::Item::Type(t) => (DeclarationKind::Type, t.name.name.clone(), t.name.span),
                ast::Item::Enum(e) => (DeclarationKind::Enum, e.name.name.clone(), e.name.span),
                ast::Item::Program(p) => {
                    (DeclarationKind::Program, p.name.name.clone(), p.name.span)
                }
            };
            if let ast::Item::Signature(s) = item {
                self.signature_names.insert(s.keyword_span, name.clone());
            }
            match self.declared.get(&name) {
                Some(first) => {
                    let first = *first;
                    self.report(
                        Diagnostic::error(
                            "E0301",
                            format!("the name `{name}` is declared twice"),
                            span,
                        )
                        .with_label(format!("second declaration, a {}", kind.noun()))
                        .with_related(
                            first.span,
                            format!("first declared here, as a {}", first.kind.noun()),
                        )
                        .with_help("signatures, types, enums and programs share one namespace per file; rename one of them"),
                    );
                }
                None => {
                    self.check_item_name(kind, &name, span);
                    self.declared.insert(name, Declaration { kind, span });
                }
            }
        }
    }

    fn check_item_name(&mut self, kind: DeclarationKind, name: &str, span: Span) {
        let fine = match kind {
            DeclarationKind::Program => is_snake_case(name),
            _ => name.chars().next().is_some_and(char::is_uppercase) && !name.contains('_'),
        };
        if fine {
            return;
        }
        let suggestion = match kind {
            DeclarationKind::Program => name.to_snake_case(),
            _ => name.to_pascal_case(),
        };
        let style = match kind {
            DeclarationKind::Program => "snake_case",
            _ => "PascalCase",
        };
        self.report(
            Diagnostic::warning(
                "W0103",
                format!("{} names are {style}: `{name}`", kind.noun()),
                span,
            )
            .with_label(format!("not {style}"))
            .with_help(format!("rename it to `{suggestion}`")),
        );
    }

    // --- Pass 2: items ---------------------------------------------------------------------

    fn item(&mut self, item: &ast::Item) {
        match item {
            ast::Item::Signature(s) => self.signature(s),
            ast::Item::Type(t) => self.record(t),
            ast::Item::Enum(e) => self.enumeration(e),
            ast::Item::Program(p) => self.program(p),
        }
    }

    fn signature(&mut self, declaration: &ast::SignatureDecl) {
        let Some(name) = self.signature_names.get(&declaration.keyword_span).cloned() else {
            return;
        };
        let arrows: Vec<&ast::Arrow> = declaration
            .members
            .iter()
            .filter_map(|m| match m {
                Member::Arrow(a) => Some(a),
                Member::Field(_) => None,
            })
            .collect();
        for arrow in &arrows {
            self.arrow_kind(arrow);
        }
        let mut seen = HashMap::new();
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        let mut arrows_seen = 0;
        for member in &declaration.members {
            match member {
                Member::Arrow(_) => arrows_seen += 1,
                Member::Field(field) => {
                    let checked = self.field(field, &mut seen, None);
                    if let Some(checked) = checked {
                        if arrows_seen == 0 {
                            inputs.push(checked);
                        } else {
                            outputs.push(checked);
                        }
                    }
                }
            }
        }
        let name_span = declaration
            .name
            .as_ref()
            .map_or(declaration.keyword_span, |n| n.span);
        if !declaration.recovered {
            self.arrows(declaration, &arrows, name_span);
        }
        let instructions = declaration.docs.as_ref().map(ast::Docs::text);
        self.signature_index
            .insert(name.clone(), self.document.signatures.len());
        self.document.signatures.push(Signature {
            name,
            instructions: instructions.filter(|t| !t.is_empty()),
            inputs,
            outputs,
        });
    }

    fn arrow_kind(&mut self, arrow: &ast::Arrow) {
        let written = match arrow.kind {
            ArrowKind::Ascii => return,
            ArrowKind::Fat => "=>",
            ArrowKind::Unicode => "→",
        };
        self.report(
            Diagnostic::error(
                "E0200",
                format!("inputs and outputs are separated by `->`, not `{written}`"),
                arrow.span,
            )
            .with_label("not `->`")
            .with_help("did you mean `->`?"),
        );
    }

    /// Exactly one `->`, with at least one field on each side.
    fn arrows(
        &mut self,
        declaration: &ast::SignatureDecl,
        arrows: &[&ast::Arrow],
        name_span: Span,
    ) {
        let Some(first) = arrows.first() else {
            self.report(
                Diagnostic::error("E0201", "signature has no `->` between inputs and outputs", name_span)
                    .with_label("no `->` in this signature")
                    .with_help("write the inputs, then `->`, then the outputs: `question: string -> answer: string`"),
            );
            return;
        };
        for extra in &arrows[1..] {
            self.report(
                Diagnostic::error("E0202", "signature has more than one `->`", extra.span)
                    .with_label("second `->`")
                    .with_related(first.span, "inputs end here")
                    .with_help(
                        "a signature has exactly one `->`: inputs before it, outputs after it",
                    ),
            );
        }
        let index = declaration
            .members
            .iter()
            .position(|m| matches!(m, Member::Arrow(_)))
            .unwrap_or(0);
        let has_field = |members: &[Member]| members.iter().any(|m| matches!(m, Member::Field(_)));
        if !has_field(&declaration.members[..index]) {
            self.report(
                Diagnostic::error("E0203", "signature has no input fields", first.span)
                    .with_label("nothing before `->`")
                    .with_help("add at least one input before `->`, such as `question: string`"),
            );
        }
        let after_first = &declaration.members[index + 1..];
        let outputs_end = after_first
            .iter()
            .position(|m| matches!(m, Member::Arrow(_)))
            .unwrap_or(after_first.len());
        if !has_field(&after_first[..outputs_end]) {
            self.report(
                Diagnostic::error("E0204", "signature has no output fields", first.span)
                    .with_label("nothing after `->`")
                    .with_help("add at least one output after `->`, such as `answer: string`"),
            );
        }
    }

    /// Checks one field; `record` names the enclosing type for direct-reference tracking.
    fn field(
        &mut self,
        field: &ast::Field,
        seen: &mut HashMap<String, Span>,
        record: Option<&str>,
    ) -> Option<Field> {
        let name = &field.name.name;
        let mut valid = true;
        if let Some(first) = seen.get(name) {
            self.report(
                Diagnostic::error("E0300", format!("field `{name}` is declared twice"), field.name.span)
                    .with_label("second declaration")
                    .with_related(*first, "first declared here")
                    .with_help("field names are unique across the inputs and outputs of a signature; rename one"),
            );
            valid = false;
        } else {
            seen.insert(name.clone(), field.name.span);
        }
        valid &= self.field_name(&field.name, record.is_none());
        let description = match (&field.docs, &field.description) {
            (Some(docs), Some(string)) => {
                self.report(
                    Diagnostic::error(
                        "E0306",
                        format!("field `{name}` has two descriptions"),
                        string.span,
                    )
                    .with_label("second description")
                    .with_related(docs.span, "first description, as `///` docs")
                    .with_help("keep either the `///` line or the string after the type"),
                );
                valid = false;
                None
            }
            (Some(docs), None) => Some(docs.text()),
            (None, Some(string)) => self.string_value(string),
            (None, None) => None,
        };
        let ty = match &field.ty {
            Some(ty) => self.type_expr(ty, record),
            None => Some(Type::string()),
        };
        match ty {
            Some(ty) if valid => Some(Field {
                name: name.clone(),
                ty,
                description,
            }),
            _ => None,
        }
    }

    /// snake_case, not a Python keyword, and not a name DSPy or pydantic use themselves.
    /// Returns whether the name is valid.
    fn field_name(&mut self, name: &ast::Ident, in_signature: bool) -> bool {
        let text = &name.name;
        if !is_snake_case(text) {
            self.report(
                Diagnostic::error(
                    "E0302",
                    format!("field names are snake_case: `{text}`"),
                    name.span,
                )
                .with_label("not snake_case")
                .with_help(format!("rename it to `{}`", text.to_snake_case())),
            );
            return false;
        }
        if PYTHON_KEYWORDS.contains(&text.as_str()) {
            self.report(
                Diagnostic::error(
                    "E0303",
                    format!("`{text}` is a Python keyword, so DSPy cannot name a field `{text}`"),
                    name.span,
                )
                .with_label("Python keyword")
                .with_help(format!("rename it, for example to `{text}_`")),
            );
            return false;
        }
        let owner = if in_signature && SIGNATURE_ATTRIBUTES.contains(&text.as_str()) {
            Some("DSPy's `Signature` class")
        } else if MODEL_ATTRIBUTES.contains(&text.as_str()) {
            Some("pydantic's `BaseModel`")
        } else if text.starts_with('_') {
            Some("pydantic (it keeps names starting with `_` private)")
        } else {
            None
        };
        if let Some(owner) = owner {
            let suggestion = format!("{}_value", text.trim_start_matches('_'));
            self.report(
                Diagnostic::error(
                    "E0303",
                    format!("`{text}` is reserved by {owner}, so the generated Python class cannot have this field"),
                    name.span,
                )
                .with_label("reserved name")
                .with_help(format!("rename it, for example to `{suggestion}`")),
            );
            return false;
        }
        if SHADOWED_ATTRIBUTES.contains(&text.as_str()) {
            self.report(
                Diagnostic::warning(
                    "W0104",
                    format!("field `{text}` shadows an attribute of pydantic's `BaseModel`"),
                    name.span,
                )
                .with_label("shadows a DSPy attribute")
                .with_help("DSPy and pydantic warn about it; a different name avoids the warning"),
            );
        }
        true
    }

    /// The processed value of a string literal; reports quoting and escape mistakes.
    fn string_value(&mut self, string: &StringLit) -> Option<String> {
        if string.quote == Quote::Single {
            self.report(
                Diagnostic::error("E0107", "strings use double quotes", string.span)
                    .with_label("single-quoted")
                    .with_help(format!("write \"{}\"", string.raw.replace('"', "\\\""))),
            );
            return None;
        }
        if !string.terminated {
            self.report(
                Diagnostic::error("E0106", "unterminated string", string.span)
                    .with_label("the line ends before the closing `\"`")
                    .with_help(
                        "close the string with `\"` on the same line; use `\\n` for a line break",
                    ),
            );
            return None;
        }
        match unescape(&string.raw) {
            Ok(value) => Some(value),
            Err(error) => {
                let start = string.span.start + 1 + error.offset;
                self.report(
                    Diagnostic::error("E0108", format!("invalid escape: {}", error.message), Span::new(start, start + error.len))
                        .with_label("invalid escape")
                        .with_help("a unicode escape is `\\u{` and 1 to 6 hex digits and `}`, such as `\\u{e9}`"),
                );
                None
            }
        }
    }

    // --- Types -------------------------------------------------------------------------------

    fn type_expr(&mut self, expr: &TypeExpr, record: Option<&str>) -> Option<Type> {
        if let Some(span) = expr.misplaced_optional {
            self.report(
                Diagnostic::error("E0407", "`?` goes after the constraints", span)
                    .with_label("too early")
                    .with_help(format!(
                        "write the constraints first, then `?`: `{}(...)?`",
                        type_name_of(expr)
                    )),
            );
        }
        let base = self.type_kind(expr, record);
        let constrained = match (base, &expr.constraints) {
            (Some(base), Some(constraints)) => self.constrain(base, constraints, expr),
            (base, _) => base,
        };
        let optional = expr.optional.is_some() || expr.misplaced_optional.is_some();
        if expr.misplaced_optional.is_some() {
            return None;
        }
        constrained.map(|ty| {
            if optional {
                Type::Optional(Box::new(ty))
            } else {
                ty
            }
        })
    }

    fn type_kind(&mut self, expr: &TypeExpr, record: Option<&str>) -> Option<Type> {
        match &expr.kind {
            TypeKind::Named { name } => self.named_type(name, record, expr.optional.is_some()),
            TypeKind::Generic { name, arguments } => self.generic_type(name, arguments),
            TypeKind::Literals { values } => {
                let mut seen: HashMap<String, Span> = HashMap::new();
                let mut literals = Vec::new();
                let mut valid = true;
                for literal in values {
                    let Some(value) = self.string_value(literal) else {
                        valid = false;
                        continue;
                    };
                    if let Some(first) = seen.get(&value) {
                        self.report(
                            Diagnostic::error(
                                "E0405",
                                format!("literal \"{value}\" is listed twice"),
                                literal.span,
                            )
                            .with_label("duplicate")
                            .with_related(*first, "first listed here")
                            .with_help("remove one of them"),
                        );
                        valid = false;
                        continue;
                    }
                    seen.insert(value.clone(), literal.span);
                    literals.push(value);
                }
                valid.then_some(Type::Literals(literals))
            }
        }
    }

    fn named_type(
        &mut self,
        name: &ast::Ident,
        record: Option<&str>,
        optional: bool,
    ) -> Option<Type> {
        let text = name.name.as_str();
        let builtin = match text {
            "string" => Some(Type::string()),
            "integer" | "int" => Some(Type::Integer {
                min: None,
                max: None,
            }),
            "float" => Some(Type::Float {
                min: None,
                max: None,
            }),
            "boolean" | "bool" => Some(Type::Boolean),
            "probability" => Some(Type::Probability {
                min: None,
                max: None,
            }),
            "reasoning_chain" => Some(Type::ReasoningChain),
            "json" => Some(Type::Json),
            _ => None,
        };
        if builtin.is_some() {
            return builtin;
        }
        if text == "list" || text == "map" {
            self.report(
                Diagnostic::error(
                    "E0401",
                    format!("`{text}` needs an element type"),
                    name.span,
                )
                .with_label("missing `[...]`")
                .with_help(format!(
                    "write `{text}[string]`, or another type in the brackets"
                )),
            );
            return None;
        }
        match self.declared.get(text).copied() {
            Some(Declaration {
                kind: DeclarationKind::Type,
                ..
            }) => {
                self.used.insert(text.to_string());
                if let (Some(from), false) = (record, optional) {
                    self.direct_references
                        .push((from.to_string(), text.to_string(), name.span));
                }
                Some(Type::Record(text.to_string()))
            }
            Some(Declaration {
                kind: DeclarationKind::Enum,
                ..
            }) => {
                self.used.insert(text.to_string());
                Some(Type::Enum(text.to_string()))
            }
            Some(Declaration { kind, span }) => {
                self.report(
                    Diagnostic::error(
                        "E0400",
                        format!("`{text}` is a {}, not a type", kind.noun()),
                        name.span,
                    )
                    .with_label(format!("a {}", kind.noun()))
                    .with_related(span, "declared here")
                    .with_help("a field's type is a built-in type, a `type` or an `enum`"),
                );
                None
            }
            None => {
                let mut diagnostic =
                    Diagnostic::error("E0400", format!("unknown type `{text}`"), name.span)
                        .with_label("not a known type");
                if let Some(suggestion) = self.suggest_type(text) {
                    diagnostic = diagnostic.with_help(format!("did you mean `{suggestion}`?"));
                } else {
                    diagnostic = diagnostic.with_help(
                        "built-in types are string, integer, float, boolean, probability, reasoning_chain, json, list[T] and map[T]; declare others with `type` or `enum`",
                    );
                }
                self.report(diagnostic);
                None
            }
        }
    }

    /// "Did you mean" for an unknown type: common names from other languages, then the nearest
    /// built-in or declared name.
    fn suggest_type(&self, text: &str) -> Option<String> {
        let known = match text {
            "str" | "String" | "text" | "Text" | "char" => "string",
            "number" | "Number" | "double" | "decimal" | "real" | "f64" | "f32" | "Float" => {
                "float"
            }
            "i64" | "i32" | "u64" | "u32" | "long" | "Integer" | "Int" | "usize" => "integer",
            "Boolean" | "Bool" => "boolean",
            "dict" | "Dict" | "object" | "Map" | "HashMap" | "record" | "Record" => "map[string]",
            "array" | "Array" | "List" | "Vec" | "vec" | "set" | "tuple" => "list[string]",
            "any" | "Any" | "Json" | "JSON" | "Value" => "json",
            "Probability" | "prob" | "confidence" => "probability",
            "reasoning" | "ReasoningChain" | "chain" => "reasoning_chain",
            _ => "",
        };
        if !known.is_empty() {
            return Some(known.to_string());
        }
        let lower = text.to_lowercase();
        let candidates = BUILTIN_TYPES.iter().map(|s| s.to_string()).chain(
            self.declared
                .iter()
                .filter(|(_, d)| matches!(d.kind, DeclarationKind::Type | DeclarationKind::Enum))
                .map(|(name, _)| name.clone()),
        );
        nearest(&lower, candidates, |c| c.to_lowercase())
    }

    fn generic_type(&mut self, name: &ast::Ident, arguments: &[TypeExpr]) -> Option<Type> {
        let text = name.name.as_str();
        match text {
            "list" | "map" => {}
            _ => {
                let is_scalar = BUILTIN_TYPES.contains(&text) || self.declared.contains_key(text);
                let diagnostic = Diagnostic::error(
                    "E0403",
                    if is_scalar {
                        format!("`{text}` takes no type arguments")
                    } else {
                        format!("unknown generic type `{text}`")
                    },
                    name.span,
                )
                .with_label(if is_scalar {
                    "not generic"
                } else {
                    "not a known type"
                });
                let help = match self.suggest_type(text).as_deref() {
                    _ if is_scalar => format!("only `list[T]` and `map[T]` take a type in brackets; write `{text}` or `list[{text}]`"),
                    Some(s) if s.starts_with("list") || s.starts_with("map") => {
                        format!("did you mean `{}[...]`?", &s[..s.find('[').unwrap_or(s.len())])
                    }
                    _ => "the generic types are `list[T]` and `map[T]`".to_string(),
                };
                self.report(diagnostic.with_help(help));
                return None;
            }
        }
        if text == "map" && arguments.len() == 2 {
            let key_is_string =
                matches!(&arguments[0].kind, TypeKind::Named { name } if name.name == "string");
            let value = source_text_of(&arguments[1]);
            self.report(
                Diagnostic::error(
                    "E0404",
                    "map keys are always strings; `map` takes only the value type",
                    arguments[0].span,
                )
                .with_label(if key_is_string {
                    "key type"
                } else {
                    "keys cannot have another type"
                })
                .with_help(format!("write `map[{value}]`")),
            );
            return None;
        }
        if arguments.len() != 1 {
            let extra = arguments.get(1).map_or(name.span, |a| {
                a.span.join(arguments[arguments.len() - 1].span)
            });
            self.report(
                Diagnostic::error("E0402", format!("`{text}` takes exactly one type argument, found {}", arguments.len()), extra)
                    .with_label("extra type argument")
                    .with_help(format!("`{text}[T]` has one element type; for several kinds of value declare a `type` with a field for each")),
            );
            return None;
        }
        // Inside a list or map, a record reference is boxed by the container.
        // Inside a list or map a record reference is indirect, so it cannot make a record infinite.
        let inner = Box::new(self.type_expr(&arguments[0], None)?);
        Some(if text == "list" {
            Type::List {
                item: inner,
                min_items: None,
                max_items: None,
            }
        } else {
            Type::Map {
                value: inner,
                min_entries: None,
                max_entries: None,
            }
        })
    }

    // --- Constraints ---------------------------------------------------------------------------

    fn constrain(
        &mut self,
        base: Type,
        constraints: &ast::Constraints,
        expr: &TypeExpr,
    ) -> Option<Type> {
        let type_name = type_name_of(expr);
        let allowed: &[&str] = match &base {
            Type::String { .. } => &["min", "max", "pattern"],
            Type::Integer { .. } | Type::Float { .. } | Type::Probability { .. } => &["min", "max"],
            Type::List { .. } | Type::Map { .. } => &["min", "max"],
            _ => &[],
        };
        let mut values = ConstraintValues::default();
        let mut valid = true;
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for constraint in &constraints.items {
            let key = constraint.name.name.as_str();
            if !["min", "max", "pattern"].contains(&key) {
                let suggestion = match key {
                    "minimum" | "min_length" | "minLength" | "ge" | "gte" | "min_items"
                    | "minItems" | "at_least" => Some("min"),
                    "maximum" | "max_length" | "maxLength" | "le" | "lte" | "max_items"
                    | "maxItems" | "at_most" | "length" | "len" => Some("max"),
                    "regex" | "regexp" | "re" | "format" | "matches" => Some("pattern"),
                    _ => None,
                };
                let mut diagnostic = Diagnostic::error(
                    "E0501",
                    format!("unknown constraint `{key}`"),
                    constraint.name.span,
                )
                .with_label("not a constraint");
                diagnostic = match suggestion {
                    Some(s) => diagnostic.with_help(format!("did you mean `{s}`? the constraints are `min`, `max` and `pattern`")),
                    None => diagnostic.with_help("the constraints are `min`, `max` (numbers: value; strings and lists: length; maps: entries) and `pattern` (strings)"),
                };
                self.report(diagnostic);
                valid = false;
                continue;
            }
            if let Some(first) = seen.get(key) {
                self.report(
                    Diagnostic::error(
                        "E0505",
                        format!("constraint `{key}` is given twice"),
                        constraint.span,
                    )
                    .with_label("second one")
                    .with_related(*first, "first given here")
                    .with_help("keep one of them"),
                );
                valid = false;
                continue;
            }
            seen.insert(key, constraint.span);
            if !allowed.contains(&key) {
                let help = match (&base, key) {
                    (_, "pattern") if allowed.is_empty() => format!("`{type_name}` takes no constraints"),
                    (_, "pattern") => "`pattern` applies to strings only".to_string(),
                    (Type::Record(_) | Type::Enum(_) | Type::Literals(_), _) => {
                        "constrain the fields of the `type`, or list the allowed values".to_string()
                    }
                    _ => format!("`{type_name}` takes no constraints; `min` and `max` apply to numbers, strings, lists and maps"),
                };
                self.report(
                    Diagnostic::error(
                        "E0500",
                        format!("constraint `{key}` does not apply to `{type_name}`"),
                        constraint.name.span,
                    )
                    .with_label(format!("not for `{type_name}`"))
                    .with_help(help),
                );
                valid = false;
                continue;
            }
            match (key, &constraint.value) {
                ("pattern", ast::Value::String(string)) => match self.string_value(string) {
                    Some(pattern) => {
                        if self.pattern(&pattern, string) {
                            values.pattern = Some((pattern, constraint));
                        } else {
                            valid = false;
                        }
                    }
                    None => valid = false,
                },
                ("min" | "max", ast::Value::Number { text, span }) => match text.parse::<f64>() {
                    Ok(number) if number.is_finite() => {
                        if key == "min" {
                            values.min = Some((number, constraint));
                        } else {
                            values.max = Some((number, constraint));
                        }
                    }
                    _ => {
                        self.report(
                            Diagnostic::error(
                                "E0504",
                                format!("`{text}` is not a usable number"),
                                *span,
                            )
                            .with_label("out of range")
                            .with_help("use a finite number such as `5` or `0.5`"),
                        );
                        valid = false;
                    }
                },
                (key, value) => {
                    let wanted = if key == "pattern" {
                        "a regular expression in double quotes"
                    } else {
                        "a number"
                    };
                    self.report(
                        Diagnostic::error(
                            "E0504",
                            format!("constraint `{key}` takes {wanted}"),
                            value.span(),
                        )
                        .with_label(format!("expected {wanted}"))
                        .with_help(if key == "pattern" {
                            "write `pattern: \"^[A-Z]{3}$\"`"
                        } else {
                            "write a number without quotes, such as `max: 5`"
                        }),
                    );
                    valid = false;
                }
            }
        }
        if !valid {
            return None;
        }
        self.apply(base, values, &type_name)
    }

    /// Puts checked bound values into the type, with the checks that depend on the type.
    fn apply(&mut self, base: Type, values: ConstraintValues, type_name: &str) -> Option<Type> {
        let min_max_order = |checker: &mut Checker,
                             min: &Option<(f64, &ast::Constraint)>,
                             max: &Option<(f64, &ast::Constraint)>| {
            if let (Some((low, low_at)), Some((high, high_at))) = (min, max) {
                if low > high {
                    checker.report(
                        Diagnostic::error(
                            "E0502",
                            format!(
                                "`min` ({}) is greater than `max` ({})",
                                number_text(low_at),
                                number_text(high_at)
                            ),
                            low_at.span,
                        )
                        .with_label("greater than max")
                        .with_related(high_at.span, "max given here")
                        .with_help("swap them, or fix the bound that is wrong"),
                    );
                    return false;
                }
            }
            true
        };
        if !min_max_order(self, &values.min, &values.max) {
            return None;
        }
        match base {
            Type::Integer { .. } => {
                let min = self.integer_bound(&values.min, type_name)?;
                let max = self.integer_bound(&values.max, type_name)?;
                Some(Type::Integer { min, max })
            }
            Type::Float { .. } => Some(Type::Float {
                min: values.min.map(|(v, _)| v),
                max: values.max.map(|(v, _)| v),
            }),
            Type::Probability { .. } => {
                for (value, at) in values.min.iter().chain(values.max.iter()) {
                    if !(0.0..=1.0).contains(value) {
                        self.report(
                            Diagnostic::error(
                                "E0508",
                                format!(
                                    "a probability is between 0 and 1; `{}` is outside",
                                    number_text(at)
                                ),
                                at.value.span(),
                            )
                            .with_label("outside 0..1")
                            .with_help("use bounds between 0 and 1, or `float` for other numbers"),
                        );
                        return None;
                    }
                }
                Some(Type::Probability {
                    min: values.min.map(|(v, _)| v),
                    max: values.max.map(|(v, _)| v),
                })
            }
            Type::String { .. } => Some(Type::String {
                min_length: self.length(&values.min, type_name)?,
                max_length: self.length(&values.max, type_name)?,
                pattern: values.pattern.map(|(p, _)| p),
            }),
            Type::List { item, .. } => Some(Type::List {
                item,
                min_items: self.length(&values.min, type_name)?,
                max_items: self.length(&values.max, type_name)?,
            }),
            Type::Map { value, .. } => Some(Type::Map {
                value,
                min_entries: self.length(&values.min, type_name)?,
                max_entries: self.length(&values.max, type_name)?,
            }),
            other => Some(other),
        }
    }

    /// An integer bound; `None` inside means absent, an outer `None` means it was wrong.
    fn integer_bound(
        &mut self,
        bound: &Option<(f64, &ast::Constraint)>,
        type_name: &str,
    ) -> Option<Option<i64>> {
        let Some((value, at)) = bound else {
            return Some(None);
        };
        if value.fract() != 0.0 || value.abs() > 9.0e15 {
            self.report(
                Diagnostic::error(
                    "E0509",
                    format!(
                        "bounds of `{type_name}` are whole numbers, not `{}`",
                        number_text(at)
                    ),
                    at.value.span(),
                )
                .with_label("not a whole number")
                .with_help("use a whole number, or `float` for fractional values"),
            );
            return None;
        }
        Some(Some(*value as i64))
    }

    /// A length or entry count: a whole number, at least 0.
    fn length(
        &mut self,
        bound: &Option<(f64, &ast::Constraint)>,
        type_name: &str,
    ) -> Option<Option<u64>> {
        let Some((value, at)) = bound else {
            return Some(None);
        };
        if *value < 0.0 || value.fract() != 0.0 || *value > 9.0e15 {
            let what = if type_name.starts_with("map") {
                "an entry count"
            } else {
                "a length"
            };
            self.report(
                Diagnostic::error(
                    "E0503",
                    format!(
                        "`{}` on `{type_name}` is {what}, which is a whole number of at least 0",
                        at.name.name
                    ),
                    at.value.span(),
                )
                .with_label(format!("not {what}"))
                .with_help(format!(
                    "`{}` here counts {}; use a whole number such as `1`",
                    at.name.name,
                    if type_name.starts_with("string") {
                        "characters"
                    } else if type_name.starts_with("map") {
                        "entries"
                    } else {
                        "items"
                    }
                )),
            );
            return None;
        }
        Some(Some(*value as u64))
    }

    /// A `pattern` must be a regular expression in the common subset of Rust's `regex` and
    /// ECMAScript. Returns whether it is.
    fn pattern(&mut self, pattern: &str, string: &StringLit) -> bool {
        let unsupported = [
            ("(?=", "look-ahead"),
            ("(?!", "look-ahead"),
            ("(?<=", "look-behind"),
            ("(?<!", "look-behind"),
            ("\\k<", "a back-reference"),
            ("(?P<", "Python-style named groups"),
            ("[[:", "POSIX character classes"),
            ("\\A", "`\\A`"),
            ("\\z", "`\\z`"),
        ];
        let backreference = pattern.char_indices().find(|&(i, c)| {
            c == '\\'
                && pattern[i + 1..].starts_with(|d: char| d.is_ascii_digit() && d != '0')
                && !escaped_backslash(pattern, i)
        });
        let found = unsupported
            .iter()
            .filter_map(|(needle, what)| pattern.find(needle).map(|i| (i, *what)))
            .chain(backreference.map(|(i, _)| (i, "a back-reference")))
            .min();
        if let Some((_, what)) = found {
            self.report(
                Diagnostic::error("E0507", format!("`pattern` uses {what}, which is not portable"), string.span)
                    .with_label(format!("uses {what}"))
                    .with_help("patterns must work in Rust's `regex` and in JSON Schema (ECMAScript); rewrite it without look-around, back-references or inline flags"),
            );
            return false;
        }
        if pattern.starts_with("(?") && pattern[2..].starts_with(|c: char| c.is_ascii_alphabetic())
        {
            self.report(
                Diagnostic::error(
                    "E0507",
                    "`pattern` uses inline flags, which are not portable",
                    string.span,
                )
                .with_label("inline flags")
                .with_help("ECMAScript has no inline flags; spell out both cases, as in `[Aa]`"),
            );
            return false;
        }
        match regex_syntax::Parser::new().parse(pattern) {
            Ok(_) => true,
            Err(error) => {
                let reason = match &error {
                    regex_syntax::Error::Parse(e) => e.kind().to_string(),
                    regex_syntax::Error::Translate(e) => e.kind().to_string(),
                    other => other.to_string(),
                };
                self.report(
                    Diagnostic::error("E0506", format!("`pattern` is not a valid regular expression: {reason}"), string.span)
                        .with_label("invalid regular expression")
                        .with_help("check brackets, parentheses and repetitions; a literal `\\` is written `\\\\`"),
                );
                false
            }
        }
    }

    // --- Records and enums -----------------------------------------------------------------

    fn record(&mut self, declaration: &ast::TypeDecl) {
        let mut seen = HashMap::new();
        let mut fields = Vec::new();
        for member in &declaration.members {
            match member {
                Member::Arrow(arrow) => self.report(
                    Diagnostic::error("E0207", "a `type` has fields only, no `->`", arrow.span)
                        .with_label("not allowed in a type")
                        .with_help("a `type` is a record of fields; to map inputs to outputs declare a `signature`"),
                ),
                Member::Field(field) => {
                    if let Some(field) = self.field(field, &mut seen, Some(&declaration.name.name)) {
                        fields.push(field);
                    }
                }
            }
        }
        self.document.records.push(Record {
            name: declaration.name.name.clone(),
            docs: declaration.docs.as_ref().map(ast::Docs::text),
            fields,
        });
    }

    fn enumeration(&mut self, declaration: &ast::EnumDecl) {
        if declaration.variants.is_empty() && !declaration.recovered {
            self.report(
                Diagnostic::error(
                    "E0305",
                    format!("enum `{}` has no variants", declaration.name.name),
                    declaration.name.span,
                )
                .with_label("empty enum")
                .with_help("list its values: `enum Sentiment { positive, negative }`"),
            );
        }
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut variants = Vec::new();
        for variant in &declaration.variants {
            let name = variant.name.name.as_str();
            if let Some(first) = seen.get(name) {
                self.report(
                    Diagnostic::error(
                        "E0304",
                        format!("variant `{name}` is listed twice"),
                        variant.name.span,
                    )
                    .with_label("duplicate")
                    .with_related(*first, "first listed here")
                    .with_help("remove one of them"),
                );
                continue;
            }
            seen.insert(name, variant.name.span);
            if PYTHON_KEYWORDS.contains(&name) {
                self.report(
                    Diagnostic::error("E0303", format!("`{name}` is a Python keyword, so DSPy's enum cannot have it as a member"), variant.name.span)
                        .with_label("Python keyword")
                        .with_help(format!("rename it, for example to `{}`", name.to_lowercase() + "_")),
                );
                continue;
            }
            let description = match (&variant.docs, &variant.description) {
                (Some(docs), Some(string)) => {
                    self.report(
                        Diagnostic::error(
                            "E0306",
                            format!("variant `{name}` has two descriptions"),
                            string.span,
                        )
                        .with_label("second description")
                        .with_related(docs.span, "first description, as `///` docs")
                        .with_help("keep either the `///` line or the string"),
                    );
                    None
                }
                (Some(docs), None) => Some(docs.text()),
                (None, Some(string)) => self.string_value(string),
                (None, None) => None,
            };
            variants.push(Variant {
                name: name.to_string(),
                description,
            });
        }
        self.document.enums.push(Enum {
            name: declaration.name.name.clone(),
            docs: declaration.docs.as_ref().map(ast::Docs::text),
            variants,
        });
    }

    /// A record that contains itself through required, unboxed fields has no finite value.
    fn infinite_records(&mut self) {
        let mut reported: HashSet<String> = HashSet::new();
        let edges = self.direct_references.clone();
        for (from, to, span) in &edges {
            if reported.contains(from) {
                continue;
            }
            // Is `from` reachable again from `to`?
            let mut stack = vec![to.clone()];
            let mut visited: HashSet<String> = HashSet::new();
            let mut cycle = false;
            while let Some(current) = stack.pop() {
                if &current == from {
                    cycle = true;
                    break;
                }
                if !visited.insert(current.clone()) {
                    continue;
                }
                stack.extend(
                    edges
                        .iter()
                        .filter(|(f, _, _)| *f == current)
                        .map(|(_, t, _)| t.clone()),
                );
            }
            if cycle {
                for (f, _, _) in edges
                    .iter()
                    .filter(|(f, t, _)| visited.contains(f) || f == from || visited.contains(t))
                {
                    reported.insert(f.clone());
                }
                reported.insert(from.clone());
                self.report(
                    Diagnostic::error(
                        "E0406",
                        format!("type `{from}` contains itself, so no value of it can be written"),
                        *span,
                    )
                    .with_label(format!(
                        "`{from}` contains `{to}`{}",
                        if to == from {
                            ""
                        } else {
                            ", which contains it again"
                        }
                    ))
                    .with_help(format!(
                        "make the reference optional (`{to}?`) or a list (`list[{to}]`)"
                    )),
                );
            }
        }
    }

    fn unused(&mut self, file: &ast::SourceFile) {
        for item in &file.items {
            let (name, kind) = match item {
                ast::Item::Type(t) => (&t.name, "type"),
                ast::Item::Enum(e) => (&e.name, "enum"),
                _ => continue,
            };
            if !self.used.contains(&name.name) {
                self.report(
                    Diagnostic::warning(
                        "W0100",
                        format!("{kind} `{}` is never used", name.name),
                        name.span,
                    )
                    .with_label("unused")
                    .with_help("use it as a field's type, or remove it"),
                );
            }
        }
    }

    // --- Programs --------------------------------------------------------------------------

    fn program(&mut self, declaration: &ast::ProgramDecl) {
        let module_name = declaration.module.name.as_str();
        let module_span = declaration.module.span;
        let known = [
            "predict",
            "chain_of_thought",
            "best_of_n",
            "multi_chain_comparison",
        ];
        let reserved = [
            "react",
            "retrieve",
            "pipeline",
            "program_of_thought",
            "refine",
            "parallel",
        ];
        if !known.contains(&module_name) {
            let snake = module_name.to_snake_case();
            let diagnostic = if known.contains(&snake.as_str()) || module_name == "BestOfN" {
                let snake = if module_name == "BestOfN" {
                    "best_of_n".to_string()
                } else {
                    snake
                };
                Diagnostic::error(
                    "E0601",
                    format!("module names are snake_case: `{module_name}`"),
                    module_span,
                )
                .with_label("DSPy's class name")
                .with_help(format!("write `{snake}`"))
            } else if reserved.contains(&snake.as_str()) || module_name == "ReAct" {
                Diagnostic::error("E0602", format!("module `{module_name}` is reserved for a later version of the language"), module_span)
                    .with_label("not in version 1")
                    .with_help("version 1 modules are `predict`, `chain_of_thought`, `best_of_n` and `multi_chain_comparison`")
            } else {
                let mut diagnostic = Diagnostic::error(
                    "E0600",
                    format!("unknown module `{module_name}`"),
                    module_span,
                )
                .with_label("not a module");
                diagnostic = match nearest(&snake, known.iter().map(|s| s.to_string()), |s| s.clone()) {
                    Some(s) => diagnostic.with_help(format!("did you mean `{s}`?")),
                    None => diagnostic.with_help("the modules are `predict`, `chain_of_thought`, `best_of_n` and `multi_chain_comparison`"),
                };
                diagnostic
            };
            self.report(diagnostic);
            return;
        }
        let mut positional = Vec::new();
        let mut named: Vec<(&ast::Ident, &ast::Value)> = Vec::new();
        for argument in &declaration.arguments {
            match argument {
                ast::Argument::Positional { value } => positional.push(value),
                ast::Argument::Named { name, value } => {
                    if let Some((first, _)) = named.iter().find(|(n, _)| n.name == name.name) {
                        self.report(
                            Diagnostic::error(
                                "E0608",
                                format!("argument `{}` is given twice", name.name),
                                name.span,
                            )
                            .with_label("second one")
                            .with_related(first.span, "first given here")
                            .with_help("keep one of them"),
                        );
                        return;
                    }
                    named.push((name, value));
                }
            }
        }
        let signature = match positional.first() {
            None => {
                self.report(
                    Diagnostic::error(
                        "E0604",
                        format!("`{module_name}` needs the signature it runs"),
                        declaration.call_span,
                    )
                    .with_label("no signature given")
                    .with_help(format!("name a signature first: `{module_name}(QA)`")),
                );
                return;
            }
            Some(ast::Value::Ident(ident)) => ident,
            Some(other) => {
                self.report(
                    Diagnostic::error(
                        "E0604",
                        format!("`{module_name}` takes a signature name as its first argument"),
                        other.span(),
                    )
                    .with_label("not a signature name")
                    .with_help(format!(
                        "name a signature declared in this file: `{module_name}(QA)`"
                    )),
                );
                return;
            }
        };
        for extra in positional.iter().skip(1) {
            self.report(
                Diagnostic::error(
                    "E0609",
                    format!("`{module_name}` takes one signature; other arguments are named"),
                    extra.span(),
                )
                .with_label("extra argument")
                .with_help(match module_name {
                    "best_of_n" => "write `best_of_n(QA, n: 3)`",
                    "multi_chain_comparison" => "write `multi_chain_comparison(QA, m: 3)`",
                    _ => "a program runs one signature; declare one program per signature",
                }),
            );
        }
        let mut valid = positional.len() == 1;
        match self.declared.get(&signature.name).copied() {
            Some(Declaration {
                kind: DeclarationKind::Signature,
                ..
            }) => {}
            Some(Declaration { kind, span }) => {
                self.report(
                    Diagnostic::error(
                        "E0603",
                        format!("`{}` is a {}, not a signature", signature.name, kind.noun()),
                        signature.span,
                    )
                    .with_label(format!("a {}", kind.noun()))
                    .with_related(span, "declared here")
                    .with_help("a program runs a signature declared in this file"),
                );
                valid = false;
            }
            None => {
                let signatures = self.signature_names.values().cloned().collect::<Vec<_>>();
                let mut diagnostic = Diagnostic::error(
                    "E0603",
                    format!("unknown signature `{}`", signature.name),
                    signature.span,
                )
                .with_label("no signature of this name");
                diagnostic = match nearest(
                    &signature.name.to_lowercase(),
                    signatures.into_iter(),
                    |s| s.to_lowercase(),
                ) {
                    Some(s) => diagnostic.with_help(format!("did you mean `{s}`?")),
                    None => {
                        diagnostic.with_help("a program runs a signature declared in the same file")
                    }
                };
                self.report(diagnostic);
                valid = false;
            }
        }
        let accepted: &[&str] = match module_name {
            "best_of_n" => &["n"],
            "multi_chain_comparison" => &["m"],
            _ => &[],
        };
        let mut count = None;
        for (name, value) in &named {
            if !accepted.contains(&name.name.as_str()) {
                let help = match accepted {
                    [] => format!("`{module_name}` takes no arguments besides the signature"),
                    [one] => format!("`{module_name}` takes `{one}`"),
                    _ => String::new(),
                };
                self.report(
                    Diagnostic::error(
                        "E0607",
                        format!("`{module_name}` has no argument `{}`", name.name),
                        name.span,
                    )
                    .with_label("unknown argument")
                    .with_help(help),
                );
                valid = false;
                continue;
            }
            match value {
                ast::Value::Number { text, .. } if text.parse::<u32>().is_ok_and(|n| n >= 1) => {
                    count = text.parse::<u32>().ok();
                }
                other => {
                    let shown = match other {
                        ast::Value::Number { text, .. } => text.clone(),
                        ast::Value::String(s) => format!("\"{}\"", s.raw),
                        ast::Value::Ident(i) => i.name.clone(),
                    };
                    self.report(
                        Diagnostic::error(
                            "E0606",
                            format!(
                                "`{}` is a whole number of at least 1, not `{shown}`",
                                name.name
                            ),
                            other.span(),
                        )
                        .with_label("expected a whole number >= 1")
                        .with_help(format!("write `{}: 3`", name.name)),
                    );
                    valid = false;
                }
            }
        }
        let module = match module_name {
            "predict" => Module::Predict,
            "chain_of_thought" => Module::ChainOfThought,
            "best_of_n" => match count {
                Some(n) => Module::BestOfN { n },
                None => {
                    if !named.iter().any(|(n, _)| n.name == "n") {
                        self.report(
                            Diagnostic::error(
                                "E0605",
                                "`best_of_n` needs `n`, the number of attempts",
                                declaration.call_span,
                            )
                            .with_label("missing `n`")
                            .with_help(format!("write `best_of_n({}, n: 3)`", signature.name)),
                        );
                    }
                    return;
                }
            },
            _ => Module::MultiChainComparison {
                m: count.unwrap_or(3),
            },
        };
        if !valid {
            return;
        }
        if module == Module::ChainOfThought {
            let checked = self.signature_index.get(&signature.name);
            if let Some(sig) = checked.and_then(|&i| self.document.signatures.get(i)) {
                if sig.outputs.iter().any(|f| f.name == "reasoning") {
                    self.report(
                        Diagnostic::warning("W0102", format!("signature `{}` already has a `reasoning` output", signature.name), declaration.module.span)
                            .with_label("adds no reasoning field")
                            .with_help("`chain_of_thought` keeps the signature's own `reasoning`; use `predict` to make that explicit"),
                    );
                }
            }
        }
        self.document.programs.push(Program {
            name: declaration.name.name.clone(),
            docs: declaration.docs.as_ref().map(ast::Docs::text),
            module,
            signature: signature.name.clone(),
        });
    }
}

// --- Helpers ---------------------------------------------------------------------------------

/// `question_answering` -> `QuestionAnswering`, split on `_`, `-`, `.` and spaces.
pub fn name_from_stem(stem: &str) -> String {
    stem.split(['_', '-', '.', ' '])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Lowercase letters of any script (or letters without case), digits and `_`.
fn is_snake_case(name: &str) -> bool {
    !name.chars().any(|c| c.is_uppercase() || c == '-')
}

fn escaped_backslash(pattern: &str, index: usize) -> bool {
    pattern[..index]
        .chars()
        .rev()
        .take_while(|&c| c == '\\')
        .count()
        % 2
        == 1
}

/// The number of a bound constraint as written.
fn number_text(constraint: &ast::Constraint) -> String {
    match &constraint.value {
        ast::Value::Number { text, .. } => text.clone(),
        _ => String::new(),
    }
}

/// The base type's name as written (`integer`, `list`), for messages.
fn type_name_of(expr: &TypeExpr) -> String {
    match &expr.kind {
        TypeKind::Named { name } => name.name.clone(),
        TypeKind::Generic { name, .. } => format!("{}[...]", name.name),
        TypeKind::Literals { .. } => "a literal union".to_string(),
    }
}

/// A type written back as text, for hints.
fn source_text_of(expr: &TypeExpr) -> String {
    match &expr.kind {
        TypeKind::Named { name } => name.name.clone(),
        TypeKind::Generic { name, arguments } => format!(
            "{}[{}]",
            name.name,
            arguments
                .iter()
                .map(source_text_of)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeKind::Literals { values } => values
            .iter()
            .map(|v| format!("\"{}\"", v.raw))
            .collect::<Vec<_>>()
            .join(" | "),
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
fn nearest(
    word: &str,
    candidates: impl Iterator<Item = String>,
    key: impl Fn(&String) -> String,
) -> Option<String> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, String)> = None;
    for candidate in candidates {
        let distance = strsim::damerau_levenshtein(word, &key(&candidate));
        if distance <= limit
            && best
                .as_ref()
                .is_none_or(|(d, c)| (distance, &candidate) < (*d, c))
        {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}
