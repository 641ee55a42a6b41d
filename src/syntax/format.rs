//! `dspex fmt`: prints a syntax tree back in one canonical layout, keeping every comment and doc.
//!
//! The layout: one item after another with one blank line between items (and blank lines the
//! author left between comments and members kept, at most one), four-space indentation, block
//! members one per line with their descriptions aligned, `->` on its own line in blocks, types
//! without the roadmap's leading colon, `(min: 1, max: 5)` constraints, `"a" | "b"` unions, and
//! one-line signatures on one line unless they are longer than 100 columns or hold comments.

use super::ast::*;
use super::parse;
use crate::diagnostic::{Diagnostic, Span};

const INDENT: &str = "    ";
const MAX_WIDTH: usize = 100;
/// Descriptions are aligned in a column unless the field text is longer than this.
const MAX_ALIGN: usize = 40;

/// Formats a file. Files with syntax errors are not formatted: their diagnostics come back.
pub fn format(source: &str) -> Result<String, Vec<Diagnostic>> {
    let parsed = parse(source);
    if !parsed.diagnostics.is_empty() {
        return Err(parsed.diagnostics);
    }
    let mut formatter = Formatter {
        source,
        comments: scan_comments(source),
        next_comment: 0,
        out: String::new(),
        last_end: 0,
        last_was_item: false,
        last_was_program: false,
    };
    for item in &parsed.file.items {
        formatter.top_level_comments(item.span().start);
        formatter.item(item);
    }
    for docs in &parsed.file.dangling_docs {
        formatter.top_level_comments(docs.span.start);
        formatter.separate(docs.span.start, false, false);
        formatter.docs(Some(docs), "");
        formatter.last_end = docs.span.end;
    }
    formatter.top_level_comments(source.len());
    Ok(formatter.out)
}

/// A `#` or `//` comment: where it is, its text, and whether code stands before it on its line.
#[derive(Debug, Clone)]
struct Comment {
    span: Span,
    text: String,
}

/// Finds every comment outside strings; `///` docs are not comments.
fn scan_comments(source: &str) -> Vec<Comment> {
    let mut comments = Vec::new();
    let bytes = source.as_bytes();
    let mut at = 0;
    let mut quote: Option<u8> = None;
    while at < bytes.len() {
        let byte = bytes[at];
        if let Some(q) = quote {
            match byte {
                b'\\' => at += 1,
                b'\n' => quote = None,
                b if b == q => quote = None,
                _ => {}
            }
            at += 1;
            continue;
        }
        // Only ASCII bytes are compared below, so `at` is a char boundary whenever it slices.
        let starts_slash = byte == b'/' && bytes.get(at + 1) == Some(&b'/');
        let is_doc =
            starts_slash && bytes.get(at + 2) == Some(&b'/') && bytes.get(at + 3) != Some(&b'/');
        if byte == b'#' || (starts_slash && !is_doc) {
            let end = source[at..].find('\n').map_or(source.len(), |i| at + i);
            comments.push(Comment {
                span: Span::new(at, end),
                text: source[at..end].trim_end().to_string(),
            });
            at = end;
            continue;
        }
        if is_doc {
            at = source[at..].find('\n').map_or(source.len(), |i| at + i);
            continue;
        }
        if byte == b'"' || byte == b'\'' {
            quote = Some(byte);
        }
        at += 1;
    }
    comments
}

struct Formatter<'s> {
    source: &'s str,
    comments: Vec<Comment>,
    next_comment: usize,
    out: String,
    /// Source position of the last thing written, for blank-line and same-line decisions.
    last_end: usize,
    /// Whether the last top-level element was an item, and whether it was a program.
    last_was_item: bool,
    last_was_program: bool,
}

