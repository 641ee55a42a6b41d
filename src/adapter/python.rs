//! Python's text semantics where DSPy's prompts depend on them: `str.strip`, `splitlines`,
//! `textwrap.dedent`, `inspect.cleandoc`, `str.title`, `str()`/`repr()` of JSON-like values and
//! `json.dumps(..., ensure_ascii=False)`. Byte-identical prompts need these exact rules, not
//! Rust's nearest equivalents.

use serde_json::Value;

use crate::codegen::python::float_repr;

/// `str.isspace()` for one character: Unicode White_Space plus the separators `\x1c`-`\x1f`.
pub fn is_space(character: char) -> bool {
    character.is_whitespace() || ('\x1c'..='\x1f').contains(&character)
}

/// `str.strip()`.
pub fn strip(text: &str) -> &str {
    text.trim_matches(is_space)
}

/// `str.lstrip()`.
pub fn lstrip(text: &str) -> &str {
    text.trim_start_matches(is_space)
}

/// Whether `str.splitlines()` breaks a line at `character`.
fn is_line_break(character: char) -> bool {
    matches!(
        character,
        '\n' | '\r'
            | '\x0b'
            | '\x0c'
            | '\x1c'
            | '\x1d'
            | '\x1e'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// `str.splitlines()` without `keepends`: `\r\n` is one break; no trailing empty line.
pub fn splitlines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut characters = text.char_indices().peekable();
    while let Some((index, character)) = characters.next() {
        if is_line_break(character) {
            lines.push(&text[start..index]);
            let mut end = index + character.len_utf8();
            if character == '\r' {
                if let Some((_, '\n')) = characters.peek() {
                    characters.next();
                    end += 1;
                }
            }
            start = end;
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// `textwrap.dedent`: lines of only spaces and tabs become empty, then the longest common
/// leading run of spaces and tabs of the other lines is removed.
pub fn dedent(text: &str) -> String {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|line| {
            if !line.is_empty() && line.chars().all(|c| c == ' ' || c == '\t') {
                ""
            } else {
                line
            }
        })
        .collect();
    let mut margin: Option<&str> = None;
    for line in &lines {
        let indent_len = line.len() - line.trim_start_matches([' ', '\t']).len();
        if indent_len == line.len() {
            continue; // Empty (whitespace-only lines were emptied above).
        }
        let indent = &line[..indent_len];
        margin = Some(match margin {
            None => indent,
            Some(current) if indent.starts_with(current) => current,
            Some(current) if current.starts_with(indent) => indent,
            Some(current) => {
                let common = current
                    .bytes()
                    .zip(indent.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                &current[..common]
            }
        });
    }
    let margin = margin.unwrap_or("");
    lines
        .iter()
        .map(|line| line.strip_prefix(margin).unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `str.expandtabs()` with tab size 8: columns restart after `\n` and `\r`.
pub fn expand_tabs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut column = 0;
    for character in text.chars() {
        match character {
            '\t' => {
                let spaces = 8 - column % 8;
                out.extend(std::iter::repeat_n(' ', spaces));
                column += spaces;
            }
            '\n' | '\r' => {
                out.push(character);
                column = 0;
            }
            other => {
                out.push(other);
                column += 1;
            }
        }
    }
    out
}

/// `inspect.cleandoc` (Python 3.11): tabs expanded, the first line's leading whitespace and
/// the common indentation of the other lines removed, blank lines at both ends dropped.
pub fn cleandoc(doc: &str) -> String {
    let expanded = expand_tabs(doc);
    let mut lines: Vec<&str> = expanded.split('\n').collect();
    let margin = lines
        .iter()
        .skip(1)
        .filter(|line| !lstrip(line).is_empty())
        .map(|line| line.chars().count() - lstrip(line).chars().count())
        .min();
    let mut owned: Vec<String> = Vec::with_capacity(lines.len());
    if let Some(first) = lines.first() {
        owned.push(lstrip(first).to_owned());
    }
    for line in lines.drain(..).skip(1) {
        owned.push(match margin {
            Some(margin) => line.chars().skip(margin).collect(),
            None => line.to_owned(),
        });
    }
    while owned.last().is_some_and(String::is_empty) {
        owned.pop();
    }
    let leading = owned.iter().take_while(|line| line.is_empty()).count();
    owned.drain(..leading);
    owned.join("\n")
}

/// `str.title()`: a cased character after an uncased one goes to upper case, every other
/// cased character to lower case.
pub fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous_cased = false;
    for character in text.chars() {
        let cased = character.is_lowercase() || character.is_uppercase();
        if cased && !previous_cased {
            out.extend(character.to_uppercase());
        } else if cased {
            out.extend(character.to_lowercase());
        } else {
            out.push(character);
        }
        previous_cased = cased;
    }
    out
}

/// `str(x)` of a JSON number as Python's `json.loads` would have produced it.
fn number_text(number: &serde_json::Number) -> String {
    if number.is_f64() {
        number.as_f64().map(float_repr).unwrap_or_default()
    } else {
        number.to_string()
    }
}

/// `str(value)` for a scalar: strings as they are, `True`/`False`/`None`, numbers as Python
/// prints them; lists and objects as `repr`.
pub fn str_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => repr(other),
    }
}

/// `repr(value)` of the Python value `json.loads` gives for `value`.
pub fn repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, value);
    out
}

