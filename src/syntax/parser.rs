//! Turns source text into a `SourceFile`, reporting every syntax error in the file.
//!
//! The pest grammar (`grammar/sig.pest`) parses one item at a time. This driver finds where each
//! item starts, picks the rule for it, and after a syntax error skips to the next item (or, inside
//! a `{ ... }` block, to the next line of the block), so that one run reports every mistake.

use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser as _;

use super::ast::*;
use super::words;
use crate::diagnostic::{Diagnostic, Span};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/sig.pest"]
struct SigParser;

/// Deepest `[` nesting accepted: type nesting deeper than 64 levels is an error (the limit keeps
/// the parser's recursion bounded).
pub const MAX_TYPE_DEPTH: usize = 64;

/// Upper bound on grammar rule calls for one item, so no input can make the parser run away.
const CALL_LIMIT: usize = 50_000_000;

/// A file's syntax tree, as far as it could be read, and the syntax errors found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub file: SourceFile,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses a whole file. Never fails: what cannot be read becomes diagnostics.
pub fn parse(source: &str) -> Parsed {
    pest::set_call_limit(std::num::NonZeroUsize::new(CALL_LIMIT));
    let mut driver = Driver {
        source,
        position: 0,
        parsed: Parsed::default(),
    };
    driver.run();
    driver.parsed
}

struct Driver<'s> {
    source: &'s str,
    position: usize,
    parsed: Parsed,
}

/// The keywords that start an item, and the words reserved for later language versions.
const ITEM_KEYWORDS: [&str; 4] = ["signature", "type", "enum", "program"];
const RESERVED_ITEMS: [&str; 4] = ["pipeline", "import", "react", "retrieve"];

impl<'s> Driver<'s> {
    fn run(&mut self) {
        loop {
            self.position = skip_trivia(self.source, self.position);
            if self.position >= self.source.len() {
                return;
            }
            let start = self.position;
            let keyword_at = skip_docs(self.source, start);
            if keyword_at >= self.source.len() {
                self.dangling_docs(start);
                return;
            }
            let next_item = next_item_start(self.source, keyword_at);
            if let Some(at) = too_deep(&self.source[start..next_item]) {
                let at = start + at;
                self.error(
                    Diagnostic::error(
                        "E0105",
                        format!("type nesting deeper than {MAX_TYPE_DEPTH} levels"),
                        Span::new(at, at + 1),
                    )
                    .with_label("too deep")
                    .with_help("declare a `type` for the inner part and refer to it by name"),
                );
                self.position = next_item;
                continue;
            }
            let word = word_at(self.source, keyword_at);
            match word {
                "signature" if is_block_signature(self.source, keyword_at) => {
                    self.block(start, Rule::signature_head, BlockKind::Signature)
                }
                "signature" => self.signature_line(start),
                "type" => self.block(start, Rule::type_head, BlockKind::Type),
                "enum" => self.block(start, Rule::enum_head, BlockKind::Enum),
                "program" => self.program(start),
                _ => {
                    self.unknown_item(keyword_at, word);
                    self.position = next_item;
                }
            }
        }
    }

    fn error(&mut self, diagnostic: Diagnostic) {
        self.parsed.diagnostics.push(diagnostic);
    }

    fn dangling_docs(&mut self, start: usize) {
        if let Ok(mut pairs) = SigParser::parse(Rule::docs, &self.source[start..]) {
            if let Some(pair) = pairs.next() {
                let docs = Builder { offset: start }.docs(pair);
                self.parsed.file.dangling_docs.push(docs);
            }
        }
        self.position = self.source.len();
    }

    fn unknown_item(&mut self, at: usize, word: &str) {
        let found = token_at(self.source, at);
        let span = Span::new(at, at + found.len().max(1));
        if RESERVED_ITEMS.contains(&word) {
            self.error(
                Diagnostic::error(
                    "E0103",
                    format!("`{word}` is reserved for a later version of the language"),
                    span,
                )
                .with_label("reserved")
                .with_help(
                    "version 1 declares `signature`, `type`, `enum` and `program` items; \
                     compose programs in Python or Rust for now",
                ),
            );
            return;
        }
        let mut diagnostic = Diagnostic::error(
            "E0102",
            format!(
                "expected `signature`, `type`, `enum` or `program`, found {}",
                words::describe_found(self.source, at)
            ),
            span,
        )
        .with_label("not the start of an item");
        let line_end = self.source[at..]
            .find('\n')
            .map_or(self.source.len(), |i| at + i);
        let line = &self.source[at..line_end];
        if let Some(keyword) = words::keyword_for(word) {
            diagnostic = diagnostic.with_help(format!("did you mean `{keyword}`?"));
        } else if line.contains("->") || line.contains("=>") {
            diagnostic = diagnostic.with_help(format!(
                "a signature starts with the keyword: `signature {}`",
                line.trim_end()
            ));
        } else if found == "}" {
            diagnostic = diagnostic.with_help("this `}` closes no block; remove it");
        }
        self.error(diagnostic);
    }