impl Formatter<'_> {
    /// Whether the source has a blank line between two positions.
    fn blank_between(&self, from: usize, to: usize) -> bool {
        let from = from.min(to);
        self.source[from..to].matches('\n').count() >= 2
    }

    /// Starts a new top-level element at source position `at`, with a blank line before it
    /// when it follows an item or the author left one.
    fn separate(&mut self, at: usize, is_item: bool, is_program: bool) {
        // Programs written one per line stay grouped; other items get a blank line between.
        let grouped_programs = is_program && self.last_was_program;
        if !self.out.is_empty()
            && ((is_item && self.last_was_item && !grouped_programs)
                || self.blank_between(self.last_end, at))
        {
            self.out.push('\n');
        }
        self.last_was_item = is_item;
        self.last_was_program = is_program;
    }

    fn top_level_comments(&mut self, before: usize) {
        while let Some(comment) = self.comments.get(self.next_comment).cloned() {
            if comment.span.start >= before {
                break;
            }
            self.separate(comment.span.start, false, false);
            self.out.push_str(&comment.text);
            self.out.push('\n');
            self.last_end = comment.span.end;
            self.next_comment += 1;
        }
    }

    /// Writes the comments that start before `before` on their own lines, indented.
    fn comments_before(&mut self, before: usize, indent: &str) {
        while let Some(comment) = self.comments.get(self.next_comment).cloned() {
            if comment.span.start >= before {
                break;
            }
            if self.blank_between(self.last_end, comment.span.start) {
                self.out.push('\n');
            }
            self.out.push_str(indent);
            self.out.push_str(&comment.text);
            self.out.push('\n');
            self.last_end = comment.span.end;
            self.next_comment += 1;
        }
    }

    /// Ends the current output line, first appending a comment that stood on the same source
    /// line after position `after` (and before `limit`).
    fn end_line(&mut self, after: usize, limit: usize) {
        if let Some(comment) = self.comments.get(self.next_comment).cloned() {
            let same_line = comment.span.start >= after
                && comment.span.start < limit.max(after)
                && !self.source[after..comment.span.start].contains('\n');
            if same_line {
                self.out.push_str("  ");
                self.out.push_str(&comment.text);
                self.next_comment += 1;
                self.last_end = comment.span.end;
            }
        }
        self.out.push('\n');
    }

    fn has_comment_within(&self, span: Span) -> bool {
        self.comments[self.next_comment..]
            .iter()
            .any(|c| c.span.start >= span.start && c.span.start < span.end)
    }

    fn docs(&mut self, docs: Option<&Docs>, indent: &str) {
        let Some(docs) = docs else { return };
        for line in &docs.lines {
            self.out.push_str(indent);
            if line.is_empty() {
                self.out.push_str("///");
            } else {
                self.out.push_str("/// ");
                self.out.push_str(line);
            }
            self.out.push('\n');
        }
    }

    fn item(&mut self, item: &Item) {
        let span = item.span();
        self.separate(span.start, true, matches!(item, Item::Program(_)));
        match item {
            Item::Signature(s) if s.form == SignatureForm::Line => self.signature_line(s),
            Item::Signature(s) => {
                let name = s.name.as_ref().map_or(String::new(), |n| n.name.clone());
                self.docs(s.docs.as_ref(), "");
                let name_end = s.name.as_ref().map_or(s.keyword_span.end, |n| n.span.end);
                self.block(&format!("signature {name}"), &s.members, span, name_end);
            }
            Item::Type(t) => {
                self.docs(t.docs.as_ref(), "");
                self.block(
                    &format!("type {}", t.name.name),
                    &t.members,
                    span,
                    t.name.span.end,
                );
            }
            Item::Enum(e) => self.enumeration(e),
            Item::Program(p) => {
                self.docs(p.docs.as_ref(), "");
                let arguments: Vec<String> = p
                    .arguments
                    .iter()
                    .map(|a| match a {
                        Argument::Positional { value } => value_text(value),
                        Argument::Named { name, value } => {
                            format!("{}: {}", name.name, value_text(value))
                        }
                    })
                    .collect();
                self.out.push_str(&format!(
                    "program {} = {}({})",
                    p.name.name,
                    p.module.name,
                    arguments.join(", ")
                ));
                self.end_line(span.end, self.source.len());
            }
        }
        self.last_end = self.last_end.max(span.end);
    }

    fn signature_line(&mut self, signature: &SignatureDecl) {
        self.docs(signature.docs.as_ref(), "");
        let span = signature.span;
        let pieces: Vec<(String, Span, bool)> = signature
            .members
            .iter()
            .map(|m| match m {
                Member::Field(f) => (field_text(f, None), f.span, false),
                Member::Arrow(a) => (arrow_text(a.kind).to_string(), a.span, true),
            })
            .collect();
        let single = join_line_members(&pieces);
        let line = format!("signature {single}");
        if line.chars().count() <= MAX_WIDTH && !self.has_comment_within(span) {
            self.out.push_str(&line);
            self.end_line(span.end, self.source.len());
            return;
        }
        // One field per line: `,` or `->` ends a line, continuation lines are indented.
        self.out.push_str("signature");
        let mut first = true;
        let mut index = 0;
        while index < pieces.len() {
            let (text, piece_span, is_arrow) = &pieces[index];
            if *is_arrow {
                // An arrow with nothing before it stays on the keyword line.
                self.out.push(' ');
                self.out.push_str(text);
                self.end_line(piece_span.end, span.end);
                first = false;
                index += 1;
                continue;
            }
            if first {
                self.out.push(' ');
            } else {
                self.comments_before(piece_span.start, INDENT);
                self.out.push_str(INDENT);
            }
            first = false;
            self.out.push_str(text);
            self.last_end = piece_span.end;
            match pieces.get(index + 1) {
                Some((arrow, arrow_span, true)) => {
                    self.out.push(' ');
                    self.out.push_str(arrow);
                    let after = arrow_span.end;
                    index += 2;
                    if index < pieces.len() {
                        self.end_line(after, pieces[index].1.start);
                    }
                }
                Some(_) => {
                    self.out.push(',');
                    index += 1;
                    self.end_line(piece_span.end, pieces[index].1.start);
                }
                None => index += 1,
            }
        }
        self.end_line(span.end, self.source.len());
    }

    /// `head {`, members one per line, `}`.
    fn block(&mut self, head: &str, members: &[Member], span: Span, name_end: usize) {
        let brace = span.end.saturating_sub(1);
        if members.is_empty() && !self.has_comment_within(span) {
            self.out.push_str(head);
            self.out.push_str(" {}");
            self.end_line(span.end, self.source.len());
            return;
        }
        let open = self.source[name_end..]
            .find('{')
            .map_or(name_end, |i| name_end + i + 1);
        self.out.push_str(head);
        self.out.push_str(" {");
        let first = members.first().map_or(brace, |m| member_span(m).start);
        self.end_line(open, first);
        self.last_end = open;
        let align = description_column(members);
        for (index, member) in members.iter().enumerate() {
            let member_span = member_span(member);
            let start = match member {
                Member::Field(f) => f.docs.as_ref().map_or(f.span.start, |d| d.span.start),
                Member::Arrow(a) => a.span.start,
            };
            self.comments_before(start, INDENT);
            if index > 0 && self.blank_between(self.last_end, start) {
                self.out.push('\n');
            }
            match member {
                Member::Field(field) => {
                    self.docs(field.docs.as_ref(), INDENT);
                    self.out.push_str(INDENT);
                    self.out.push_str(&field_text(field, align));
                }
                Member::Arrow(arrow) => {
                    self.out.push_str(INDENT);
                    self.out.push_str(arrow_text(arrow.kind));
                }
            }
            self.last_end = member_span.end;
            self.end_line(member_span.end, brace);
        }
        self.comments_before(brace, INDENT);
        self.out.push('}');
        self.end_line(span.end, self.source.len());
    }

    fn enumeration(&mut self, declaration: &EnumDecl) {
        self.docs(declaration.docs.as_ref(), "");
        let span = declaration.span;
        let simple = declaration
            .variants
            .iter()
            .all(|v| v.docs.is_none() && v.description.is_none());
        let names: Vec<&str> = declaration
            .variants
            .iter()
            .map(|v| v.name.name.as_str())
            .collect();
        let line = format!("enum {} {{ {} }}", declaration.name.name, names.join(", "));
        if simple
            && !names.is_empty()
            && line.chars().count() <= MAX_WIDTH
            && !self.has_comment_within(span)
        {
            self.out.push_str(&line);
            self.end_line(span.end, self.source.len());
            return;
        }
        if names.is_empty() && !self.has_comment_within(span) {
            self.out
                .push_str(&format!("enum {} {{}}", declaration.name.name));
            self.end_line(span.end, self.source.len());
            return;
        }
        let brace = span.end.saturating_sub(1);
        let name_end = declaration.name.span.end;
        let open = self.source[name_end..]
            .find('{')
            .map_or(name_end, |i| name_end + i + 1);
        self.out
            .push_str(&format!("enum {} {{", declaration.name.name));
        let first = declaration.variants.first().map_or(brace, |v| v.span.start);
        self.end_line(open, first);
        self.last_end = open;
        let width = declaration
            .variants
            .iter()
            .filter(|v| v.description.is_some())
            .map(|v| v.name.name.chars().count())
            .max()
            .unwrap_or(0);
        for (index, variant) in declaration.variants.iter().enumerate() {
            let start = variant
                .docs
                .as_ref()
                .map_or(variant.span.start, |d| d.span.start);
            self.comments_before(start, INDENT);
            if index > 0 && self.blank_between(self.last_end, start) {
                self.out.push('\n');
            }
            self.docs(variant.docs.as_ref(), INDENT);
            self.out.push_str(INDENT);
            self.out.push_str(&variant.name.name);
            if let Some(description) = &variant.description {
                let pad = if width <= MAX_ALIGN {
                    width - variant.name.name.chars().count()
                } else {
                    0
                };
                self.out.push_str(&" ".repeat(pad + 1));
                self.out.push_str(&string_text(description));
            }
            self.last_end = variant.span.end;
            self.end_line(variant.span.end, brace);
        }
        self.comments_before(brace, INDENT);
        self.out.push('}');
        self.end_line(span.end, self.source.len());
    }
}

