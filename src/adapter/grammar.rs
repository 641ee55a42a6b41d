//! GBNF grammars (llama.cpp's grammar format) for the reply to a predictor's signature, so that
//! a local model decoding under one can only write a reply that [`parse_chat`] or
//! [`parse_json`] reads as valid typed outputs, whichever path it takes through the grammar.
//!
//! The chat layout is `[[ ## name ## ]]\n<value>\n\n` for each output in order, then
//! `[[ ## completed ## ]]`; the JSON layout is one object, `{"name": value, ...}`, keys in field
//! order, with a single space after each `:` and `,` and no other whitespace. Per type:
//!
//! - `string`: text of `min..=max` characters. In a chat section it is never empty, starts and
//!   ends with a non-space (the parser trims sections, so the length counted is the length
//!   written) and holds no `[` at all, so no `[[ ## name ## ]]` header can be forged (the parser
//!   finds headers anywhere in a line); inside JSON it is a JSON string whose escapes are limited
//!   to `\"`, `\\`, `\/`, `\n` and `\t`, one character each, and in a chat reply it holds no `[`
//!   either. Without `max` a string gets at most [`TEXT_MAX_CHARS`] characters
//!   ([`REASONING_MAX_CHARS`] for `reasoning_chain` and the `reasoning`/`rationale` outputs that
//!   modules add, [`NESTED_TEXT_MAX_CHARS`] inside lists, maps and records). A chat section
//!   cannot hold an empty text, so `string(max: 0)` cannot be answered there.
//! - `pattern`: the text is one the regular expression describes (every such text matches it,
//!   anchored or not), with its character classes narrowed to what the place allows (no `[` in
//!   a chat reply; in a chat section no space at either end) and unbounded repetitions (`+`,
//!   `*`) cut to at most 32 more than their minimum, fewer when `max` needs it. A pattern the
//!   grammar cannot follow (look-around other than `^`/`$` at its ends, such as `\b`; bytes
//!   mode) or whose lengths do not fit `min`/`max` is left out: the text is only bounded in
//!   length, and the parser rejects a reply whose text does not match.
//! - `integer`: canonical decimal digits within `min..=max` exactly; an open side stops at
//!   [`INTEGER_DIGITS`] digits.
//! - `float` and `probability`: plain decimals (no exponent) whose exact decimal value lies
//!   within the bounds, so the `f64` the parser reads does too (rounding to nearest is
//!   monotonic and each bound is written in its shortest round-trip form). A probability is
//!   bounded by `[0, 1]` and narrowed by its own `min`/`max`. The integer part has at most
//!   [`FLOAT_INTEGER_DIGITS`] digits on an open side, the fraction at most
//!   [`FLOAT_FRACTION_DIGITS`] (more when a bound needs them). Bounds beyond ±10^38 are cut to
//!   ±10^38; a range that lies entirely beyond that falls back to any number.
//! - `boolean`: `True`/`False` in a chat section (what DSPy asks for), `true`/`false` in JSON.
//! - literals and enums: exactly the allowed values, bare in a chat section and as JSON strings
//!   elsewhere. A value the parser would not read back as itself in that place (an empty or
//!   space-padded literal in a chat section, one holding `[[`, one that starts with the field's
//!   own name and a colon) is left out; if every value is, all are kept and the parser decides.
//! - `list`/`map`: JSON arrays and objects with `min..=max` items or entries (at most
//!   [`MAX_ITEMS`] without `max`). Map keys are JSON strings of 1 to [`KEY_MAX_CHARS`]
//!   characters; they are not forced to differ, so a map with `min` of 2 or more whose reply
//!   repeats a key can still fall short (the parser reports it).
//! - records: a JSON object with every field, in declaration order (an optional field may be
//!   `null`). One rule per record is shared by every use. A record that contains itself
//!   (through a list, map or optional) nests at most [`RECORD_DEPTH`] levels deep; below that
//!   the list or map must be empty and the optional `null`.
//! - `T?`: the value or `None` in a chat section, `null` in JSON.
//! - `json`: any JSON value nested at most [`JSON_DEPTH`] containers deep, with at most
//!   [`JSON_MAX_ITEMS`] items or entries per container and strings of at most
//!   [`JSON_TEXT_MAX_CHARS`] characters.
//!
//! Every repetition is bounded and no rule refers to itself, so every path through a grammar
//! ends. llama.cpp treats a repetition bound above 2000 as unbounded, so longer runs are built
//! from chunks of [`CHUNK`]; lengths are capped at [`MAX_LENGTH`].
//!
//! [`parse_chat`]: super::parse::parse_chat
//! [`parse_json`]: super::parse::parse_json

use std::collections::{HashMap, HashSet};

use heck::ToKebabCase;
use regex_syntax::hir::{Class, Hir, HirKind, Look};
use serde_json::Value;

use super::parse::{self, Raw};
use super::{AdapterKind, PromptField, PromptSignature};
use crate::schema::{Document, Type};

/// Characters of a text output without `max`.
pub const TEXT_MAX_CHARS: u64 = 400;
/// Characters of a reasoning output without `max`.
pub const REASONING_MAX_CHARS: u64 = 1000;
/// Characters of a string inside a list, map or record without `max`.
pub const NESTED_TEXT_MAX_CHARS: u64 = 120;
/// Characters of a map key.
pub const KEY_MAX_CHARS: u64 = 40;
/// Items of a list, or entries of a map, without `max`. With the text caps above, a reply of
/// the signatures in `signatures/` fits the local provider's default 1,024 tokens.
pub const MAX_ITEMS: u64 = 5;
/// Levels of a record that contains itself.
pub const RECORD_DEPTH: u32 = 3;
/// Levels of arrays and objects in a `json` value.
pub const JSON_DEPTH: u32 = 2;
/// Items or entries of an array or object in a `json` value.
pub const JSON_MAX_ITEMS: u64 = 5;
/// Characters of a string in a `json` value.
pub const JSON_TEXT_MAX_CHARS: u64 = 100;
/// Digits of an integer on a side without a bound (so it always fits an `i64`).
pub const INTEGER_DIGITS: u32 = 18;
/// Digits of a float's integer part on a side without a bound.
pub const FLOAT_INTEGER_DIGITS: u32 = 15;
/// Digits of a float's fraction, unless a bound needs more.
pub const FLOAT_FRACTION_DIGITS: usize = 6;
/// Repetitions longer than this are built from chunks of this many.
pub const CHUNK: u64 = 1000;
/// The longest run of characters or items a grammar allows.
pub const MAX_LENGTH: u64 = 1_000_000;

/// Fraction digits never go beyond this (the longest shortest form of an `f64` is shorter).
const MAX_FRACTION_DIGITS: usize = 400;
/// Float bounds are cut to ±10^38 (integer parts are `u128`s).
const FLOAT_LIMIT: f64 = 1e38;

/// GBNF for a reply to `signature` in the layout of `kind`; its start rule is `root`.
pub fn gbnf(kind: AdapterKind, document: &Document, signature: &PromptSignature) -> String {
    let mut builder = Builder::new(kind, document);
    let root = match kind {
        AdapterKind::Chat => builder.chat_reply(&signature.outputs),
        AdapterKind::Json => builder.json_reply(&signature.outputs),
    };
    builder.render(&root)
}

/// A GBNF expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Expr {
    /// A literal string.
    Text(String),
    /// A character class: inclusive ranges, or everything but them.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// A reference to a rule.
    Rule(String),
    /// One after the other; empty is the empty string.
    Sequence(Vec<Expr>),
    Choice(Vec<Expr>),
    /// `item{min,max}`; always bounded.
    Repeat {
        item: Box<Expr>,
        min: u64,
        max: u64,
    },
}

impl Expr {
    fn text(text: impl Into<String>) -> Expr {
        Expr::Text(text.into())
    }

    fn empty() -> Expr {
        Expr::Sequence(Vec::new())
    }

    fn is_empty(&self) -> bool {
        match self {
            Expr::Sequence(items) => items.is_empty(),
            Expr::Text(text) => text.is_empty(),
            _ => false,
        }
    }

    /// One character from `ranges`; a literal when there is only one.
    fn class(ranges: &[(char, char)]) -> Expr {
        match ranges {
            [(low, high)] if low == high => Expr::text(*low),
            _ => Expr::Class {
                negated: false,
                ranges: ranges.to_vec(),
            },
        }
    }

    fn class_except(ranges: &[(char, char)]) -> Expr {
        Expr::Class {
            negated: true,
            ranges: ranges.to_vec(),
        }
    }

    fn digit() -> Expr {
        Expr::class(&[('0', '9')])
    }

