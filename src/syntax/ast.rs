//! The syntax tree of a `.sig` file: what was written, with byte spans, before any checking.
//! It keeps the tolerated mistakes (`=>`, single quotes, `?` before constraints) so that the
//! checker can report them, and is serialisable for snapshot tests.

use serde::Serialize;

use crate::diagnostic::Span;

/// A whole file: its items in source order.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SourceFile {
    pub items: Vec<Item>,
    /// `///` lines that document nothing (at the end of the file).
    pub dangling_docs: Vec<Docs>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Item {
    Signature(SignatureDecl),
    Type(TypeDecl),
    Enum(EnumDecl),
    Program(ProgramDecl),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Signature(s) => s.span,
            Item::Type(t) => t.span,
            Item::Enum(e) => e.span,
            Item::Program(p) => p.span,
        }
    }
}

/// An identifier with its span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// Consecutive `///` lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Docs {
    /// Each line's text after `///`, with one leading space removed.
    pub lines: Vec<String>,
    pub span: Span,
}

impl Docs {
    /// The lines joined with newlines, trimmed at both ends.
    pub fn text(&self) -> String {
        self.lines.join("\n").trim().to_string()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureForm {
    /// `signature a: string -> b`
    Line,
    /// `signature Name { ... }`
    Block,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignatureDecl {
    pub docs: Option<Docs>,
    /// `None` for the one-line form, which is named after the file.
    pub name: Option<Ident>,
    pub form: SignatureForm,
    /// Fields and arrows in source order.
    pub members: Vec<Member>,
    pub keyword_span: Span,
    pub span: Span,
    pub recovered: bool,
}

// Fields dominate blocks, so boxing them to shrink `Arrow` members would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "member", rename_all = "snake_case")]
pub enum Member {
    Field(Field),
    Arrow(Arrow),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrowKind {
    /// `->`, the only correct one.
    Ascii,
    /// `=>`
    Fat,
    /// `→`
    Unicode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Arrow {
    pub kind: ArrowKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    pub docs: Option<Docs>,
    pub name: Ident,
    /// `None` when no type is written (a `string`, as in DSPy).
    pub ty: Option<TypeExpr>,
    pub description: Option<StringLit>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeExpr {
    /// The roadmap's leading colon, `:string`.
    pub leading_colon: bool,
    pub kind: TypeKind,
    pub constraints: Option<Constraints>,
    /// The span of `?` when the type is optional.
    pub optional: Option<Span>,
    /// A `?` written before the constraints (`integer?(min: 1)`), which is an error.
    pub misplaced_optional: Option<Span>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeKind {
    /// `string`, `Source`, `list` (without arguments).
    Named { name: Ident },
    /// `list[T]`, `map[T]`, or a mistaken `string[T]`.
    Generic {
        name: Ident,
        arguments: Vec<TypeExpr>,
    },
    /// `"a" | "b"`
    Literals { values: Vec<StringLit> },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Constraints {
    pub items: Vec<Constraint>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Constraint {
    pub name: Ident,
    pub value: Value,
    pub span: Span,
}

/// A literal value in a constraint or a program argument.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "value", rename_all = "snake_case")]
pub enum Value {
    /// A number as written (`3`, `-0.5`, `1e3`).
    Number {
        text: String,
        span: Span,
    },
    String(StringLit),
    Ident(Ident),
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::Number { span, .. } => *span,
            Value::String(s) => s.span,
            Value::Ident(i) => i.span,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quote {
    Double,
    /// `'...'`, which is an error.
    Single,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StringLit {
    /// The text between the quotes, exactly as written (escapes not processed).
    pub raw: String,
    pub quote: Quote,
    /// `false` when the line ended before the closing quote.
    pub terminated: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeDecl {
    pub docs: Option<Docs>,
    pub name: Ident,
    /// Fields and (mistaken) arrows in source order.
    pub members: Vec<Member>,
    pub span: Span,
    pub recovered: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnumDecl {
    pub docs: Option<Docs>,
    pub name: Ident,
    pub variants: Vec<VariantDecl>,
    pub span: Span,
    pub recovered: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantDecl {
    pub docs: Option<Docs>,
    pub name: Ident,
    pub description: Option<StringLit>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgramDecl {
    pub docs: Option<Docs>,
    pub name: Ident,
    pub module: Ident,
    pub arguments: Vec<Argument>,
    /// The span of `module(...)`.
    pub call_span: Span,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "argument", rename_all = "snake_case")]
pub enum Argument {
    Positional { value: Value },
    Named { name: Ident, value: Value },
}