fn member_span(member: &Member) -> Span {
    match member {
        Member::Field(f) => f.span,
        Member::Arrow(a) => a.span,
    }
}

/// The column descriptions align to in a block: the widest `name: type` among fields with a
/// description, when that is narrow enough.
fn description_column(members: &[Member]) -> Option<usize> {
    let width = members
        .iter()
        .filter_map(|m| match m {
            Member::Field(f) if f.description.is_some() => Some(field_head(f).chars().count()),
            _ => None,
        })
        .max()?;
    (width <= MAX_ALIGN).then_some(width)
}

/// Joins one-line signature members: `a, b -> c, d`.
fn join_line_members(pieces: &[(String, Span, bool)]) -> String {
    let mut out = String::new();
    for (index, (text, _, is_arrow)) in pieces.iter().enumerate() {
        if index > 0 {
            let previous_is_arrow = pieces[index - 1].2;
            out.push_str(if *is_arrow || previous_is_arrow {
                " "
            } else {
                ", "
            });
        }
        out.push_str(text);
    }
    out
}

fn arrow_text(kind: ArrowKind) -> &'static str {
    match kind {
        ArrowKind::Ascii => "->",
        ArrowKind::Fat => "=>",
        ArrowKind::Unicode => "→",
    }
}

/// `name: type`, without the description.
fn field_head(field: &Field) -> String {
    match &field.ty {
        Some(ty) => format!("{}: {}", field.name.name, type_text(ty)),
        None => field.name.name.clone(),
    }
}