    /// A digit from `low` to `high` (ASCII digits).
    fn digits_between(low: u8, high: u8) -> Expr {
        Expr::class(&[(char::from(low), char::from(high))])
    }

    /// The items in order, flattened, with adjacent literals joined.
    fn sequence(items: impl IntoIterator<Item = Expr>) -> Expr {
        fn push(item: Expr, flat: &mut Vec<Expr>) {
            if item.is_empty() {
                return;
            }
            if let (Some(Expr::Text(last)), Expr::Text(next)) = (flat.last_mut(), &item) {
                last.push_str(next);
                return;
            }
            flat.push(item);
        }
        let mut flat: Vec<Expr> = Vec::new();
        for item in items {
            match item {
                Expr::Sequence(inner) => {
                    for nested in inner {
                        push(nested, &mut flat);
                    }
                }
                other => push(other, &mut flat),
            }
        }
        if flat.len() == 1 {
            flat.remove(0)
        } else {
            Expr::Sequence(flat)
        }
    }

    /// One of the alternatives; an empty alternative makes the rest optional.
    fn choice(alternatives: impl IntoIterator<Item = Expr>) -> Expr {
        let mut flat: Vec<Expr> = Vec::new();
        let mut optional = false;
        for alternative in alternatives {
            let nested = match alternative {
                Expr::Choice(inner) => inner,
                other => vec![other],
            };
            for item in nested {
                if item.is_empty() {
                    optional = true;
                } else if !flat.contains(&item) {
                    flat.push(item);
                }
            }
        }
        let chosen = match flat.len() {
            0 => Expr::empty(),
            1 => flat.remove(0),
            _ => Expr::Choice(flat),
        };
        if optional {
            chosen.optional()
        } else {
            chosen
        }
    }

    /// This or nothing.
    fn optional(self) -> Expr {
        match self {
            empty if empty.is_empty() => empty,
            Expr::Repeat { item, min: 0, max } => Expr::Repeat { item, min: 0, max },
            Expr::Repeat { item, min: 1, max } => Expr::Repeat { item, min: 0, max },
            other => Expr::Repeat {
                item: Box::new(other),
                min: 0,
                max: 1,
            },
        }
    }

    /// `item` `min..=max` times. Callers keep `max` within [`CHUNK`] and hoist items that
    /// repeat inside (see [`Builder::repeat`]).
    fn repeat(item: Expr, min: u64, max: u64) -> Expr {
        match (min, max) {
            (_, 0) => Expr::empty(),
            (1, 1) => item,
            _ if item.is_empty() => item,
            _ => Expr::Repeat {
                item: Box::new(item),
                min,
                max,
            },
        }
    }

    fn contains_repeat(&self) -> bool {
        match self {
            Expr::Repeat { .. } => true,
            Expr::Sequence(items) | Expr::Choice(items) => items.iter().any(Expr::contains_repeat),
            _ => false,
        }
    }

    /// Whether this renders as one symbol that needs no rule of its own.
    fn is_atomic(&self) -> bool {
        matches!(self, Expr::Text(_) | Expr::Class { .. } | Expr::Rule(_))
    }
}

/// How tightly an expression binds where it is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// A rule's whole body: alternatives need no parentheses.
    Body,
    /// An element of a sequence or an alternative.
    Element,
    /// Before a repetition suffix.
    Atom,
}

fn render_expr(expr: &Expr, out: &mut String, level: Level) {
    match expr {
        Expr::Text(text) => {
            out.push('"');
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    other => push_char(out, other),
                }
            }
            out.push('"');
        }
        Expr::Class { negated, ranges } => {
            out.push('[');
            if *negated {
                out.push('^');
            }
            for (low, high) in ranges {
                push_class_char(out, *low);
                if high != low {
                    out.push('-');
                    push_class_char(out, *high);
                }
            }
            out.push(']');
        }
        Expr::Rule(name) => out.push_str(name),
        Expr::Sequence(items) => {
            if items.is_empty() {
                out.push_str("\"\"");
                return;
            }
            let parenthesized = level == Level::Atom && items.len() > 1;
            if parenthesized {
                out.push('(');
            }
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(' ');
                }
                render_expr(item, out, Level::Element);
            }
            if parenthesized {
                out.push(')');
            }
        }
        Expr::Choice(alternatives) => {
            let parenthesized = level != Level::Body;
            if parenthesized {
                out.push('(');
            }
            for (index, alternative) in alternatives.iter().enumerate() {
                if index > 0 {
                    out.push_str(" | ");
                }
                render_expr(alternative, out, Level::Element);
            }
            if parenthesized {
                out.push(')');
            }
        }
        Expr::Repeat { item, min, max } => {
            // A repetition of a repetition gets its own parentheses.
            let parenthesized = level == Level::Atom;
            if parenthesized {
                out.push('(');
            }
            render_expr(item, out, Level::Atom);
            match (min, max) {
                (0, 1) => out.push('?'),
                (min, max) if min == max => out.push_str(&format!("{{{min}}}")),
                (min, max) => out.push_str(&format!("{{{min},{max}}}")),
            }
            if parenthesized {
                out.push(')');
            }
        }
    }
}

/// A character inside a GBNF string literal: printable text as is, the rest escaped.
fn push_char(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        ' ' => out.push(' '),
        c if c.is_control() || c.is_whitespace() => push_hex(out, c),
        c => out.push(c),
    }
}

/// A character inside a GBNF class: letters and digits as is, the rest escaped, so that no
/// `^`, `-`, `[` or `]` is read as syntax.
fn push_class_char(out: &mut String, c: char) {
    match c {
        '\\' | ']' | '[' | '-' => {
            out.push('\\');
            out.push(c);
        }
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '^' => push_hex(out, c),
        c if c.is_ascii_graphic() => out.push(c),
        c => push_hex(out, c),
    }
}

fn push_hex(out: &mut String, c: char) {
    let code = u32::from(c);
    if code <= 0xFF {
        out.push_str(&format!("\\x{code:02X}"));
    } else if code <= 0xFFFF {
        out.push_str(&format!("\\u{code:04X}"));
    } else {
        out.push_str(&format!("\\U{code:08X}"));
    }
}

/// Where a value is written, which decides its spelling.
#[derive(Clone, Copy)]
enum At<'a> {
    /// The text of a chat section, for this output field.
    Section(&'a PromptField),
    /// A top-level member of a JSON reply, for this output field.
    Member(&'a PromptField),
    /// Inside a JSON value: a list item, a map or record value.
    Nested,
}

impl At<'_> {
    /// The parser's path for the value (a top-level path lets it strip a repeated label).
    fn path(self) -> String {
        match self {
            At::Section(field) | At::Member(field) => field.name.clone(),
            At::Nested => "value[0]".to_owned(),
        }
    }
}

/// Whether a field is free-text reasoning, which gets a longer default length.
fn is_reasoning(field: &PromptField) -> bool {
    match &field.ty {
        Type::ReasoningChain => true,
        Type::String {
            min_length: None,
            max_length: None,
            pattern: None,
        } => matches!(field.name.as_str(), "reasoning" | "rationale"),
        _ => false,
    }
}

/// Builds the rules of one grammar.
struct Builder<'a> {
    kind: AdapterKind,
    document: &'a Document,
    /// Records that contain themselves, directly or through others.
    recursive: HashSet<String>,
    /// Records whose rule depends on the nesting left (they reach a recursive one).
    depth_dependent: HashSet<String>,
    /// The rules of output fields, in field order.
    field_rules: Vec<(String, Expr)>,
    /// Shared rules, in the order they were made (dependencies first).
    rules: Vec<(String, Expr)>,
    names: HashSet<String>,
    /// Rules by the hint they were named from and their body: a rule asked for twice (the
    /// same text type, enum or record) is made once.
    made: HashMap<(String, Expr), String>,
    /// Records already built, by name and nesting left; `None` when no value fits.
    records: HashMap<(String, u32), Option<Expr>>,
}

