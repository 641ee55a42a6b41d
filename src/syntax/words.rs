//! Syntax errors in words a user knows: grammar rules named as what they stand for, the token
//! that was found, and hints for the mistakes people make most.

use super::parser::{token_at, Rule};
use crate::diagnostic::{Diagnostic, Span};

/// What a grammar rule stands for, and its place in the "expected ..." list (lower first).
fn describe(rule: Rule) -> Option<(u8, &'static str)> {
    Some(match rule {
        Rule::ident => (0, "a name"),
        Rule::field | Rule::field_entry | Rule::field_line_entry => (1, "a field"),
        Rule::variant | Rule::variant_entry => (1, "an enum variant"),
        Rule::type_expr | Rule::named_type | Rule::literal_union => (2, "a type"),
        Rule::value => (3, "a value"),
        Rule::argument | Rule::named_argument => (3, "an argument"),
        Rule::number => (3, "a number"),
        Rule::description => (4, "a description string"),
        Rule::string => (4, "a quoted string"),
        Rule::constraints => (5, "constraints such as `(max: 5)`"),
        Rule::constraint => (5, "a constraint such as `max: 5`"),
        Rule::question => (6, "`?`"),
        Rule::colon => (7, "`:`"),
        Rule::equals => (7, "`=`"),
        Rule::lbrace => (7, "`{`"),
        Rule::lbracket => (7, "`[`"),
        Rule::lparen => (7, "`(`"),
        Rule::pipe => (8, "`|`"),
        Rule::comma => (9, "`,`"),
        Rule::new_line => (10, "a new line"),
        Rule::arrow => (11, "`->`"),
        Rule::rbracket => (12, "`]`"),
        Rule::rparen => (12, "`)`"),
        Rule::rbrace => (12, "`}`"),
        Rule::docs | Rule::doc_line => (13, "a `///` doc line"),
        Rule::kw_signature => (14, "`signature`"),
        Rule::kw_type => (14, "`type`"),
        Rule::kw_enum => (14, "`enum`"),
        Rule::kw_program => (14, "`program`"),
        // Items end at a line end (`line_end` looks for a line break or the end of the file).
        Rule::EOI => (15, "the end of the line"),
        _ => return None,
    })
}

/// "`x`", "the end of the line" or "the end of the file" for what stands at `at`.
pub(crate) fn describe_found(source: &str, at: usize) -> String {
    let token = token_at(source, at);
    match token {
        "" => "the end of the file".to_string(),
        "\n" | "\r" => "the end of the line".to_string(),
        token => match token.chars().next() {
            Some(c) if c.is_control() => {
                format!("the control character U+{:04X}", u32::from(c))
            }
            _ => format!("`{token}`"),
        },
    }
}

