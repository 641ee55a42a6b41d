//! Reading scalar values and lists out of the free text an LM writes in a field's section:
//! numbers with thousands separators, currency signs or a percent sign, yes/no booleans,
//! bulleted and numbered lists, `key: value` lines, markdown fences and decoration.

/// A markdown code fence around `text`, if the whole (trimmed) text is one: returns what is
/// inside. A fence the reply never closed counts, since a cut-off reply still opened it.
pub(crate) fn unfence(text: &str) -> Option<&str> {
    let trimmed = text.trim();
    let after_ticks = trimmed.strip_prefix("```")?;
    let (info, body) = after_ticks.split_once('\n').unwrap_or((after_ticks, ""));
    if info.contains("```") {
        // ```0.9``` on one line.
        return info.strip_suffix("```").map(str::trim);
    }
    if !info
        .trim()
        .chars()
        .all(|c| c.is_alphanumeric() || "-_+.".contains(c))
    {
        return None;
    }
    let body = body.trim_end();
    Some(body.strip_suffix("```").unwrap_or(body).trim())
}

/// The fenced blocks of `text` (```` ``` ```` or ```` ```json ````), in order: their contents and
/// whether each was closed.
pub(crate) fn fenced_blocks(text: &str) -> Vec<(&str, bool)> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let Some(line_end) = after.find('\n') else {
            break;
        };
        let body = &after[line_end + 1..];
        match body.find("```") {
            Some(close) => {
                blocks.push((&body[..close], true));
                rest = &body[close + 3..];
            }
            None => {
                blocks.push((body, false));
                break;
            }
        }
    }
    blocks
}

/// `text` without markup that wraps a whole value: surrounding quotes, backticks, `**bold**`,
/// `_italics_`, and one trailing `.`, `!` or `;`. Returns the bare text and whether anything
/// was removed.
pub(crate) fn undecorate(text: &str) -> (&str, bool) {
    let mut current = text.trim();
    let original = current;
    for _ in 0..4 {
        let before = current;
        for (open, close) in [
            ("**", "**"),
            ("__", "__"),
            ("`", "`"),
            ("\"", "\""),
            ("'", "'"),
            ("“", "”"),
            ("‘", "’"),
            ("«", "»"),
            ("*", "*"),
            ("_", "_"),
        ] {
            if current.len() > open.len() + close.len() {
                if let Some(inner) = current
                    .strip_prefix(open)
                    .and_then(|rest| rest.strip_suffix(close))
                {
                    current = inner.trim();
                }
            }
        }
        if let Some(inner) = current.strip_suffix(['.', '!', ';']) {
            if !inner.ends_with(['.', '!', ';']) {
                current = inner.trim_end();
            }
        }
        if current == before {
            break;
        }
    }
    (current, current != original)
}

/// A number read from text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NumberText {
    pub value: f64,
    /// Set when the text is a whole number that fits an `i64`, written without a fraction.
    pub integer: Option<i64>,
    /// Written with a `%` sign; `value` is the number before it (87 for `87%`).
    pub percent: bool,
    /// Whether the text was a plain JSON number (nothing had to be removed or converted).
    pub plain: bool,
}