    /// Reports a pest error at its position (relative to `offset`) and returns that position.
    fn syntax_error(&mut self, error: pest::error::Error<Rule>, offset: usize) -> usize {
        let at = offset
            + match error.location {
                InputLocation::Pos(p) => p,
                InputLocation::Span((s, _)) => s,
            };
        let expected: Vec<Rule> = match &error.variant {
            ErrorVariant::ParsingError { positives, .. } => positives.clone(),
            ErrorVariant::CustomError { .. } => Vec::new(),
        };
        let diagnostic = words::syntax_error(self.source, at, &expected);
        self.error(diagnostic);
        at
    }

    fn signature_line(&mut self, start: usize) {
        match SigParser::parse(Rule::signature_line, &self.source[start..]) {
            Ok(mut pairs) => {
                let Some(pair) = pairs.next() else { return };
                let declaration = Builder { offset: start }.signature_line(pair);
                self.position = declaration.span.end;
                self.parsed.file.items.push(Item::Signature(declaration));
            }
            Err(error) => {
                let at = self.syntax_error(error, start);
                self.position = next_item_start(self.source, at);
            }
        }
    }

    fn program(&mut self, start: usize) {
        match SigParser::parse(Rule::program_decl, &self.source[start..]) {
            Ok(mut pairs) => {
                let Some(pair) = pairs.next() else { return };
                let end = start + tight_end(&pair);
                let declaration = Builder { offset: start }.program(pair);
                self.parsed.file.items.push(Item::Program(declaration));
                self.position = end;
            }
            Err(error) => {
                let at = self.syntax_error(error, start);
                self.position = next_item_start(self.source, at);
            }
        }
    }

    /// A `{ ... }` item: the head, then the tail; after an error inside the block, parsing
    /// resumes on the block's next line.
    fn block(&mut self, start: usize, head_rule: Rule, kind: BlockKind) {
        let head = match SigParser::parse(head_rule, &self.source[start..]) {
            Ok(mut pairs) => pairs.next(),
            Err(error) => {
                let at = self.syntax_error(error, start);
                self.position = next_item_start(self.source, at);
                return;
            }
        };
        let Some(head) = head else { return };
        let head_builder = Builder { offset: start };
        let mut tail_at = start + head.as_span().end();
        let brace = Span::new(tail_at - 1, tail_at);
        let mut members: Vec<Pair<'s, Rule>> = Vec::new();
        let mut tail_offsets: Vec<usize> = Vec::new();
        let mut recovered = false;
        let tail_rule = match kind {
            BlockKind::Enum => Rule::enum_tail,
            BlockKind::Signature | BlockKind::Type => Rule::block_tail,
        };
        let end = loop {
            match SigParser::parse(tail_rule, &self.source[tail_at..]) {
                Ok(mut pairs) => {
                    let Some(tail) = pairs.next() else {
                        break tail_at;
                    };
                    let end = tail_at + tight_end(&tail);
                    members.extend(tail.into_inner());
                    tail_offsets.resize(members.len(), tail_at);
                    break end;
                }
                Err(error) => {
                    recovered = true;
                    let at = error_position(&error, tail_at);
                    // Keep what parsed before the error: re-parse only the members up to it.
                    if let Some(pairs) = members_before(self.source, tail_rule, tail_at, at) {
                        members.extend(pairs);
                        tail_offsets.resize(members.len(), tail_at);
                    }
                    let line_start = line_start(self.source, at);
                    let starts_item = self.source[line_start..at].trim().is_empty()
                        && starts_item(self.source, at);
                    if at >= self.source.len() || starts_item {
                        self.error(
                            Diagnostic::error(
                                "E0101",
                                "expected `}` to close this block".to_string(),
                                Span::new(at, at + token_at(self.source, at).len()),
                            )
                            .with_label(if at >= self.source.len() {
                                "the file ends here"
                            } else {
                                "a new item starts here"
                            })
                            .with_related(brace, "the block opens here")
                            .with_help("add `}` after the block's last member"),
                        );
                        break at;
                    }
                    self.syntax_error(error, tail_at);
                    let next_line = next_line_start(self.source, at);
                    let next_item = next_item_start(self.source, at);
                    if next_line >= self.source.len() || next_item == next_line {
                        break next_line;
                    }
                    tail_at = next_line;
                }
            }
        };
        let span = Span::new(start, end);
        let item = head_builder.block_item(head, kind, &members, &tail_offsets, span, recovered);
        self.parsed.file.items.push(item);
        self.position = end;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Signature,
    Type,
    Enum,
}

/// Where the last token of a pair ends (relative to the parsed text).
fn tight_end(pair: &Pair<Rule>) -> usize {
    if matches!(
        pair.as_rule(),
        Rule::string | Rule::ident | Rule::number | Rule::doc_line
    ) {
        return pair.as_span().end();
    }
    match pair.clone().into_inner().last() {
        Some(last) => tight_end(&last),
        None => pair.as_span().end(),
    }
}

fn error_position(error: &pest::error::Error<Rule>, offset: usize) -> usize {
    offset
        + match error.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        }
}