/// Joins phrases as "a, b or c".
fn one_of(phrases: &[&str]) -> String {
    match phrases {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The diagnostic for a pest failure at `at`, where `expected` are the rules that could have
/// matched there.
pub(crate) fn syntax_error(source: &str, at: usize, expected: &[Rule]) -> Diagnostic {
    let mut phrases: Vec<(u8, &str)> = expected.iter().filter_map(|&r| describe(r)).collect();
    // A string among other things is a field's or variant's description.
    if expected.len() > 1 {
        for phrase in &mut phrases {
            if phrase.1 == "a quoted string" {
                phrase.1 = "a description string";
            }
        }
    }
    phrases.sort();
    phrases.dedup();
    // `[` is only worth naming when nothing else fits: after a type it is almost never meant.
    if phrases.len() > 1 {
        phrases.retain(|&(_, p)| p != "`[`");
    }
    let phrases: Vec<&str> = phrases.into_iter().map(|(_, p)| p).collect();
    let found = describe_found(source, at);
    let token = token_at(source, at);
    let message = if phrases.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", one_of(&phrases))
    };
    let label = if phrases.is_empty() {
        "unexpected".to_string()
    } else {
        format!("expected {}", one_of(&phrases))
    };
    let span = Span::new(at, at + token.len());
    let mut diagnostic = Diagnostic::error("E0100", message, span).with_label(label);
    if let Some(help) = hint(source, at, token, expected) {
        diagnostic = diagnostic.with_help(help);
    }
    diagnostic
}

/// A hint for the common mistakes that end up as syntax errors.
fn hint(source: &str, at: usize, token: &str, expected: &[Rule]) -> Option<String> {
    let expects = |rule| expected.contains(&rule);
    let before = source[..at].trim_end_matches([' ', '\t']);
    let starts_control = token.chars().next().is_some_and(char::is_control);
    Some(match token {
        _ if starts_control && !matches!(token, "\n" | "\r" | "\t") => {
            "remove the control character; `.sig` files are plain text".to_string()
        }
        _ if expected == [Rule::colon] && inside_parentheses(before) => {
            "a constraint is written as a name, `:` and a value, such as `max: 3`".to_string()
        }
        ":" if before.ends_with('"') => {
            "the description goes after the type: `name: string \"...\"`".to_string()
        }
        "-" if before.ends_with(|c: char| c.is_alphanumeric()) => {
            "names are snake_case: use `_` instead of `-`".to_string()
        }
        _ if token.starts_with(|c: char| c.is_ascii_digit()) && expects(Rule::ident) => {
            if before.ends_with('(') || before.ends_with(',') && expects(Rule::rparen) {
                "constraints are named: `(max: 40)`".to_string()
            } else {
                "names start with a letter or `_`, not a digit".to_string()
            }
        }
        "|" if !before.ends_with('"') => {
            "a union lists quoted literals (`\"a\" | \"b\"`); for values of different types use `json` or a `type` with optional fields".to_string()
        }
        "]" if expects(Rule::type_expr) => {
            "write the element type in the brackets: `list[string]`".to_string()
        }
        ")" | "," if expects(Rule::value) => {
            "give the constraint a value, such as `max: 5`".to_string()
        }
        ":" if expects(Rule::rbrace) && !expects(Rule::colon) && !expects(Rule::arrow) => {
            "enum variants are plain names, each with an optional description; they have no type"
                .to_string()
        }
        _ if expects(Rule::equals) || (expects(Rule::ident) && before.ends_with("program")) => {
            "a program is declared as `program name = module(Signature)`".to_string()
        }
        _ if expects(Rule::lparen) && !expects(Rule::comma) && first_is_word(token) => {
            "the signature goes in parentheses: `module(Signature)`".to_string()
        }
        ";" => "fields are separated by `,` or new lines".to_string(),
        "<" => "type arguments go in square brackets: `list[string]`".to_string(),
        "{" if before.ends_with("signature") || !before.contains('{') => {
            "a block signature needs a name: `signature Name { ... }`".to_string()
        }
        "=" if expects(Rule::colon) || expects(Rule::arrow) => {
            "a field's type follows a colon: `name: string`".to_string()
        }
        "" | "\n" | "\r" if expects(Rule::type_expr) || expects(Rule::named_type) => {
            "write a type after the colon, such as `string`, or remove the colon".to_string()
        }
        "" | "\n" | "\r" if expects(Rule::rbracket) => {
            "close the type argument list with `]`".to_string()
        }
        "" | "\n" | "\r" if expects(Rule::rparen) => {
            "close the parentheses with `)`; strings and lists stay on one line".to_string()
        }
        "" | "\n" | "\r" if before.ends_with('|') => {
            "a literal union lists quoted strings: `\"a\" | \"b\"`; remove the last `|`".to_string()
        }
        _ if expects(Rule::colon) && expects(Rule::comma) && first_is_word(token) => {
            "separate fields with `,` or a new line, and put `:` between a field and its type"
                .to_string()
        }
        _ if expects(Rule::rbrace) && first_is_word(token) => {
            "separate fields with `,` or a new line".to_string()
        }
        _ if expects(Rule::comma) && first_is_word(token) => {
            "separate fields with `,`; a new line ends a one-line signature".to_string()
        }
        _ if first_is_word(token) && phrases_end_line(expected) => {
            "put each item on its own line; comments start with `#`".to_string()
        }
        _ => return None,
    })
}

/// Whether `before` ends inside an unclosed `(` on its line (a constraint list).
fn inside_parentheses(before: &str) -> bool {
    let line = before.rsplit('\n').next().unwrap_or(before);
    line.rfind('(')
        .is_some_and(|open| !line[open..].contains(')'))
}

/// Whether only the end of the line (or the end of the file) was expected.
fn phrases_end_line(expected: &[Rule]) -> bool {
    expected.iter().all(|r| *r == Rule::EOI)
}

fn first_is_word(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// The item keyword a mistyped or foreign word most likely means, for "did you mean".
pub(crate) fn keyword_for(word: &str) -> Option<&'static str> {
    let lower = word.to_lowercase();
    let known = match lower.as_str() {
        "struct" | "class" | "record" | "interface" | "model" | "schema" | "types" => "type",
        "enumeration" | "enums" | "union" | "choice" => "enum",
        "sig" | "signatures" | "defsignature" => "signature",
        "programs" | "module" | "let" | "def" | "fn" => "program",
        other => {
            return ["signature", "type", "enum", "program"]
                .into_iter()
                .find(|k| strsim::damerau_levenshtein(other, k) <= 2.min(k.len() / 3 + 1));
        }
    };
    Some(known)
}