/// Reads a number from text written by an LM: `0.87`, `0.87.`, `1,234`, `$12`, `12 €`, `87%`,
/// `−3`, `**3**`. Anything else (words, ranges, `~0.9`, `1,5`, `NaN`) is not a number.
pub(crate) fn read_number(text: &str) -> Option<NumberText> {
    let trimmed = text.trim();
    let (bare, decorated) = undecorate(trimmed);
    let mut written = bare.replace('−', "-");
    let mut plain = !decorated && written == trimmed;
    let percent = if let Some(before) = written.strip_suffix('%') {
        written = before.trim_end().to_owned();
        plain = false;
        true
    } else {
        false
    };
    let (sign, unsigned) = match written.strip_prefix(['-', '+']) {
        Some(rest) => (&written[..1], rest.trim_start()),
        None => ("", written.as_str()),
    };
    let mut unsigned = unsigned.to_owned();
    for symbol in ['$', '€', '£', '¥'] {
        if let Some(rest) = unsigned.strip_prefix(symbol) {
            unsigned = rest.trim_start().to_owned();
            plain = false;
        } else if let Some(rest) = unsigned.strip_suffix(symbol) {
            unsigned = rest.trim_end().to_owned();
            plain = false;
        }
    }
    if let Some(integer) = radix_integer(&unsigned) {
        let integer = if sign == "-" {
            integer.checked_neg()?
        } else {
            integer
        };
        return Some(NumberText {
            value: integer as f64,
            integer: Some(integer),
            percent,
            plain: false,
        });
    }
    if unsigned.contains('_') {
        // Python's `3_000`: single underscores between digits.
        let bytes = unsigned.as_bytes();
        let between_digits = bytes.iter().enumerate().all(|(index, byte)| {
            *byte != b'_'
                || (index > 0
                    && bytes[index - 1].is_ascii_digit()
                    && bytes.get(index + 1).is_some_and(u8::is_ascii_digit))
        });
        if !between_digits {
            return None;
        }
        unsigned = unsigned.replace('_', "");
        plain = false;
    }
    if unsigned.contains(',') {
        if !has_thousands_separators(&unsigned) {
            return None;
        }
        unsigned = unsigned.replace(',', "");
        plain = false;
    }
    if !is_decimal(&unsigned) {
        return None;
    }
    if unsigned.starts_with('.') || unsigned.ends_with('.') || sign == "+" {
        plain = false;
    }
    let number = format!("{sign}{}", unsigned.trim_end_matches('.'));
    let value: f64 = number.parse().ok().filter(|v: &f64| v.is_finite())?;
    let integer = if number.contains(['.', 'e', 'E']) {
        None
    } else {
        number.parse::<i64>().ok()
    };
    Some(NumberText {
        value,
        integer,
        percent,
        plain,
    })
}

/// `0x1F`, `0o17`, `0b101`: integers in the bases Python writes.
fn radix_integer(text: &str) -> Option<i64> {
    let (radix, digits) = match text.get(..2)?.to_ascii_lowercase().as_str() {
        "0x" => (16, &text[2..]),
        "0o" => (8, &text[2..]),
        "0b" => (2, &text[2..]),
        _ => return None,
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    i64::from_str_radix(digits, radix).ok()
}

/// `1,234` or `12,345,678.5`: commas every three digits before the decimal point.
fn has_thousands_separators(text: &str) -> bool {
    let whole = text.split('.').next().unwrap_or(text);
    let mut groups = whole.split(',');
    let first = groups.next().unwrap_or("");
    if first.is_empty() || first.len() > 3 || !first.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let mut count = 0;
    for group in groups {
        if group.len() != 3 || !group.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
        count += 1;
    }
    count > 0 && !text.split('.').nth(1).is_some_and(|f| f.contains(','))
}

/// Digits with at most one `.` and an optional exponent; no sign.
fn is_decimal(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let digits = mantissa.chars().filter(char::is_ascii_digit).count();
    let dots = mantissa.chars().filter(|c| *c == '.').count();
    let mantissa_ok = digits > 0 && dots <= 1 && digits + dots == mantissa.chars().count();
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

/// A boolean written as a word: `true`/`false` in any case, or what pydantic's lax mode
/// accepts (`yes`, `no`, `y`, `n`, `on`, `off`, `t`, `f`, `1`, `0`). The flag says whether the
/// text was already `true`/`false`/`True`/`False`.
pub(crate) fn read_boolean(text: &str) -> Option<(bool, bool)> {
    let trimmed = text.trim();
    if matches!(trimmed, "true" | "True") {
        return Some((true, true));
    }
    if matches!(trimmed, "false" | "False") {
        return Some((false, true));
    }
    let (bare, _) = undecorate(trimmed);
    let value = match bare.to_lowercase().as_str() {
        "true" | "yes" | "y" | "on" | "t" | "1" => true,
        "false" | "no" | "n" | "off" | "f" | "0" => false,
        _ => return None,
    };
    Some((value, false))
}

/// How a reply says "nothing here" for an optional field. `None` and `null` are what DSPy and
/// JSON write; the others are read as null with a repair.
pub(crate) fn null_word(text: &str) -> Option<bool> {
    let trimmed = text.trim();
    if matches!(trimmed, "None" | "null") {
        return Some(true);
    }
    let (bare, _) = undecorate(trimmed);
    let lower = bare.to_lowercase();
    matches!(
        lower.as_str(),
        "" | "none"
            | "null"
            | "nil"
            | "n/a"
            | "na"
            | "not applicable"
            | "not available"
            | "-"
            | "—"
            | "undefined"
            | "(none)"
            | "[none]"
            | "<none>"
    )
    .then_some(false)
}

/// Text laid out as a list, one item per entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListText {
    pub items: Vec<String>,
    pub layout: ListLayout,
    /// A label line such as `Sources:` before the items was dropped.
    pub dropped_label: bool,
}

/// How the items of a text list were marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListLayout {
    /// `- a`, `* a`, `• a`.
    Bullets,
    /// `1. a`, `1) a`, `[1] a`, `(1) a`.
    Numbers,
}