/// Re-parses the members of a block tail that lie on complete lines before a syntax error at
/// `error_at`, so that a block with one bad line still contributes its good members to checking.
fn members_before(
    source: &str,
    tail_rule: Rule,
    tail_at: usize,
    error_at: usize,
) -> Option<Vec<Pair<'_, Rule>>> {
    let cut = line_start(source, error_at);
    if cut <= tail_at {
        return None;
    }
    let members_rule = match tail_rule {
        Rule::enum_tail => Rule::enum_members,
        _ => Rule::block_members,
    };
    let mut pairs = SigParser::parse(members_rule, &source[tail_at..cut]).ok()?;
    Some(pairs.next()?.into_inner().collect())
}

/// Builds AST nodes from pest pairs whose positions are relative to `offset`.
struct Builder {
    offset: usize,
}

impl Builder {
    /// The span of a pair, without the trailing whitespace and comments that pest's implicit
    /// skipping leaves inside rules ending in an optional part.
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let span = pair.as_span();
        Span::new(self.offset + span.start(), self.offset + tight_end(pair))
    }

    fn ident(&self, pair: Pair<Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn docs(&self, pair: Pair<Rule>) -> Docs {
        let doc_lines: Vec<Pair<Rule>> = pair
            .into_inner()
            .filter(|p| p.as_rule() == Rule::doc_line)
            .collect();
        // The span covers the `///` lines, not the line breaks after them.
        let span = match (doc_lines.first(), doc_lines.last()) {
            (Some(first), Some(last)) => self.span(first).join(self.span(last)),
            _ => Span::default(),
        };
        let lines = doc_lines
            .into_iter()
            .map(|line| {
                let text = line.into_inner().next().map_or("", |t| t.as_str());
                let text = text.strip_suffix('\r').unwrap_or(text);
                text.strip_prefix(' ')
                    .unwrap_or(text)
                    .trim_end()
                    .to_string()
            })
            .collect();
        Docs { lines, span }
    }

    fn string(&self, pair: Pair<Rule>) -> StringLit {
        let span = self.span(&pair);
        let inner = pair.into_inner().next();
        let (quote, raw, terminated) = match inner {
            Some(quoted) => {
                let quote = if quoted.as_rule() == Rule::single_string {
                    Quote::Single
                } else {
                    Quote::Double
                };
                let mut raw = String::new();
                let mut terminated = true;
                for part in quoted.into_inner() {
                    match part.as_rule() {
                        Rule::double_inner | Rule::single_inner => raw = part.as_str().to_string(),
                        Rule::unterminated => terminated = false,
                        _ => {}
                    }
                }
                (quote, raw, terminated)
            }
            None => (Quote::Double, String::new(), true),
        };
        StringLit {
            raw,
            quote,
            terminated,
            span,
        }
    }

    fn value(&self, pair: Pair<Rule>) -> Option<Value> {
        let inner = pair.into_inner().next()?;
        Some(match inner.as_rule() {
            Rule::number => Value::Number {
                text: inner.as_str().to_string(),
                span: self.span(&inner),
            },
            Rule::string => Value::String(self.string(inner)),
            _ => Value::Ident(self.ident(inner)),
        })
    }

    fn type_expr(&self, pair: Pair<Rule>) -> Option<TypeExpr> {
        let span = self.span(&pair);
        let mut leading_colon = false;
        let mut kind = None;
        let mut constraints = None;
        let mut optional = None;
        let mut misplaced_optional = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::colon => leading_colon = true,
                Rule::named_type => {
                    let mut parts = part.into_inner();
                    let name = self.ident(parts.next()?);
                    let mut generic = false;
                    let mut arguments = Vec::new();
                    for inner in parts {
                        match inner.as_rule() {
                            Rule::lbracket => generic = true,
                            Rule::type_expr => arguments.extend(self.type_expr(inner)),
                            _ => {}
                        }
                    }
                    kind = Some(if generic {
                        TypeKind::Generic { name, arguments }
                    } else {
                        TypeKind::Named { name }
                    });
                }
                Rule::literal_union => {
                    let values = part
                        .into_inner()
                        .filter(|p| p.as_rule() == Rule::string)
                        .map(|p| self.string(p))
                        .collect();
                    kind = Some(TypeKind::Literals { values });
                }
                Rule::early_optional => misplaced_optional = Some(self.span(&part)),
                Rule::constraints => {
                    let constraints_span = self.span(&part);
                    let items = part
                        .into_inner()
                        .filter(|p| p.as_rule() == Rule::constraint)
                        .filter_map(|p| self.constraint(p))
                        .collect();
                    constraints = Some(Constraints {
                        items,
                        span: constraints_span,
                    });
                }
                Rule::question => optional = Some(self.span(&part)),
                _ => {}
            }
        }
        Some(TypeExpr {
            leading_colon,
            kind: kind?,
            constraints,
            optional,
            misplaced_optional,
            span,
        })
    }

    fn constraint(&self, pair: Pair<Rule>) -> Option<Constraint> {
        let span = self.span(&pair);
        let mut parts = pair.into_inner();
        let name = self.ident(parts.next()?);
        let value = parts
            .find(|p| p.as_rule() == Rule::value)
            .and_then(|p| self.value(p))?;
        Some(Constraint { name, value, span })
    }

    /// A `field_entry` or `field_line_entry`: optional docs, then the field.
    fn field_entry(&self, pair: Pair<Rule>) -> Option<Field> {
        let mut docs = None;
        let mut field = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::docs => docs = Some(self.docs(part)),
                Rule::field => field = Some(part),
                _ => {}
            }
        }
        let field = field?;
        let span = self.span(&field);
        let mut parts = field.into_inner();
        let name = self.ident(parts.next()?);
        let mut ty = None;
        let mut description = None;
        for part in parts {
            match part.as_rule() {
                Rule::type_expr => ty = self.type_expr(part),
                Rule::description => description = part.into_inner().next().map(|s| self.string(s)),
                _ => {}
            }
        }
        Some(Field {
            docs,
            name,
            ty,
            description,
            span,
        })
    }

    fn arrow(&self, pair: Pair<Rule>) -> Arrow {
        let kind = match pair.as_str() {
            "->" => ArrowKind::Ascii,
            "=>" => ArrowKind::Fat,
            _ => ArrowKind::Unicode,
        };
        Arrow {
            kind,
            span: self.span(&pair),
        }
    }

    fn variant_entry(&self, pair: Pair<Rule>) -> Option<VariantDecl> {
        let mut docs = None;
        let mut variant = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::docs => docs = Some(self.docs(part)),
                Rule::variant => variant = Some(part),
                _ => {}
            }
        }
        let variant = variant?;
        let span = self.span(&variant);
        let mut parts = variant.into_inner();
        let name = self.ident(parts.next()?);
        let description = parts
            .find(|p| p.as_rule() == Rule::description)
            .and_then(|d| d.into_inner().next())
            .map(|s| self.string(s));
        Some(VariantDecl {
            docs,
            name,
            description,
            span,
        })
    }

    fn signature_line(&self, pair: Pair<Rule>) -> SignatureDecl {
        let span = self.span(&pair);
        let mut docs = None;
        let mut keyword_span = span;
        let mut members = Vec::new();
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::docs => docs = Some(self.docs(part)),
                Rule::kw_signature => keyword_span = self.span(&part),
                Rule::field_line_entry => {
                    if let Some(field) = self.field_entry(part) {
                        members.push(Member::Field(field));
                    }
                }
                Rule::arrow => members.push(Member::Arrow(self.arrow(part))),
                _ => {}
            }
        }
        // The span ends at the last member, not at trailing line breaks.
        let end = members
            .iter()
            .map(|m| match m {
                Member::Field(f) => f.span.end,
                Member::Arrow(a) => a.span.end,
            })
            .max()
            .unwrap_or(keyword_span.end);
        SignatureDecl {
            docs,
            name: None,
            form: SignatureForm::Line,
            members,
            keyword_span,
            span: Span::new(span.start, end.max(keyword_span.end)),
            recovered: false,
        }
    }

    fn program(&self, pair: Pair<Rule>) -> ProgramDecl {
        let span = self.span(&pair);
        let mut docs = None;
        let mut idents = Vec::new();
        let mut arguments = Vec::new();
        let mut call_start = span.start;
        let mut call_end = span.end;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::docs => docs = Some(self.docs(part)),
                Rule::ident => {
                    if idents.len() == 1 {
                        call_start = self.span(&part).start;
                    }
                    idents.push(self.ident(part));
                }
                Rule::rparen => call_end = self.span(&part).end,
                Rule::argument => {
                    if let Some(argument) = self.argument(part) {
                        arguments.push(argument);
                    }
                }
                _ => {}
            }
        }
        let mut idents = idents.into_iter();
        let empty = Ident {
            name: String::new(),
            span,
        };
        ProgramDecl {
            docs,
            name: idents.next().unwrap_or_else(|| empty.clone()),
            module: idents.next().unwrap_or(empty),
            arguments,
            call_span: Span::new(call_start, call_end),
            span,
        }
    }

    fn argument(&self, pair: Pair<Rule>) -> Option<Argument> {
        let inner = pair.into_inner().next()?;
        Some(match inner.as_rule() {
            Rule::named_argument => {
                let mut parts = inner.into_inner();
                let name = self.ident(parts.next()?);
                let value = parts
                    .find(|p| p.as_rule() == Rule::value)
                    .and_then(|p| self.value(p))?;
                Argument::Named { name, value }
            }
            _ => Argument::Positional {
                value: self.value(inner)?,
            },
        })
    }

    /// Assembles a block item from its head and the member pairs of its tail(s). Member pairs
    /// carry positions relative to their own tail, given in `offsets`.
    fn block_item(
        &self,
        head: Pair<Rule>,
        kind: BlockKind,
        members: &[Pair<Rule>],
        offsets: &[usize],
        span: Span,
        recovered: bool,
    ) -> Item {
        let mut docs = None;
        let mut keyword_span = span;
        let mut name = None;
        for part in head.into_inner() {
            match part.as_rule() {
                Rule::docs => docs = Some(self.docs(part)),
                Rule::kw_signature | Rule::kw_type | Rule::kw_enum => {
                    keyword_span = self.span(&part)
                }
                Rule::ident => name = Some(self.ident(part)),
                _ => {}
            }
        }
        let name = name.unwrap_or(Ident {
            name: String::new(),
            span: keyword_span,
        });
        let mut fields = Vec::new();
        let mut variants = Vec::new();
        for (pair, &offset) in members.iter().zip(offsets) {
            let builder = Builder { offset };
            match pair.as_rule() {
                Rule::field_entry => {
                    if let Some(field) = builder.field_entry(pair.clone()) {
                        fields.push(Member::Field(field));
                    }
                }
                Rule::arrow => fields.push(Member::Arrow(builder.arrow(pair.clone()))),
                Rule::variant_entry => {
                    if let Some(variant) = builder.variant_entry(pair.clone()) {
                        variants.push(variant);
                    }
                }
                _ => {}
            }
        }
        match kind {
            BlockKind::Signature => Item::Signature(SignatureDecl {
                docs,
                name: Some(name),
                form: SignatureForm::Block,
                members: fields,
                keyword_span,
                span,
                recovered,
            }),
            BlockKind::Type => Item::Type(TypeDecl {
                docs,
                name,
                members: fields,
                span,
                recovered,
            }),
            BlockKind::Enum => Item::Enum(EnumDecl {
                docs,
                name,
                variants,
                span,
                recovered,
            }),
        }
    }
}