/// The whole field; with `align`, the description starts at that column (plus one space).
fn field_text(field: &Field, align: Option<usize>) -> String {
    let head = field_head(field);
    match &field.description {
        Some(description) => {
            let pad = align.map_or(0, |a| a.saturating_sub(head.chars().count()));
            format!("{head}{} {}", " ".repeat(pad), string_text(description))
        }
        None => head,
    }
}

/// A type in canonical form.
pub fn type_text(ty: &TypeExpr) -> String {
    let mut out = match &ty.kind {
        TypeKind::Named { name } => name.name.clone(),
        TypeKind::Generic { name, arguments } => format!(
            "{}[{}]",
            name.name,
            arguments
                .iter()
                .map(type_text)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeKind::Literals { values } => values
            .iter()
            .map(string_text)
            .collect::<Vec<_>>()
            .join(" | "),
    };
    if ty.misplaced_optional.is_some() {
        out.push('?');
    }
    if let Some(constraints) = &ty.constraints {
        let items: Vec<String> = constraints
            .items
            .iter()
            .map(|c| format!("{}: {}", c.name.name, value_text(&c.value)))
            .collect();
        out.push('(');
        out.push_str(&items.join(", "));
        out.push(')');
    }
    if ty.optional.is_some() {
        out.push('?');
    }
    out
}

fn value_text(value: &Value) -> String {
    match value {
        Value::Number { text, .. } => text.clone(),
        Value::String(s) => string_text(s),
        Value::Ident(i) => i.name.clone(),
    }
}

/// A string literal as written: its own quotes and escapes.
fn string_text(string: &StringLit) -> String {
    let quote = match string.quote {
        Quote::Double => '"',
        Quote::Single => '\'',
    };
    let mut out = String::with_capacity(string.raw.len() + 2);
    out.push(quote);
    out.push_str(&string.raw);
    if string.terminated {
        out.push(quote);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn one_line_signature_stays_on_one_line() {
        let out = format("signature  question: :string ->answer: :string,confidence: :float\n");
        assert_eq!(
            out.unwrap(),
            "signature question: string -> answer: string, confidence: float\n"
        );
    }

    #[test]
    fn block_members_are_aligned_and_comments_kept() {
        let source = "# top\n/// Answer.\nsignature QA { # open\n  question: string \"q\"\n  -> # arrow\n  answer: string(max: 5) \"a\", confidence: probability\n  # inside\n}\n";
        let expected = "# top\n/// Answer.\nsignature QA {  # open\n    question: string       \"q\"\n    ->  # arrow\n    answer: string(max: 5) \"a\"\n    confidence: probability\n    # inside\n}\n";
        let out = format(source).unwrap();
        assert_eq!(out, expected);
        assert_eq!(format(&out).unwrap(), out);
    }

    #[test]
    fn files_with_syntax_errors_are_not_formatted() {
        assert!(format("signature QA {\n  a b\n}\n").is_err());
    }
}