impl ListLayout {
    pub(crate) fn description(self) -> &'static str {
        match self {
            ListLayout::Bullets => "a bulleted list",
            ListLayout::Numbers => "a numbered list",
        }
    }
}

/// The items of a bulleted or numbered list. Lines indented under an item continue it. `None`
/// for unmarked text (unmarked lines could as well be one item as several), or for prose mixed
/// into a list.
pub(crate) fn read_list(text: &str) -> Option<ListText> {
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut dropped_label = false;
    if lines.len() > 1 && lines[0].trim_end().ends_with(':') && list_marker(lines[0]).is_none() {
        lines.remove(0);
        dropped_label = true;
    }
    let first = *lines.first()?;
    let (layout, _) = list_marker(first)?;
    let mut items: Vec<String> = Vec::new();
    for line in lines {
        match list_marker(line) {
            Some((this_layout, item)) if this_layout == layout => {
                items.push(strip_guillemets(item).to_owned());
            }
            Some(_) => return None,
            None if line.starts_with([' ', '\t']) => {
                let last = items.last_mut()?;
                last.push('\n');
                last.push_str(line.trim());
            }
            None => return None,
        }
    }
    Some(ListText {
        items,
        layout,
        dropped_label,
    })
}

/// DSPy writes list inputs as `[1] «text»`; LMs copy it.
fn strip_guillemets(item: &str) -> &str {
    item.strip_prefix('«')
        .and_then(|rest| rest.strip_suffix('»'))
        .map(str::trim)
        .unwrap_or(item)
}

/// The marker at the start of a list line and the item text after it.
fn list_marker(line: &str) -> Option<(ListLayout, &str)> {
    let trimmed = line.trim_start();
    for bullet in ['-', '*', '•', '+', '–'] {
        if let Some(rest) = trimmed.strip_prefix(bullet) {
            if rest.starts_with([' ', '\t']) {
                return Some((ListLayout::Bullets, rest.trim()));
            }
        }
    }
    let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
    if (1..=3).contains(&digits) {
        let rest = &trimmed[digits..];
        for close in ['.', ')'] {
            if let Some(item) = rest.strip_prefix(close) {
                if item.starts_with([' ', '\t']) {
                    return Some((ListLayout::Numbers, item.trim()));
                }
            }
        }
    }
    for (open, close) in [('[', ']'), ('(', ')')] {
        if let Some(rest) = trimmed.strip_prefix(open) {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            if (1..=3).contains(&digits) {
                if let Some(item) = rest[digits..].strip_prefix(close) {
                    if item.starts_with([' ', '\t']) || item.is_empty() {
                        return Some((ListLayout::Numbers, item.trim()));
                    }
                }
            }
        }
    }
    None
}

/// `key: value` lines (optionally bulleted), as some LMs write a record or a map. `None` unless
/// every non-empty line has that shape.
pub(crate) fn read_key_value_lines(text: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let content = match list_marker(line) {
            Some((ListLayout::Bullets, item)) => item,
            _ => line.trim(),
        };
        let (key, value) = content.split_once(':')?;
        let key = key.trim().trim_matches('*').trim();
        if key.is_empty()
            || key.contains(['{', '[', '"'])
            || key.chars().filter(|c| c.is_whitespace()).count() > 3
        {
            return None;
        }
        pairs.push((key.to_owned(), value.trim().to_owned()));
    }
    (!pairs.is_empty()).then_some(pairs)
}

/// The text without a leading `label:` that repeats the field's own name (`Confidence: 0.9` in
/// the `confidence` section).
pub(crate) fn strip_own_label<'a>(text: &'a str, field_name: &str) -> Option<&'a str> {
    let trimmed = text.trim_start();
    let (label, rest) = trimmed.split_once(':')?;
    let label = label.trim().trim_matches('*').trim();
    if label.is_empty() || label.contains('\n') {
        return None;
    }
    (super::keys::normalize(label) == super::keys::normalize(field_name)).then_some(rest.trim())
}

