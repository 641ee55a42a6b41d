//! String literal escapes: `\"`, `\\`, `\n`, `\t` and `\u{...}`. Any other backslash is kept as
//! written, so `"^\d{3}$"` means the regular expression `^\d{3}$`.

/// A bad `\u{...}` escape: where it is within the raw text, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscapeError {
    /// Byte offset of the backslash within the raw text.
    pub offset: usize,
    /// Byte length of the escape as written.
    pub len: usize,
    pub message: String,
}

/// Processes the escapes of the text between a string's quotes.
pub fn unescape(raw: &str) -> Result<String, EscapeError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw.char_indices().peekable();
    while let Some((offset, c)) = rest.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match rest.peek().map(|&(_, next)| next) {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let (value, len) =
                    unicode_escape(&raw[offset..]).map_err(|(len, message)| EscapeError {
                        offset,
                        len,
                        message,
                    })?;
                out.push(value);
                // Skip the rest of the escape: `u{...}` after the backslash.
                while rest.peek().is_some_and(|&(i, _)| i < offset + len) {
                    rest.next();
                }
                continue;
            }
            _ => {
                out.push('\\');
                continue;
            }
        }
        rest.next();
    }
    Ok(out)
}

/// Reads `\u{XXXX}` at the start of `text`: the character and the escape's byte length, or the
/// length to underline and what is wrong.
fn unicode_escape(text: &str) -> Result<(char, usize), (usize, String)> {
    let Some(body) = text.strip_prefix("\\u{") else {
        return Err((
            2,
            "`\\u` must be followed by `{`, as in `\\u{e9}`".to_string(),
        ));
    };
    let Some(close) = body.find('}') else {
        return Err((
            text.len(),
            "unclosed unicode escape: expected `}`".to_string(),
        ));
    };
    let digits = &body[..close];
    let len = 3 + close + 1;
    if digits.is_empty() || digits.len() > 6 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err((len, format!("`{digits}` is not 1 to 6 hexadecimal digits")));
    }
    let code = u32::from_str_radix(digits, 16).map_err(|_| (len, "bad hex".to_string()))?;
    char::from_u32(code)
        .map(|c| (c, len))
        .ok_or_else(|| (len, format!("`{digits}` is not a Unicode scalar value")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_escapes_are_processed() {
        assert_eq!(unescape(r#"a\"b\\c\nd\te"#).unwrap(), "a\"b\\c\nd\te");
        assert_eq!(unescape(r"caf\u{e9}").unwrap(), "café");
    }

    #[test]
    fn other_backslashes_are_kept() {
        assert_eq!(unescape(r"^\d{3}$").unwrap(), r"^\d{3}$");
        assert_eq!(unescape(r"trailing\").unwrap(), r"trailing\");
    }

    #[test]
    fn bad_unicode_escapes_are_errors() {
        let error = unescape(r"x\u{zz}y").unwrap_err();
        assert_eq!((error.offset, error.len), (1, 6));
        assert!(unescape(r"\u{110000}").is_err());
        assert!(unescape(r"\u{d800}").is_err());
        assert!(unescape(r"\u41").is_err());
        assert!(unescape(r"\u{41").is_err());
    }
}