// --- Lexical helpers: finding items without the grammar -------------------------------------

/// Skips spaces, tabs, line breaks, a byte-order mark and comments (but not `///` docs).
pub(crate) fn skip_trivia(source: &str, mut at: usize) -> usize {
    let bytes = source.as_bytes();
    while at < bytes.len() {
        let rest = &source[at..];
        if rest.starts_with([' ', '\t', '\n', '\r']) {
            at += 1;
        } else if rest.starts_with('\u{FEFF}') {
            at += '\u{FEFF}'.len_utf8();
        } else if rest.starts_with('#') || (rest.starts_with("//") && !is_doc(rest)) {
            at += rest.find('\n').unwrap_or(rest.len());
        } else {
            break;
        }
    }
    at
}

/// Whether `text` starts with a `///` doc line (and not `////`).
fn is_doc(text: &str) -> bool {
    text.starts_with("///") && !text.starts_with("////")
}

/// Skips `///` lines and trivia between them; returns where the documented item starts.
fn skip_docs(source: &str, mut at: usize) -> usize {
    while is_doc(&source[at..]) {
        at += source[at..].find('\n').unwrap_or(source.len() - at);
        at = skip_trivia(source, at);
    }
    at
}

/// The identifier-like word at `at` (empty when none).
fn word_at(source: &str, at: usize) -> &str {
    let rest = &source[at..];
    let end = rest
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(rest.len(), |(i, _)| i);
    &rest[..end]
}