/// A short, quoted excerpt of `text` for error messages.
pub(crate) fn excerpt(text: &str) -> String {
    const LIMIT: usize = 60;
    let trimmed = text.trim();
    let mut shown: String = trimmed.chars().take(LIMIT).collect();
    if trimmed.chars().count() > LIMIT {
        shown.push('…');
    }
    format!("{shown:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_lms_write_them() {
        let read = |text: &str| read_number(text).map(|n| (n.value, n.integer, n.percent, n.plain));
        assert_eq!(read("0.87"), Some((0.87, None, false, true)));
        assert_eq!(read(" 42 "), Some((42.0, Some(42), false, true)));
        assert_eq!(read("0.87."), Some((0.87, None, false, false)));
        assert_eq!(read("1,234"), Some((1234.0, Some(1234), false, false)));
        assert_eq!(read("1,234,567.5"), Some((1234567.5, None, false, false)));
        assert_eq!(read("$12"), Some((12.0, Some(12), false, false)));
        assert_eq!(read("-$12.50"), Some((-12.5, None, false, false)));
        assert_eq!(read("12 €"), Some((12.0, Some(12), false, false)));
        assert_eq!(read("87%"), Some((87.0, Some(87), true, false)));
        assert_eq!(read("**3**"), Some((3.0, Some(3), false, false)));
        assert_eq!(read("−3"), Some((-3.0, Some(-3), false, false)));
        assert_eq!(read("1e-3"), Some((0.001, None, false, true)));
        assert_eq!(read("3.0"), Some((3.0, None, false, true)));
        assert_eq!(read("0x10"), Some((16.0, Some(16), false, false)));
        assert_eq!(read("3_000"), Some((3000.0, Some(3000), false, false)));
        assert_eq!(read("1_000.5"), Some((1000.5, None, false, false)));
        for not_a_number in [
            "",
            "high",
            "~0.9",
            "0.8-0.9",
            "1,5",
            "1,23",
            "NaN",
            "inf",
            "0.9 (high)",
            "3/4",
            "12,34,567",
            "1.2.3",
            "e5",
            "--1",
        ] {
            assert_eq!(read(not_a_number), None, "{not_a_number}");
        }
    }

    #[test]
    fn booleans_as_words() {
        assert_eq!(read_boolean("True"), Some((true, true)));
        assert_eq!(read_boolean("false"), Some((false, true)));
        assert_eq!(read_boolean("Yes."), Some((true, false)));
        assert_eq!(read_boolean("NO"), Some((false, false)));
        assert_eq!(read_boolean("yes, because"), None);
        assert_eq!(read_boolean("maybe"), None);
    }

    #[test]
    fn lists_in_every_layout() {
        let list = read_list("- a\n- b\n  continued\n- c").expect("list");
        assert_eq!(list.items, ["a", "b\ncontinued", "c"]);
        assert_eq!(list.layout, ListLayout::Bullets);
        let list = read_list("Sources:\n1. a\n2) b\n[3] «c»").expect("list");
        assert_eq!(list.items, ["a", "b", "c"]);
        assert!(list.dropped_label);
        assert_eq!(read_list("x\ny"), None);
        assert_eq!(read_list("single"), None);
        assert_eq!(read_list("- a\nprose after"), None);
        assert_eq!(read_list("- a\n1. b"), None);
    }

    #[test]
    fn fences_around_values() {
        assert_eq!(unfence("```json\n[1, 2]\n```"), Some("[1, 2]"));
        assert_eq!(unfence("```\n0.9"), Some("0.9"));
        assert_eq!(unfence("```0.9```"), Some("0.9"));
        assert_eq!(unfence("plain"), None);
        assert_eq!(
            fenced_blocks("a ```json\n{}\n``` b ```\nx"),
            vec![("{}\n", true), ("x", false)]
        );
    }

    #[test]
    fn decoration_around_values() {
        assert_eq!(undecorate("**Positive.**"), ("Positive", true));
        assert_eq!(undecorate("'positive'"), ("positive", true));
        assert_eq!(undecorate("positive"), ("positive", false));
        assert_eq!(undecorate("..."), ("...", false));
    }
}