impl<'a> Builder<'a> {
    fn new(kind: AdapterKind, document: &'a Document) -> Builder<'a> {
        let mut recursive = HashSet::new();
        let mut reaches = HashMap::new();
        for record in &document.records {
            let used = document.definitions_used_by(&record.fields);
            if used.records.iter().any(|used| used.name == record.name) {
                recursive.insert(record.name.clone());
            }
            let names: Vec<String> = used.records.iter().map(|r| r.name.clone()).collect();
            reaches.insert(record.name.clone(), names);
        }
        let depth_dependent = reaches
            .into_iter()
            .filter(|(_, used)| used.iter().any(|name| recursive.contains(name)))
            .map(|(name, _)| name)
            .collect();
        Builder {
            kind,
            document,
            recursive,
            depth_dependent,
            field_rules: Vec::new(),
            rules: Vec::new(),
            names: HashSet::from(["root".to_owned()]),
            made: HashMap::new(),
            records: HashMap::new(),
        }
    }

    fn render(&self, root: &Expr) -> String {
        let mut out = String::new();
        let all = std::iter::once(("root", root)).chain(
            self.field_rules
                .iter()
                .chain(&self.rules)
                .map(|(name, body)| (name.as_str(), body)),
        );
        for (name, body) in all {
            out.push_str(name);
            out.push_str(" ::= ");
            render_expr(body, &mut out, Level::Body);
            out.push('\n');
        }
        out
    }

    /// A rule name from `hint` (kebab-case ASCII) that no other rule has.
    fn fresh_name(&mut self, hint: &str) -> String {
        let mut base = String::new();
        for c in hint.to_kebab_case().chars() {
            if c.is_ascii_alphanumeric() {
                base.push(c.to_ascii_lowercase());
            } else if !base.is_empty() && !base.ends_with('-') {
                base.push('-');
            }
        }
        let base = base.trim_end_matches('-');
        let base = if base.is_empty() { "value" } else { base };
        let mut name = base.to_owned();
        let mut counter = 2;
        while self.names.contains(&name) {
            name = format!("{base}-{counter}");
            counter += 1;
        }
        self.names.insert(name.clone());
        name
    }

    /// A rule named from `hint` with this body, made once.
    fn define(&mut self, hint: &str, body: Expr) -> Expr {
        let key = (hint.to_owned(), body);
        if let Some(name) = self.made.get(&key) {
            return Expr::Rule(name.clone());
        }
        let name = self.fresh_name(hint);
        self.rules.push((name.clone(), key.1.clone()));
        self.made.insert(key, name.clone());
        Expr::Rule(name)
    }

    /// `expr` as one symbol: itself when it is one, otherwise a rule.
    fn symbol(&mut self, hint: &str, expr: Expr) -> Expr {
        if expr.is_atomic() {
            expr
        } else {
            self.define(hint, expr)
        }
    }

    /// `item` `min..=max` times, within llama.cpp's limits: an item that repeats inside gets its
    /// own rule, and runs longer than [`CHUNK`] are built from chunks.
    fn repeat(&mut self, hint: &str, item: Expr, min: u64, max: u64) -> Expr {
        let max = max.min(MAX_LENGTH);
        let min = min.min(max);
        let item = if max > 1 && item.contains_repeat() {
            self.define(hint, item)
        } else {
            item
        };
        if max <= CHUNK {
            return Expr::repeat(item, min, max);
        }
        let chunk = self.define(
            &format!("{hint}-chunk"),
            Expr::repeat(item.clone(), CHUNK, CHUNK),
        );
        let (low, high) = (min / CHUNK, max / CHUNK);
        let mut alternatives = vec![Expr::sequence([
            Expr::repeat(chunk.clone(), low, low),
            Expr::repeat(
                item.clone(),
                min - low * CHUNK,
                (CHUNK - 1).min(max - low * CHUNK),
            ),
        ])];
        if high > low + 1 {
            alternatives.push(Expr::sequence([
                Expr::repeat(chunk.clone(), low + 1, high - 1),
                Expr::repeat(item.clone(), 0, CHUNK - 1),
            ]));
        }
        if high > low {
            alternatives.push(Expr::sequence([
                Expr::repeat(chunk, high, high),
                Expr::repeat(item, 0, max - high * CHUNK),
            ]));
        }
        Expr::choice(alternatives)
    }

    fn chat_reply(&mut self, outputs: &[PromptField]) -> Expr {
        let mut parts = Vec::new();
        for field in outputs {
            parts.push(Expr::text(format!("[[ ## {} ## ]]\n", field.name)));
            parts.push(self.field_value(field, At::Section(field)));
            parts.push(Expr::text("\n\n"));
        }
        parts.push(Expr::text("[[ ## completed ## ]]"));
        Expr::sequence(parts)
    }

    fn json_reply(&mut self, outputs: &[PromptField]) -> Expr {
        let mut parts = vec![Expr::text("{")];
        for (index, field) in outputs.iter().enumerate() {
            let separator = if index == 0 { "" } else { ", " };
            parts.push(Expr::text(format!(
                "{separator}{}: ",
                json_key(&field.name)
            )));
            parts.push(self.field_value(field, At::Member(field)));
        }
        parts.push(Expr::text("}"));
        Expr::sequence(parts)
    }

    /// The value of one output field, as a rule named after the field unless it is one symbol.
    fn field_value(&mut self, field: &PromptField, at: At<'_>) -> Expr {
        // Only a record that requires itself has no value that fits; `null` stands in for it, and
        // the parser rejects it honestly.
        let value = self
            .value(&field.ty, at, &field.name, RECORD_DEPTH)
            .unwrap_or_else(|| Expr::text("null"));
        if value.is_atomic() {
            return value;
        }
        let name = self.fresh_name(&field.name);
        self.field_rules.push((name.clone(), value));
        Expr::Rule(name)
    }

    /// A value of type `ty` written `at`; `None` when no value fits within the nesting left.
    fn value(&mut self, ty: &Type, at: At<'_>, hint: &str, depth: u32) -> Option<Expr> {
        match ty {
            Type::Optional(inner) => {
                let null = Expr::text(match at {
                    At::Section(_) => "None",
                    At::Member(_) | At::Nested => "null",
                });
                let value = match inner.as_ref() {
                    Type::Literals(values) => self.choice(inner, values, at, true),
                    Type::Enum(name) => {
                        let variants = self.variants(name);
                        self.choice(inner, &variants, at, true)
                    }
                    other => self.value(other, at, hint, depth),
                };
                Some(match value {
                    Some(value) => Expr::choice([value, null]),
                    None => null,
                })
            }
            Type::String {
                min_length,
                max_length,
                pattern,
            } => Some(self.string(*min_length, *max_length, pattern.as_deref(), at, hint)),
            Type::ReasoningChain => Some(self.string(None, None, None, at, hint)),
            Type::Integer { min, max } => Some(integer(*min, *max)),
            Type::Float { min, max } => Some(float(*min, *max)),
            Type::Probability { min, max } => {
                let low = min.unwrap_or(0.0).max(0.0);
                let high = max.unwrap_or(1.0).min(1.0);
                Some(float(Some(low), Some(high)))
            }
            Type::Boolean => Some(match at {
                At::Section(_) => Expr::choice([Expr::text("True"), Expr::text("False")]),
                At::Member(_) | At::Nested => {
                    Expr::choice([Expr::text("true"), Expr::text("false")])
                }
            }),
            Type::Json => Some(self.json(JSON_DEPTH)),
            Type::List {
                item,
                min_items,
                max_items,
            } => self.list(item, *min_items, *max_items, hint, depth),
            Type::Map {
                value,
                min_entries,
                max_entries,
            } => self.map(value, *min_entries, *max_entries, hint, depth),
            Type::Literals(values) => self.choice(ty, values, at, false),
            Type::Enum(name) => {
                let variants = self.variants(name);
                let choice = self.choice(ty, &variants, at, false)?;
                Some(self.symbol(name, choice))
            }
            Type::Record(name) => self.record(name, depth),
        }
    }

    fn variants(&self, name: &str) -> Vec<String> {
        self.document
            .enumeration(name)
            .map(|e| e.variants.iter().map(|v| v.name.clone()).collect())
            .unwrap_or_default()
    }

    /// Exactly one of `values` (of the literal or enum type `ty`), spelt for `at`: each value the
    /// parser reads back as itself there. `nullable` when `ty` is the inside of `ty?`.
    fn choice(&self, ty: &Type, values: &[String], at: At<'_>, nullable: bool) -> Option<Expr> {
        let spelt: Vec<(String, &String)> = values
            .iter()
            .map(|value| {
                let spelling = match at {
                    At::Section(_) => value.clone(),
                    At::Member(_) | At::Nested => json_key(value),
                };
                (spelling, value)
            })
            .collect();
        let readable: Vec<Expr> = spelt
            .iter()
            .filter(|(spelling, value)| self.reads_back(ty, spelling, value, at, nullable))
            .map(|(spelling, _)| Expr::text(spelling.clone()))
            .collect();
        let alternatives = if readable.is_empty() {
            spelt
                .into_iter()
                .map(|(spelling, _)| Expr::text(spelling))
                .collect()
        } else {
            readable
        };
        (!alternatives.is_empty()).then(|| Expr::choice(alternatives))
    }

    /// Whether the parser reads `spelling`, written `at`, as the choice `value`.
    fn reads_back(
        &self,
        ty: &Type,
        spelling: &str,
        value: &str,
        at: At<'_>,
        nullable: bool,
    ) -> bool {
        if self.kind == AdapterKind::Chat && spelling.contains("[[") {
            return false;
        }
        let checked = if nullable {
            Type::optional(ty.clone())
        } else {
            ty.clone()
        };
        let json = Value::String(value.to_owned());
        let raw = match at {
            At::Section(_) => {
                // The parser trims a section; an empty one is an absent field.
                let content = spelling.trim();
                if content.is_empty() {
                    return false;
                }
                Raw::Text(content)
            }
            At::Member(_) | At::Nested => Raw::Json(&json),
        };
        matches!(
            parse::coerce(self.document, &checked, raw, &at.path()),
            Ok((read, _)) if read == json
        )
    }

    /// Text of `min..=max` characters matching `pattern` where the pattern can be compiled
    /// (see the module documentation for the defaults).
    fn string(
        &mut self,
        min: Option<u64>,
        max: Option<u64>,
        pattern: Option<&str>,
        at: At<'_>,
        hint: &str,
    ) -> Expr {
        let default_max = match at {
            At::Section(field) | At::Member(field) if is_reasoning(field) => REASONING_MAX_CHARS,
            At::Section(_) | At::Member(_) => TEXT_MAX_CHARS,
            At::Nested => NESTED_TEXT_MAX_CHARS,
        };
        let min = min.unwrap_or(0).min(MAX_LENGTH);
        let max = max.unwrap_or(default_max.max(min)).min(MAX_LENGTH);
        let section = matches!(at, At::Section(_));
        let hint = format!("{hint}-pattern");
        if let Some(matching) =
            pattern.and_then(|pattern| self.pattern_text(pattern, min, max, section, &hint))
        {
            return matching;
        }
        if section {
            self.section_text(min, max)
        } else {
            self.json_string(min, max)
        }
    }

    /// The text of a chat section: not empty, no space at either end, no `[`, and not starting
    /// with `{`.
    fn section_text(&mut self, min: u64, max: u64) -> Expr {
        // A chat section cannot hold an empty text: it would read as an absent field.
        let min = min.max(1);
        let max = max.max(1);
        let first = self.define("text-first", Expr::class_except(NOT_SECTION_FIRST));
        let edge = self.define("text-edge", Expr::class_except(NOT_SECTION_EDGE));
        let inner = self.define("text-char", Expr::class_except(NOT_SECTION_TEXT));
        let hint = if min <= 1 {
            format!("text-{max}")
        } else {
            format!("text-{min}-{max}")
        };
        let body = if max == 1 {
            first
        } else if min <= 1 {
            let middle = self.repeat(&format!("{hint}-run"), inner, 0, max - 2);
            Expr::sequence([first, Expr::sequence([middle, edge]).optional()])
        } else {
            let middle = self.repeat(&format!("{hint}-run"), inner, min - 2, max - 2);
            Expr::sequence([first, middle, edge])
        };
        self.symbol(&hint, body)
    }

    /// Characters a JSON string leaves unescaped here: no `"`, `\` or control character, and
    /// in a chat reply no `[`, since `[[` could forge a section header.
    fn not_json_raw(&self) -> Vec<(char, char)> {
        let mut excluded = vec![('"', '"'), ('\\', '\\'), ('\u{0}', '\u{1F}')];
        if self.kind == AdapterKind::Chat {
            excluded.push(('[', '['));
        }
        excluded
    }

    /// A JSON string of `min..=max` characters.
    fn json_string(&mut self, min: u64, max: u64) -> Expr {
        let character = Expr::choice([
            Expr::class_except(&self.not_json_raw()),
            Expr::sequence([
                Expr::text("\\"),
                Expr::class(&[('"', '"'), ('\\', '\\'), ('/', '/'), ('n', 'n'), ('t', 't')]),
            ]),
        ]);
        let character = self.define("string-char", character);
        let hint = if min == 0 {
            format!("string-{max}")
        } else {
            format!("string-{min}-{max}")
        };
        let characters = self.repeat(&format!("{hint}-run"), character, min, max);
        let body = Expr::sequence([Expr::text("\""), characters, Expr::text("\"")]);
        self.define(&hint, body)
    }

    /// Text matching the regular expression `pattern` with `min..=max` characters, written in a
    /// chat section or as a JSON string; `None` when the pattern is outside what a grammar can
    /// follow here (look-around other than `^`/`$` at the ends, bytes mode) or its lengths do
    /// not fit the bounds, and the caller then bounds only the length.
    fn pattern_text(
        &mut self,
        pattern: &str,
        min: u64,
        max: u64,
        section: bool,
        hint: &str,
    ) -> Option<Expr> {
        let hir = regex_syntax::parse(pattern).ok()?;
        let not_json_raw = self.not_json_raw();
        // JSON strings can also carry `"`, `\`, newlines and tabs, escaped.
        let not_allowed: Vec<(char, char)> = if section {
            NOT_SECTION_TEXT.to_vec()
        } else {
            let mut excluded = vec![('\u{0}', '\u{8}'), ('\u{B}', '\u{1F}')];
            if self.kind == AdapterKind::Chat {
                excluded.push(('[', '['));
            }
            excluded
        };
        // An unbounded repetition gets at most this many more than its minimum; fewer when
        // that is what it takes to stay within `max`.
        for extra in [32, 16, 8, 4, 2, 1, 0] {
            let matching = Pattern::of(&hir, extra, true, true)?.restrict(&not_allowed)?;
            let matching = if section {
                // The parser trims a section: the text must start and end with a non-space.
                matching
                    .first_in(NOT_SECTION_EDGE)?
                    .last_in(NOT_SECTION_EDGE)?
            } else {
                matching
            };
            let (shortest, longest) = (matching.min_length(), matching.max_length());
            if shortest < min {
                return None;
            }
            if longest <= max {
                let body = self.pattern_expr(&matching, section, &not_json_raw, hint);
                return Some(if section {
                    self.symbol(hint, body)
                } else {
                    let quoted = Expr::sequence([Expr::text("\""), body, Expr::text("\"")]);
                    self.define(hint, quoted)
                });
            }
        }
        None
    }

    /// The expression for `pattern`, whose characters are JSON-escaped unless in a `section`.
    fn pattern_expr(
        &mut self,
        pattern: &Pattern,
        section: bool,
        not_json_raw: &[(char, char)],
        hint: &str,
    ) -> Expr {
        match pattern {
            Pattern::Empty => Expr::empty(),
            Pattern::Chars(ranges) if section => Expr::class(ranges),
            Pattern::Chars(ranges) => {
                let raw = subtract(ranges, not_json_raw);
                let mut alternatives = Vec::new();
                if !raw.is_empty() {
                    alternatives.push(Expr::class(&raw));
                }
                for (c, escaped) in [('"', "\\\""), ('\\', "\\\\"), ('\n', "\\n"), ('\t', "\\t")] {
                    if contains(ranges, c) {
                        alternatives.push(Expr::text(escaped));
                    }
                }
                Expr::choice(alternatives)
            }
            Pattern::Concat(items) => {
                let items: Vec<Expr> = items
                    .iter()
                    .map(|item| self.pattern_expr(item, section, not_json_raw, hint))
                    .collect();
                Expr::sequence(items)
            }
            Pattern::Alternation(alternatives) => {
                let alternatives: Vec<Expr> = alternatives
                    .iter()
                    .map(|alternative| self.pattern_expr(alternative, section, not_json_raw, hint))
                    .collect();
                Expr::choice(alternatives)
            }
            Pattern::Repeat(item, min, max) => {
                let item = self.pattern_expr(item, section, not_json_raw, hint);
                self.repeat(
                    &format!("{hint}-run"),
                    item,
                    u64::from(*min),
                    u64::from(*max),
                )
            }
        }
    }

    /// `[a, b]` with `min..=max` items.
    fn list(
        &mut self,
        item: &Type,
        min: Option<u64>,
        max: Option<u64>,
        hint: &str,
        depth: u32,
    ) -> Option<Expr> {
        let item_hint = format!("{hint}-item");
        let item = self.value(item, At::Nested, &item_hint, depth);
        let item = item.map(|item| self.symbol(&item_hint, item));
        self.sequence_of("[", item, "]", min, max, &item_hint)
    }

    /// `{"key": value}` with `min..=max` entries.
    fn map(
        &mut self,
        value: &Type,
        min: Option<u64>,
        max: Option<u64>,
        hint: &str,
        depth: u32,
    ) -> Option<Expr> {
        let value_hint = format!("{hint}-value");
        let value = self.value(value, At::Nested, &value_hint, depth);
        let entry = match value {
            Some(value) => {
                let value = self.symbol(&value_hint, value);
                let key = self.json_string(1, KEY_MAX_CHARS);
                let entry = Expr::sequence([key, Expr::text(": "), value]);
                Some(self.define(&format!("{hint}-entry"), entry))
            }
            None => None,
        };
        self.sequence_of("{", entry, "}", min, max, &format!("{hint}-entries"))
    }

    /// `open`, `min..=max` elements separated by `, `, `close`. With no element that fits,
    /// only the empty container (when `min` allows it).
    fn sequence_of(
        &mut self,
        open: &str,
        element: Option<Expr>,
        close: &str,
        min: Option<u64>,
        max: Option<u64>,
        hint: &str,
    ) -> Option<Expr> {
        let min = min.unwrap_or(0).min(MAX_LENGTH);
        let max = max.unwrap_or(MAX_ITEMS.max(min)).min(MAX_LENGTH);
        let empty = Expr::text(format!("{open}{close}"));
        let Some(element) = element else {
            return (min == 0).then_some(empty);
        };
        if max == 0 {
            return Some(empty);
        }
        let more = Expr::sequence([Expr::text(", "), element.clone()]);
        let elements = if min == 0 {
            let rest = self.repeat(hint, more, 0, max - 1);
            Expr::sequence([element, rest]).optional()
        } else {
            let rest = self.repeat(hint, more, min - 1, max - 1);
            Expr::sequence([element, rest])
        };
        Some(Expr::sequence([
            Expr::text(open),
            elements,
            Expr::text(close),
        ]))
    }

    /// The record called `name` as a JSON object, with `depth` levels of recursion left.
    fn record(&mut self, name: &str, depth: u32) -> Option<Expr> {
        let recursive = self.recursive.contains(name);
        let depth_dependent = self.depth_dependent.contains(name);
        if recursive && depth == 0 {
            return None;
        }
        let key = (
            name.to_owned(),
            if depth_dependent { depth } else { u32::MAX },
        );
        if let Some(built) = self.records.get(&key) {
            return built.clone();
        }
        let record = self.document.record(name)?;
        let hint = if depth_dependent {
            format!("{name}-{depth}")
        } else {
            name.to_owned()
        };
        let inner_depth = if recursive { depth - 1 } else { depth };
        let mut parts = vec![Expr::text("{")];
        let mut fits = true;
        for (index, field) in record.fields.iter().enumerate() {
            let separator = if index == 0 { "" } else { ", " };
            parts.push(Expr::text(format!(
                "{separator}{}: ",
                json_key(&field.name)
            )));
            let field_hint = format!("{hint}-{}", field.name);
            match self.value(&field.ty, At::Nested, &field_hint, inner_depth) {
                Some(value) => parts.push(self.symbol(&field_hint, value)),
                None => {
                    fits = false;
                    break;
                }
            }
        }
        parts.push(Expr::text("}"));
        let built = fits.then(|| self.define(&hint, Expr::sequence(parts)));
        self.records.insert(key, built.clone());
        built
    }

    /// Any JSON value with at most `depth` levels of arrays and objects.
    fn json(&mut self, depth: u32) -> Expr {
        let text = self.json_string(0, JSON_TEXT_MAX_CHARS);
        let number = self.define("number", float(None, None));
        let mut alternatives = vec![
            text,
            number,
            Expr::text("true"),
            Expr::text("false"),
            Expr::text("null"),
        ];
        if depth > 0 {
            let inner = self.json(depth - 1);
            let hint = format!("json-{depth}");
            let array = self.sequence_of(
                "[",
                Some(inner.clone()),
                "]",
                None,
                Some(JSON_MAX_ITEMS),
                &format!("{hint}-items"),
            );
            let key = self.json_string(1, KEY_MAX_CHARS);
            let entry = self.define(
                &format!("{hint}-entry"),
                Expr::sequence([key, Expr::text(": "), inner]),
            );
            let object = self.sequence_of(
                "{",
                Some(entry),
                "}",
                None,
                Some(JSON_MAX_ITEMS),
                &format!("{hint}-entries"),
            );
            alternatives.extend(array);
            alternatives.extend(object);
        }
        self.define(&format!("json-{depth}"), Expr::choice(alternatives))
    }
}

/// Characters a chat section's text never holds: control characters but tab and newline, and
/// `[`, so that no `[[ ## name ## ]]` header can be forged.
const NOT_SECTION_TEXT: &[(char, char)] = &[
    ('\u{0}', '\u{8}'),
    ('\u{B}', '\u{1F}'),
    ('\u{7F}', '\u{9F}'),
    ('[', '['),
];

/// Characters a chat section's text neither starts nor ends with: those it never holds and
/// every character `str::trim` removes.
const NOT_SECTION_EDGE: &[(char, char)] = &[
    ('\u{0}', ' '),
    ('\u{7F}', '\u{A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
    ('[', '['),
];

/// Characters a chat section's text does not start with: the edge characters, and `{`. The
/// chat prompt shows every output as a `{name}` placeholder, and small models copy it instead
/// of answering; a text field's value does not start with a brace.
const NOT_SECTION_FIRST: &[(char, char)] = &[
    ('\u{0}', ' '),
    ('\u{7F}', '\u{A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
    ('[', '['),
    ('{', '{'),
];

/// A regular expression reduced to what a grammar can say: characters, sequences, alternatives
/// and bounded repetitions. Every text it describes matches the expression it came from.
#[derive(Debug, Clone, PartialEq)]
enum Pattern {
    /// The empty text.
    Empty,
    /// One character from these ranges (never none).
    Chars(Vec<(char, char)>),
    Concat(Vec<Pattern>),
    Alternation(Vec<Pattern>),
    Repeat(Box<Pattern>, u32, u32),
}

impl Pattern {
    /// The texts `hir` describes, with `extra` more than the minimum for an unbounded
    /// repetition. `None` for what a grammar cannot follow: look-around other than a start
    /// anchor at the start (`at_start`) or an end anchor at the end (`at_end`), and bytes.
    fn of(hir: &Hir, extra: u32, at_start: bool, at_end: bool) -> Option<Pattern> {
        Some(match hir.kind() {
            HirKind::Empty => Pattern::Empty,
            HirKind::Literal(literal) => {
                let text = std::str::from_utf8(&literal.0).ok()?;
                Pattern::Concat(text.chars().map(|c| Pattern::Chars(vec![(c, c)])).collect())
            }
            HirKind::Class(Class::Unicode(class)) => {
                let ranges: Vec<(char, char)> = class
                    .ranges()
                    .iter()
                    .map(|r| (r.start(), r.end()))
                    .collect();
                if ranges.is_empty() {
                    return None;
                }
                Pattern::Chars(ranges)
            }
            HirKind::Class(Class::Bytes(_)) => return None,
            HirKind::Look(look) => match look {
                Look::Start | Look::StartLF | Look::StartCRLF if at_start => Pattern::Empty,
                Look::End | Look::EndLF | Look::EndCRLF if at_end => Pattern::Empty,
                _ => return None,
            },
            HirKind::Repetition(repetition) => {
                let max = repetition
                    .max
                    .unwrap_or_else(|| repetition.min.saturating_add(extra));
                let max = max.min(u32::try_from(MAX_LENGTH).unwrap_or(u32::MAX));
                Pattern::Repeat(
                    Box::new(Pattern::of(&repetition.sub, extra, false, false)?),
                    repetition.min.min(max),
                    max,
                )
            }
            HirKind::Capture(capture) => Pattern::of(&capture.sub, extra, at_start, at_end)?,
            HirKind::Concat(items) => {
                let last = items.len().saturating_sub(1);
                let items = items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| {
                        Pattern::of(item, extra, at_start && index == 0, at_end && index == last)
                    })
                    .collect::<Option<Vec<_>>>()?;
                Pattern::Concat(items)
            }
            HirKind::Alternation(alternatives) => Pattern::Alternation(
                alternatives
                    .iter()
                    .map(|alternative| Pattern::of(alternative, extra, at_start, at_end))
                    .collect::<Option<Vec<_>>>()?,
            ),
        })
    }

    /// The texts without any character of `excluded`; `None` when no text is left.
    fn restrict(&self, excluded: &[(char, char)]) -> Option<Pattern> {
        match self {
            Pattern::Empty => Some(Pattern::Empty),
            Pattern::Chars(ranges) => {
                let left = subtract(ranges, excluded);
                (!left.is_empty()).then_some(Pattern::Chars(left))
            }
            Pattern::Concat(items) => items
                .iter()
                .map(|item| item.restrict(excluded))
                .collect::<Option<Vec<_>>>()
                .map(Pattern::Concat),
            Pattern::Alternation(alternatives) => {
                let left: Vec<Pattern> = alternatives
                    .iter()
                    .filter_map(|alternative| alternative.restrict(excluded))
                    .collect();
                (!left.is_empty()).then_some(Pattern::Alternation(left))
            }
            Pattern::Repeat(item, min, max) => match item.restrict(excluded) {
                Some(item) => Some(Pattern::Repeat(Box::new(item), *min, *max)),
                None if *min == 0 => Some(Pattern::Empty),
                None => None,
            },
        }
    }

    fn may_be_empty(&self) -> bool {
        match self {
            Pattern::Empty => true,
            Pattern::Chars(_) => false,
            Pattern::Concat(items) => items.iter().all(Pattern::may_be_empty),
            Pattern::Alternation(alternatives) => alternatives.iter().any(Pattern::may_be_empty),
            Pattern::Repeat(item, min, _) => *min == 0 || item.may_be_empty(),
        }
    }

    /// The texts that are not empty and whose first character is not in `excluded`.
    fn first_in(&self, excluded: &[(char, char)]) -> Option<Pattern> {
        self.edge_in(excluded, true)
    }

    /// The texts that are not empty and whose last character is not in `excluded`.
    fn last_in(&self, excluded: &[(char, char)]) -> Option<Pattern> {
        self.edge_in(excluded, false)
    }

    fn edge_in(&self, excluded: &[(char, char)], first: bool) -> Option<Pattern> {
        match self {
            Pattern::Empty => None,
            Pattern::Chars(_) => self.restrict(excluded),
            Pattern::Concat(items) => {
                let (edge, rest) = if first {
                    let (edge, rest) = items.split_first()?;
                    (edge, rest.to_vec())
                } else {
                    let (edge, rest) = items.split_last()?;
                    (edge, rest.to_vec())
                };
                let join = |edge: Pattern, rest: Vec<Pattern>| {
                    let mut joined = rest;
                    if first {
                        joined.insert(0, edge);
                    } else {
                        joined.push(edge);
                    }
                    Pattern::Concat(joined)
                };
                let mut alternatives = Vec::new();
                if let Some(edge) = edge.edge_in(excluded, first) {
                    alternatives.push(join(edge, rest.clone()));
                }
                if edge.may_be_empty() {
                    alternatives.extend(Pattern::Concat(rest).edge_in(excluded, first));
                }
                (!alternatives.is_empty()).then_some(Pattern::Alternation(alternatives))
            }
            Pattern::Alternation(alternatives) => {
                let left: Vec<Pattern> = alternatives
                    .iter()
                    .filter_map(|alternative| alternative.edge_in(excluded, first))
                    .collect();
                (!left.is_empty()).then_some(Pattern::Alternation(left))
            }
            Pattern::Repeat(item, min, max) => {
                if *max == 0 {
                    return None;
                }
                // The first (or last) repetition that is not empty holds the edge; empty ones
                // can be counted among the others.
                let edge = item.edge_in(excluded, first)?;
                let others = Pattern::Repeat(item.clone(), min.saturating_sub(1), max - 1);
                Some(Pattern::Concat(if first {
                    vec![edge, others]
                } else {
                    vec![others, edge]
                }))
            }
        }
    }

    fn min_length(&self) -> u64 {
        match self {
            Pattern::Empty => 0,
            Pattern::Chars(_) => 1,
            Pattern::Concat(items) => items.iter().map(Pattern::min_length).sum(),
            Pattern::Alternation(alternatives) => alternatives
                .iter()
                .map(Pattern::min_length)
                .min()
                .unwrap_or(0),
            Pattern::Repeat(item, min, _) => item.min_length().saturating_mul(u64::from(*min)),
        }
    }

    fn max_length(&self) -> u64 {
        match self {
            Pattern::Empty => 0,
            Pattern::Chars(_) => 1,
            Pattern::Concat(items) => items
                .iter()
                .map(Pattern::max_length)
                .fold(0, u64::saturating_add),
            Pattern::Alternation(alternatives) => alternatives
                .iter()
                .map(Pattern::max_length)
                .max()
                .unwrap_or(0),
            Pattern::Repeat(item, _, max) => item.max_length().saturating_mul(u64::from(*max)),
        }
    }
}

/// Whether any of `ranges` holds `c`.
fn contains(ranges: &[(char, char)], c: char) -> bool {
    ranges.iter().any(|(low, high)| (*low..=*high).contains(&c))
}

/// `ranges` without the characters of `excluded`.
fn subtract(ranges: &[(char, char)], excluded: &[(char, char)]) -> Vec<(char, char)> {
    let mut left: Vec<(u32, u32)> = ranges
        .iter()
        .map(|(low, high)| (u32::from(*low), u32::from(*high)))
        .collect();
    for (cut_low, cut_high) in excluded {
        let (cut_low, cut_high) = (u32::from(*cut_low), u32::from(*cut_high));
        left = left
            .into_iter()
            .flat_map(|(low, high)| {
                let mut pieces = Vec::new();
                if low < cut_low {
                    pieces.push((low, high.min(cut_low - 1)));
                }
                if high > cut_high {
                    pieces.push((low.max(cut_high + 1), high));
                }
                if cut_high < low || cut_low > high {
                    pieces = vec![(low, high)];
                }
                pieces
            })
            .collect();
    }
    left.into_iter()
        .filter_map(|(low, high)| {
            // A bound next to a cut can fall among the surrogates, which are not characters.
            let low = char::from_u32(low).or_else(|| char::from_u32(0xE000))?;
            let high = char::from_u32(high).or_else(|| char::from_u32(0xD7FF))?;
            (low <= high).then_some((low, high))
        })
        .collect()
}

/// `text` as a JSON string.
fn json_key(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// An integer within `min..=max`, in canonical decimal digits.
fn integer(min: Option<i64>, max: Option<i64>) -> Expr {
    let limit = 10_i128.pow(INTEGER_DIGITS) - 1;
    if min.is_none() && max.is_none() {
        // `0`, or a signed number without leading zeros.
        return Expr::choice([
            Expr::text("0"),
            Expr::sequence([
                Expr::text("-").optional(),
                Expr::class(&[('1', '9')]),
                Expr::repeat(Expr::digit(), 0, u64::from(INTEGER_DIGITS) - 1),
            ]),
        ]);
    }
    // An open side stops at `INTEGER_DIGITS` digits, or at the `i64` limit when the other
    // bound is already beyond that.
    let low = match (min, max) {
        (Some(low), _) => i128::from(low),
        (None, Some(high)) if i128::from(high) < -limit => i128::from(i64::MIN),
        (None, _) => -limit,
    };
    let high = match (min, max) {
        (_, Some(high)) => i128::from(high),
        (Some(low), None) if i128::from(low) > limit => i128::from(i64::MAX),
        (_, None) => limit,
    };
    signed_range(low, high)
}

/// The integers `low..=high`.
fn signed_range(low: i128, high: i128) -> Expr {
    let mut alternatives = Vec::new();
    if low < 0 {
        let nearest = if high < 0 { high.unsigned_abs() } else { 1 };
        alternatives.push(Expr::sequence([
            Expr::text("-"),
            unsigned_range(nearest, low.unsigned_abs()),
        ]));
    }
    if high >= 0 {
        alternatives.push(unsigned_range(
            low.max(0).unsigned_abs(),
            high.unsigned_abs(),
        ));
    }
    Expr::choice(alternatives)
}

/// The non-negative integers `low..=high` without leading zeros, one alternative per number of
/// digits (runs of whole lengths share one).
fn unsigned_range(low: u128, high: u128) -> Expr {
    let length = |n: u128| n.to_string().len();
    let mut alternatives = Vec::new();
    if low == 0 {
        alternatives.push(Expr::text("0"));
        if high == 0 {
            return Expr::choice(alternatives);
        }
    }
    let low = low.max(1);
    // Whole lengths waiting to be merged: (first, last).
    let mut whole: Option<(usize, usize)> = None;
    let flush = |whole: &mut Option<(usize, usize)>, alternatives: &mut Vec<Expr>| {
        if let Some((first, last)) = whole.take() {
            alternatives.push(Expr::sequence([
                Expr::class(&[('1', '9')]),
                Expr::repeat(Expr::digit(), first as u64 - 1, last as u64 - 1),
            ]));
        }
    };
    for digits in length(low)..=length(high) {
        let smallest = 10_u128.pow(digits as u32 - 1);
        let largest = 10_u128.pow(digits as u32) - 1;
        let start = low.max(smallest);
        let end = high.min(largest);
        if start == smallest && end == largest {
            whole = Some(whole.map_or((digits, digits), |(first, _)| (first, digits)));
            continue;
        }
        flush(&mut whole, &mut alternatives);
        alternatives.push(same_length(
            start.to_string().as_bytes(),
            end.to_string().as_bytes(),
        ));
    }
    flush(&mut whole, &mut alternatives);
    Expr::choice(alternatives)
}

/// Digit strings of one length from `low` to `high` (leading zeros allowed: a suffix).
fn same_length(low: &[u8], high: &[u8]) -> Expr {
    let (Some((&first_low, rest_low)), Some((&first_high, rest_high))) =
        (low.split_first(), high.split_first())
    else {
        return Expr::empty();
    };
    if first_low == first_high {
        return Expr::sequence([
            Expr::text(char::from(first_low)),
            same_length(rest_low, rest_high),
        ]);
    }
    let rest = rest_low.len() as u64;
    let low_is_floor = rest_low.iter().all(|d| *d == b'0');
    let high_is_ceiling = rest_high.iter().all(|d| *d == b'9');
    let mut alternatives = Vec::new();
    let mut middle_start = first_low;
    if !low_is_floor {
        let nines = vec![b'9'; rest_low.len()];
        alternatives.push(Expr::sequence([
            Expr::text(char::from(first_low)),
            same_length(rest_low, &nines),
        ]));
        middle_start += 1;
    }
    let middle_end = if high_is_ceiling {
        first_high
    } else {
        first_high - 1
    };
    if middle_start <= middle_end {
        alternatives.push(Expr::sequence([
            Expr::digits_between(middle_start, middle_end),
            Expr::repeat(Expr::digit(), rest, rest),
        ]));
    }
    if !high_is_ceiling {
        let zeros = vec![b'0'; rest_high.len()];
        alternatives.push(Expr::sequence([
            Expr::text(char::from(first_high)),
            same_length(&zeros, rest_high),
        ]));
    }
    Expr::choice(alternatives)
}

/// A number's magnitude in decimal: integer part and fraction digits (no trailing zeros).
#[derive(Debug, Clone, PartialEq)]
struct Decimal {
    negative: bool,
    integer: u128,
    fraction: Vec<u8>,
}

impl Decimal {
    /// `value` in its shortest round-trip form, which Rust writes without an exponent. Callers
    /// keep `|value|` below [`FLOAT_LIMIT`].
    fn of(value: f64) -> Decimal {
        let text = format!("{}", value.abs());
        let (integer, fraction) = text.split_once('.').unwrap_or((&text, ""));
        Decimal {
            negative: value < 0.0,
            integer: integer.parse().unwrap_or(u128::MAX),
            fraction: fraction.trim_end_matches('0').as_bytes().to_vec(),
        }
    }

    /// `digits` nines before the point and `fraction` after.
    fn nines(negative: bool, digits: u32, fraction: usize) -> Decimal {
        Decimal {
            negative,
            integer: 10_u128.pow(digits) - 1,
            fraction: vec![b'9'; fraction],
        }
    }
}

/// A decimal number within `min..=max` (see the module documentation).
fn float(min: Option<f64>, max: Option<f64>) -> Expr {
    if min.is_none() && max.is_none() {
        return Expr::sequence([
            Expr::text("-").optional(),
            Expr::choice([
                Expr::text("0"),
                Expr::sequence([
                    Expr::class(&[('1', '9')]),
                    Expr::repeat(Expr::digit(), 0, u64::from(FLOAT_INTEGER_DIGITS) - 1),
                ]),
            ]),
            Expr::sequence([
                Expr::text("."),
                Expr::repeat(Expr::digit(), 1, FLOAT_FRACTION_DIGITS as u64),
            ])
            .optional(),
        ]);
    }
    let open = 10_f64.powi(FLOAT_INTEGER_DIGITS as i32);
    let out_of_reach =
        min.is_some_and(|low| low > FLOAT_LIMIT) || max.is_some_and(|high| high < -FLOAT_LIMIT);
    if out_of_reach {
        return float(None, None);
    }
    let low = match min {
        Some(low) => Decimal::of(low.max(-FLOAT_LIMIT)),
        None if max.is_some_and(|high| high <= 1.0 - open) => Decimal::of(-FLOAT_LIMIT),
        None => Decimal::nines(true, FLOAT_INTEGER_DIGITS, FLOAT_FRACTION_DIGITS),
    };
    let high = match max {
        Some(high) => Decimal::of(high.min(FLOAT_LIMIT)),
        None if min.is_some_and(|low| low >= open - 1.0) => Decimal::of(FLOAT_LIMIT),
        None => Decimal::nines(false, FLOAT_INTEGER_DIGITS, FLOAT_FRACTION_DIGITS),
    };
    let places = FLOAT_FRACTION_DIGITS
        .max(low.fraction.len())
        .max(high.fraction.len())
        .min(MAX_FRACTION_DIGITS);
    signed_decimal_range(&low, &high, places)
}

/// Decimals from `low` to `high` with at most `places` fraction digits.
fn signed_decimal_range(low: &Decimal, high: &Decimal, places: usize) -> Expr {
    let zero = Decimal {
        negative: false,
        integer: 0,
        fraction: Vec::new(),
    };
    let mut alternatives = Vec::new();
    if low.negative {
        // Negative numbers down to `low`, never `-0`: at least the last place is not zero.
        let nearest = if high.negative {
            Decimal {
                negative: false,
                ..high.clone()
            }
        } else {
            let mut smallest = vec![b'0'; places - 1];
            smallest.push(b'1');
            Decimal {
                negative: false,
                integer: 0,
                fraction: smallest,
            }
        };
        let farthest = Decimal {
            negative: false,
            ..low.clone()
        };
        alternatives.push(Expr::sequence([
            Expr::text("-"),
            unsigned_decimal_range(&nearest, &farthest, places),
        ]));
    }
    if !high.negative {
        let from = if low.negative { &zero } else { low };
        alternatives.push(unsigned_decimal_range(from, high, places));
    }
    Expr::choice(alternatives)
}

/// Non-negative decimals from `low` to `high`.
fn unsigned_decimal_range(low: &Decimal, high: &Decimal, places: usize) -> Expr {
    let whole = |n: u128| Expr::text(n.to_string());
    if low.integer == high.integer {
        return Expr::sequence([
            whole(low.integer),
            fraction_part(
                Some(low.fraction.as_slice()),
                Some(high.fraction.as_slice()),
                places,
            ),
        ]);
    }
    let mut alternatives = vec![Expr::sequence([
        whole(low.integer),
        fraction_part(Some(low.fraction.as_slice()), None, places),
    ])];
    if low.integer + 1 < high.integer {
        alternatives.push(Expr::sequence([
            unsigned_range(low.integer + 1, high.integer - 1),
            fraction_part(None, None, places),
        ]));
    }
    alternatives.push(Expr::sequence([
        whole(high.integer),
        fraction_part(None, Some(high.fraction.as_slice()), places),
    ]));
    Expr::choice(alternatives)
}

/// `.` and fraction digits between `low` and `high` (as digits after the point), optional when
/// a whole number fits.
fn fraction_part(low: Option<&[u8]>, high: Option<&[u8]>, places: usize) -> Expr {
    let Some(digits) = fraction_digits(low, high, places, true) else {
        return Expr::empty();
    };
    let part = Expr::sequence([Expr::text("."), digits]);
    if low.is_none_or(|low| low.iter().all(|d| *d == b'0')) {
        part.optional()
    } else {
        part
    }
}

/// Digit strings `d` of at most `places` digits (at least one when `required`) with
/// `0.low <= 0.d <= 0.high`; `None` bounds are open. `None` when no string fits.
fn fraction_digits(
    low: Option<&[u8]>,
    high: Option<&[u8]>,
    places: usize,
    required: bool,
) -> Option<Expr> {
    let low = low.filter(|low| low.iter().any(|d| *d != b'0'));
    let may_stop = !required && low.is_none();
    let more = if places == 0 {
        None
    } else if low.is_none() && high.is_none() {
        Some(Expr::repeat(Expr::digit(), 1, places as u64))
    } else if low.is_none() && high.is_some_and(|high| high.iter().all(|d| *d == b'0')) {
        // Only zeros are left: `1.000` for a bound of 1.
        Some(Expr::repeat(Expr::text("0"), 1, places as u64))
    } else {
        let rest = |digits: &'_ [u8]| -> Vec<u8> { digits.get(1..).unwrap_or(&[]).to_vec() };
        let low_digit = low.map(|low| low[0]);
        let high_digit = high.map(|high| high.first().copied().unwrap_or(b'0'));
        let mut alternatives = Vec::new();
        let mut tight = |digit: u8, low: Option<Vec<u8>>, high: Option<Vec<u8>>| {
            if let Some(after) = fraction_digits(low.as_deref(), high.as_deref(), places - 1, false)
            {
                alternatives.push(Expr::sequence([Expr::text(char::from(digit)), after]));
            }
        };
        // A lower bound with one digit left (`0.5`) is met by that digit whatever follows.
        let low_ends_here = low.is_some_and(|low| low.len() == 1);
        match (low_digit, high_digit) {
            (Some(l), Some(h)) if l == h => {
                tight(l, low.map(rest), high.map(rest));
            }
            (l, h) => {
                if let Some(l) = l.filter(|_| !low_ends_here) {
                    tight(l, low.map(rest), None);
                }
                if let Some(h) = h.filter(|h| l.is_none_or(|l| *h > l)) {
                    tight(h, None, high.map(rest));
                }
            }
        }
        let free_low = match low_digit {
            Some(l) if low_ends_here => l,
            Some(l) => l + 1,
            None => b'0',
        };
        let free_high = match high_digit {
            Some(b'0') => None,
            Some(h) => Some(h - 1),
            None => Some(b'9'),
        };
        if let Some(free_high) = free_high.filter(|h| *h >= free_low) {
            alternatives.push(Expr::sequence([
                Expr::digits_between(free_low, free_high),
                Expr::repeat(Expr::digit(), 0, places as u64 - 1),
            ]));
        }
        (!alternatives.is_empty()).then(|| Expr::choice(alternatives))
    };
    match (may_stop, more) {
        (true, Some(more)) => Some(more.optional()),
        (false, Some(more)) => Some(more),
        (true, None) => Some(Expr::empty()),
        (false, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    /// The expression as an anchored regular expression, to check the languages of numbers.
    fn regex_of(expr: &Expr) -> Regex {
        fn write(expr: &Expr, out: &mut String) {
            match expr {
                Expr::Text(text) => out.push_str(&regex::escape(text)),
                Expr::Class { negated, ranges } => {
                    out.push('[');
                    if *negated {
                        out.push('^');
                    }
                    for (low, high) in ranges {
                        out.push_str(&format!(
                            "\\x{{{:x}}}-\\x{{{:x}}}",
                            *low as u32, *high as u32
                        ));
                    }
                    out.push(']');
                }
                Expr::Rule(name) => panic!("rule {name} in a number"),
                Expr::Sequence(items) => {
                    out.push_str("(?:");
                    for item in items {
                        write(item, out);
                    }
                    out.push(')');
                }
                Expr::Choice(alternatives) => {
                    out.push_str("(?:");
                    for (index, alternative) in alternatives.iter().enumerate() {
                        if index > 0 {
                            out.push('|');
                        }
                        write(alternative, out);
                    }
                    out.push(')');
                }
                Expr::Repeat { item, min, max } => {
                    out.push_str("(?:");
                    write(item, out);
                    out.push_str(&format!("){{{min},{max}}}"));
                }
            }
        }
        let mut pattern = String::from("^(?:");
        write(expr, &mut pattern);
        pattern.push_str(")$");
        Regex::new(&pattern).expect("a valid regex")
    }

    #[test]
    fn integer_ranges_are_exact() {
        let bounds = [
            (0, 0),
            (1, 5),
            (0, 100),
            (-12, 7),
            (-250, -3),
            (3, 3),
            (-1, 0),
            (17, 1234),
            (-1000, 999),
            (99, 101),
        ];
        for (low, high) in bounds {
            let regex = regex_of(&integer(Some(low), Some(high)));
            for n in (low - 1200)..=(high + 1200) {
                assert_eq!(
                    regex.is_match(&n.to_string()),
                    (low..=high).contains(&n),
                    "{n} in {low}..={high}: {regex}"
                );
            }
            for written in ["-0", "007", "+1", "1.0", ""] {
                assert!(
                    !regex.is_match(written),
                    "{written:?} matches {low}..={high}"
                );
            }
        }
    }

    #[test]
    fn open_integer_sides_stay_within_an_i64() {
        let regex = regex_of(&integer(Some(1900), None));
        assert!(regex.is_match("1900"));
        assert!(regex.is_match("999999999999999999"));
        assert!(!regex.is_match("1899"));
        assert!(!regex.is_match("1000000000000000000"));
        let regex = regex_of(&integer(None, Some(0)));
        assert!(regex.is_match("-999999999999999999"));
        assert!(regex.is_match("0"));
        assert!(!regex.is_match("1"));
        let regex = regex_of(&integer(None, None));
        assert!(regex.is_match("-12"));
        assert!(!regex.is_match("-0"));
        assert!(!regex.is_match("01"));
    }

    /// Every canonical decimal with up to three fraction digits from -30 to 30 matches exactly
    /// when its value is within the bounds; non-canonical spellings never match.
    #[test]
    fn float_ranges_are_exact() {
        let bounds = [
            (Some(0.0), Some(1.0)),
            (Some(0.5), Some(1.0)),
            (Some(0.0), Some(0.25)),
            (Some(-1.0), Some(1.5)),
            (Some(-273.15), None),
            (Some(1.0), Some(5.0)),
            (Some(-2.5), Some(-0.125)),
            (Some(0.1), Some(0.3)),
            (Some(2.0), Some(2.0)),
            (None, Some(-3.5)),
            (Some(0.05), Some(0.95)),
            (Some(-20.0), Some(10.0)),
        ];
        let mut samples: Vec<(String, f64)> = Vec::new();
        for thousandths in -30_000..=30_000_i64 {
            let value = thousandths as f64 / 1000.0;
            let sign = if thousandths < 0 { "-" } else { "" };
            let whole = (thousandths / 1000).abs();
            let fraction = (thousandths % 1000).abs();
            let mut spellings = vec![format!("{sign}{whole}.{fraction:03}")];
            let trimmed = format!("{fraction:03}").trim_end_matches('0').to_owned();
            if trimmed.is_empty() {
                spellings.push(format!("{sign}{whole}"));
                spellings.push(format!("{sign}{whole}.0"));
            } else {
                spellings.push(format!("{sign}{whole}.{trimmed}"));
            }
            samples.extend(spellings.into_iter().map(|spelling| (spelling, value)));
        }
        for (min, max) in bounds {
            let regex = regex_of(&float(min, max));
            for (spelling, value) in &samples {
                let within =
                    min.is_none_or(|low| *value >= low) && max.is_none_or(|high| *value <= high);
                assert_eq!(
                    regex.is_match(spelling),
                    within,
                    "{spelling} in {min:?}..={max:?}: {regex}"
                );
            }
            for spelling in [
                "-0",
                "-0.0",
                "1.",
                ".5",
                "01.5",
                "1e3",
                "+1",
                "0.0000001",
                "",
            ] {
                assert!(
                    !regex.is_match(spelling),
                    "{spelling} matches {min:?}..={max:?}"
                );
            }
        }
    }

    #[test]
    fn probability_defaults_to_zero_to_one() {
        let regex = regex_of(&float(Some(0.0), Some(1.0)));
        for written in ["0", "1", "0.5", "0.999999", "1.0", "1.000000", "0.000001"] {
            assert!(regex.is_match(written), "{written}");
        }
        for written in ["1.000001", "1.5", "-0.1", "2", "0.0000001"] {
            assert!(!regex.is_match(written), "{written}");
        }
    }

    #[test]
    fn long_repetitions_are_chunked() {
        let document = Document::default();
        let mut builder = Builder::new(AdapterKind::Json, &document);
        let expr = builder.repeat("run", Expr::text("a"), 1500, 4321);
        let mut text = String::new();
        render_expr(&expr, &mut text, Level::Body);
        assert_eq!(
            text,
            "run-chunk \"a\"{500,999} | run-chunk{2,3} \"a\"{0,999} | run-chunk{4} \"a\"{0,321}"
        );
    }

    #[test]
    fn rule_names_are_gbnf_identifiers_without_collisions() {
        let document = Document::default();
        let mut builder = Builder::new(AdapterKind::Chat, &document);
        let names: Vec<String> = ["prénom", "名前", "поле", "Person", "root", "a_b", "a-b"]
            .iter()
            .map(|hint| builder.fresh_name(hint))
            .collect();
        assert_eq!(
            names,
            ["pr-nom", "value", "value-2", "person", "root-2", "a-b", "a-b-2"]
        );
    }
}