/// The token at `at`: a word, or a single character; empty at the end of the file.
pub(crate) fn token_at(source: &str, at: usize) -> &str {
    let word = word_at(source, at);
    if !word.is_empty() {
        return word;
    }
    let rest = &source[at.min(source.len())..];
    for two in ["->", "=>"] {
        if rest.starts_with(two) {
            return two;
        }
    }
    rest.chars().next().map_or("", |c| &rest[..c.len_utf8()])
}

/// Whether a `signature` keyword at `at` begins the block form (`signature Name {`).
fn is_block_signature(source: &str, at: usize) -> bool {
    let after = skip_spaces(source, at + "signature".len());
    let name = word_at(source, after);
    if name.is_empty() {
        return false;
    }
    let brace = skip_spaces(source, after + name.len());
    source[brace..].starts_with('{')
}

fn skip_spaces(source: &str, mut at: usize) -> usize {
    while source[at..].starts_with([' ', '\t']) {
        at += 1;
    }
    at
}

fn line_start(source: &str, at: usize) -> usize {
    source[..at.min(source.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1)
}

fn next_line_start(source: &str, at: usize) -> usize {
    source[at.min(source.len())..]
        .find('\n')
        .map_or(source.len(), |i| at + i + 1)
}

/// Whether an item keyword (or a reserved one) followed by a name starts at `at`.
fn starts_item(source: &str, at: usize) -> bool {
    let word = word_at(source, at);
    if !(ITEM_KEYWORDS.contains(&word) || RESERVED_ITEMS.contains(&word)) {
        return false;
    }
    let after = &source[at + word.len()..];
    let trimmed = after.trim_start_matches([' ', '\t']);
    trimmed.len() < after.len()
        && trimmed
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// The start of the first line after the one holding `at` that begins an item: an item keyword
/// followed by a name (indentation allowed), or `///` in the first column. The end of the file
/// when there is none.
fn next_item_start(source: &str, at: usize) -> usize {
    let mut line = next_line_start(source, at);
    while line < source.len() {
        if is_doc(&source[line..]) {
            return line;
        }
        let first = skip_spaces(source, line);
        if starts_item(source, first) {
            return line;
        }
        line = next_line_start(source, line);
    }
    source.len()
}

/// The offset of the first `[` nested deeper than `MAX_TYPE_DEPTH`, ignoring strings and
/// comments.
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Some(quote) = in_string {
            match c {
                '\\' => {
                    chars.next();
                }
                '\n' => in_string = None,
                c if c == quote => in_string = None,
                _ => {}
            }
            continue;
        }
        match c {
            '"' | '\'' => in_string = Some(c),
            '#' => {
                while chars.peek().is_some_and(|&(_, c)| c != '\n') {
                    chars.next();
                }
            }
            '/' if text[i..].starts_with("//") => {
                while chars.peek().is_some_and(|&(_, c)| c != '\n') {
                    chars.next();
                }
            }
            '[' => {
                depth += 1;
                if depth > MAX_TYPE_DEPTH {
                    return Some(i);
                }
            }
            ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}