fn write_repr(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(number) => out.push_str(&number_text(number)),
        Value::String(text) => write_string_repr(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_repr(out, item);
            }
            out.push(']');
        }
        Value::Object(entries) => {
            out.push('{');
            for (index, (key, item)) in entries.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_string_repr(out, key);
                out.push_str(": ");
                write_repr(out, item);
            }
            out.push('}');
        }
    }
}

/// `repr(str)`: single quotes unless the text has a single quote and no double quote.
fn write_string_repr(out: &mut String, text: &str) {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for character in text.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c => {
                let code = c as u32;
                if code < 0x100 {
                    out.push_str(&format!("\\x{code:02x}"));
                } else if code < 0x10000 {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
        }
    }
    out.push(quote);
}

/// Close to `str.isprintable()`: control, format, separator (other than space), private-use
/// and unassigned characters are not printable.
fn is_printable(character: char) -> bool {
    if character == ' ' {
        return true;
    }
    !(character.is_control()
        || character.is_whitespace()
        || matches!(character as u32, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e
            | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff
            | 0xfff9..=0xfffb | 0xe000..=0xf8ff | 0xd800..=0xdfff))
}

/// `json.dumps(value, ensure_ascii=False)`: `", "` and `": "` separators, floats as Python
/// prints them, strings escaped as Python's encoder does.
pub fn json_dumps(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value);
    out
}

fn write_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => {
            let text = number_text(number);
            // Python's encoder writes non-finite floats as these names.
            out.push_str(match text.as_str() {
                "inf" => "Infinity",
                "-inf" => "-Infinity",
                "nan" => "NaN",
                _ => &text,
            });
        }
        Value::String(text) => write_json_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Object(entries) => {
            out.push('{');
            for (index, (key, item)) in entries.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_json_string(out, key);
                out.push_str(": ");
                write_json(out, item);
            }
            out.push('}');
        }
    }
}

/// A JSON string as Python's `json` encoder writes it with `ensure_ascii=False`.
fn write_json_string(out: &mut String, text: &str) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splitlines_like_python() {
        assert_eq!(splitlines("a\r\nb\rc\n"), ["a", "b", "c"]);
        assert_eq!(splitlines("a\n\nb"), ["a", "", "b"]);
        assert_eq!(splitlines("a\u{2028}b\x1cc"), ["a", "b", "c"]);
        assert!(splitlines("").is_empty());
    }

    #[test]
    fn dedent_like_textwrap() {
        assert_eq!(dedent("  a\n    b\n  \n  c"), "a\n  b\n\nc");
        assert_eq!(dedent("\ta\n  b"), "\ta\n  b");
        assert_eq!(dedent("a\n  b"), "a\n  b");
    }

    #[test]
    fn cleandoc_like_inspect() {
        assert_eq!(cleandoc("  a\n    b\n      c\n\n"), "a\nb\n  c");
        assert_eq!(cleandoc("\n\n x"), "x");
        assert_eq!(cleandoc("a\tb"), "a       b");
    }

    #[test]
    fn title_like_python() {
        assert_eq!(title("first_name"), "First_Name");
        assert_eq!(title("a1b straße"), "A1B Straße");
    }

    #[test]
    fn json_and_repr_like_python() {
        let value = json!({"a": [1, 2.0, 1e-7, "x\"y", null, true], "é": "\u{1}"});
        assert_eq!(
            json_dumps(&value),
            r#"{"a": [1, 2.0, 1e-07, "x\"y", null, true], "é": "\u0001"}"#
        );
        assert_eq!(
            repr(&value),
            r#"{'a': [1, 2.0, 1e-07, 'x"y', None, True], 'é': '\x01'}"#
        );
        assert_eq!(repr(&json!("it's")), r#""it's""#);
        assert_eq!(str_of(&json!(0.5)), "0.5");
    }
}
