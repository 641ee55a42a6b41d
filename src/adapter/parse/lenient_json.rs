//! A forgiving JSON reader for what LMs write when asked for JSON: trailing commas, single
//! quotes, unquoted keys, `//` and `/* */` comments, Python literals (`True`, `None`), missing
//! commas between members, and a reply cut off before its closing brackets. Every liberty it
//! takes is reported as a [`Slip`], so the caller can record it as a repair; what it cannot read
//! honestly (a value cut in the middle, `NaN`, `...`) it refuses or reports as cut.

use serde_json::{Map, Number, Value};

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 128;

/// One kind of liberty the reader took with the JSON grammar.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Slip {
    TrailingComma,
    SingleQuotes,
    TypographicQuotes,
    UnquotedKey,
    UnquotedValue,
    Comment,
    PythonLiteral,
    MissingComma,
    RawControlCharacter,
    LooseNumber,
    UnknownEscape,
    DuplicateKey(String),
    PythonTuple,
    /// A `}` closed an array, or a `]` an object.
    MismatchedBracket,
    /// The text ended before every bracket was closed; the reader closed them.
    Unclosed,
}

impl Slip {
    /// What the reader did, as a repair description.
    pub(crate) fn description(&self) -> String {
        match self {
            Slip::TrailingComma => "removed extra commas".to_owned(),
            Slip::SingleQuotes => "read single-quoted strings".to_owned(),
            Slip::TypographicQuotes => {
                "read typographic quotes (`“…”`) as string quotes".to_owned()
            }
            Slip::UnquotedKey => "read unquoted keys".to_owned(),
            Slip::UnquotedValue => "read unquoted words as strings".to_owned(),
            Slip::Comment => "removed comments".to_owned(),
            Slip::PythonLiteral => {
                "read Python literals (`True`, `False`, `None`) as JSON".to_owned()
            }
            Slip::MissingComma => "added missing commas between items".to_owned(),
            Slip::RawControlCharacter => "kept raw line breaks or tabs inside strings".to_owned(),
            Slip::LooseNumber => {
                "read numbers written with a leading `+` or `.`, or a trailing `.`".to_owned()
            }
            Slip::UnknownEscape => "kept unknown backslash escapes as written".to_owned(),
            Slip::DuplicateKey(key) => {
                format!("key `{key}` appears more than once; kept the first")
            }
            Slip::PythonTuple => "read Python tuples `(…)` as lists".to_owned(),
            Slip::MismatchedBracket => "added a closing bracket the JSON left out".to_owned(),
            Slip::Unclosed => "added the closing brackets missing at the end".to_owned(),
        }
    }
}

/// Which member of the outermost object or array a cut-off reply was in the middle of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Member {
    Key(String),
    Index(usize),
}

/// A value read from text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reading {
    pub value: Value,
    /// Byte offset just past the value (past the last character read, when it was unclosed).
    pub end: usize,
    /// Liberties taken, each kind once, in the order first taken.
    pub slips: Vec<Slip>,
    /// The text ended before the outermost value closed.
    pub unclosed: bool,
    /// When `unclosed`: the outermost member that may be incomplete (`None` when every member
    /// that was read ended with its own closing quote or bracket).
    pub cut_member: Option<Member>,
}

/// Why text could not be read as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub offset: usize,
    pub expected: &'static str,
}

enum Stop {
    /// The text ended inside a value.
    End,
    Syntax(SyntaxError),
}

type Step<T> = Result<T, Stop>;

/// Reads one JSON value starting at byte `start` of `text` (leading whitespace and comments
/// are skipped). Text after the value is left alone; see [`Reading::end`].
pub(crate) fn read(text: &str, start: usize) -> Result<Reading, SyntaxError> {
    let mut reader = Reader {
        text,
        position: start,
        slips: Vec::new(),
        unclosed: false,
        cut_member: None,
        outer_member: None,
        outer_member_complete: true,
        last_self_delimited: false,
    };
    reader.skip_blank();
    if reader.peek().is_none() {
        return Err(reader.error("a value"));
    }
    match reader.value(0) {
        Ok(value) => Ok(Reading {
            value,
            end: reader.position,
            slips: reader.slips,
            unclosed: reader.unclosed,
            cut_member: reader.cut_member,
        }),
        Err(Stop::End) => Err(SyntaxError {
            offset: text.len(),
            expected: "the rest of the value",
        }),
        Err(Stop::Syntax(error)) => Err(error),
    }
}

/// Reads `text` as exactly one JSON value, with nothing but whitespace and comments around it.
pub(crate) fn read_whole(text: &str) -> Result<Reading, SyntaxError> {
    let reading = read(text, 0)?;
    let mut rest = Reader {
        text,
        position: reading.end,
        slips: Vec::new(),
        unclosed: false,
        cut_member: None,
        outer_member: None,
        outer_member_complete: true,
        last_self_delimited: false,
    };
    rest.skip_blank();
    if rest.position < text.len() {
        return Err(rest.error("the end of the value"));
    }
    let mut reading = reading;
    for slip in rest.slips {
        if !reading.slips.contains(&slip) {
            reading.slips.push(slip);
        }
    }
    Ok(reading)
}

/// A JSON object found inside longer text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Found {
    pub reading: Reading,
    /// Byte offset of the object's `{`.
    pub start: usize,
}

/// The first `{` in `text` (after `from`) that begins a readable object. Tries a bounded number
/// of candidates so that text full of braces cannot make this quadratic without limit.
pub(crate) fn find_object(text: &str, from: usize) -> Option<Found> {
    const MAX_ATTEMPTS: usize = 32;
    let mut attempts = 0;
    let mut search_from = from;
    while let Some(offset) = text.get(search_from..).and_then(|rest| rest.find('{')) {
        let start = search_from + offset;
        if let Ok(reading) = read(text, start) {
            if reading.value.is_object() {
                return Some(Found { reading, start });
            }
        }
        attempts += 1;
        if attempts >= MAX_ATTEMPTS {
            return None;
        }
        search_from = start + 1;
    }
    None
}

struct Reader<'a> {
    text: &'a str,
    position: usize,
    slips: Vec<Slip>,
    unclosed: bool,
    cut_member: Option<Member>,
    /// The member of the outermost container being read.
    outer_member: Option<Member>,
    /// Whether that member's value ended with its own delimiter.
    outer_member_complete: bool,
    /// Whether the value just read ended with its own delimiter (quote, bracket, literal word).
    last_self_delimited: bool,
}

impl Reader<'_> {
    fn peek(&self) -> Option<char> {
        self.text
            .get(self.position..)
            .and_then(|rest| rest.chars().next())
    }

    fn peek_second(&self) -> Option<char> {
        let mut chars = self.text.get(self.position..)?.chars();
        chars.next();
        chars.next()
    }

    fn bump(&mut self) -> Option<char> {
        let next = self.peek()?;
        self.position += next.len_utf8();
        Some(next)
    }

    fn slip(&mut self, slip: Slip) {
        if !self.slips.contains(&slip) {
            self.slips.push(slip);
        }
    }

    fn error(&self, expected: &'static str) -> SyntaxError {
        SyntaxError {
            offset: self.position,
            expected,
        }
    }

    fn fail<T>(&self, expected: &'static str) -> Step<T> {
        Err(Stop::Syntax(self.error(expected)))
    }

    /// Skips whitespace and comments.
    fn skip_blank(&mut self) {
        loop {
            match (self.peek(), self.peek_second()) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    self.slip(Slip::Comment);
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                (Some('/'), Some('*')) => {
                    self.slip(Slip::Comment);
                    self.position += 2;
                    match self.text.get(self.position..).and_then(|r| r.find("*/")) {
                        Some(offset) => self.position += offset + 2,
                        None => self.position = self.text.len(),
                    }
                }
                _ => return,
            }
        }
    }

    fn value(&mut self, depth: usize) -> Step<Value> {
        if depth > MAX_DEPTH {
            return self.fail("less deeply nested values");
        }
        let Some(next) = self.peek() else {
            return Err(Stop::End);
        };
        match next {
            '{' => self.object(depth),
            '[' => self.array(depth, ']'),
            '(' => {
                self.slip(Slip::PythonTuple);
                self.array(depth, ')')
            }
            '"' | '\'' | '“' | '‘' => {
                let text = self.string()?;
                self.last_self_delimited = true;
                Ok(Value::String(text))
            }
            c if c.is_ascii_digit() || matches!(c, '-' | '+' | '.') => self.number_or_word(),
            c if c.is_alphabetic() || c == '_' => self.word(),
            _ => self.fail("a value"),
        }
    }

    /// At the end of the text inside a container: closes the outermost one, or stops.
    fn ended_inside(&mut self, depth: usize) -> Step<()> {
        if depth > 0 {
            return Err(Stop::End);
        }
        self.unclosed = true;
        self.slip(Slip::Unclosed);
        if !self.outer_member_complete {
            self.cut_member = self.outer_member.clone();
        }
        Ok(())
    }

    fn start_member(&mut self, depth: usize, member: Member) {
        if depth == 0 {
            self.outer_member = Some(member);
            self.outer_member_complete = false;
        }
    }

    fn end_member(&mut self, depth: usize) {
        if depth == 0 {
            self.outer_member_complete = self.last_self_delimited;
        }
    }

    fn object(&mut self, depth: usize) -> Step<Value> {
        self.bump();
        let mut map = Map::new();
        let mut expecting_member = true;
        loop {
            self.skip_blank();
            let Some(next) = self.peek() else {
                self.ended_inside(depth)?;
                self.last_self_delimited = false;
                return Ok(Value::Object(map));
            };
            match next {
                ']' | ')' if depth > 0 => {
                    self.slip(Slip::MismatchedBracket);
                    self.last_self_delimited = true;
                    return Ok(Value::Object(map));
                }
                '}' => {
                    self.bump();
                    if expecting_member && !map.is_empty() {
                        self.slip(Slip::TrailingComma);
                    }
                    self.last_self_delimited = true;
                    return Ok(Value::Object(map));
                }
                ',' => {
                    self.bump();
                    if expecting_member {
                        self.slip(Slip::TrailingComma);
                    }
                    expecting_member = true;
                    continue;
                }
                _ if !expecting_member => {
                    if self.starts_key() {
                        self.slip(Slip::MissingComma);
                    } else {
                        return self.fail("`,` or `}`");
                    }
                }
                _ => {}
            }
            self.start_member(depth, Member::Key(String::new()));
            let key = match self.key() {
                Ok(key) => key,
                Err(Stop::End) => {
                    self.ended_inside(depth)?;
                    return Ok(Value::Object(map));
                }
                Err(stop) => return Err(stop),
            };
            self.start_member(depth, Member::Key(key.clone()));
            self.skip_blank();
            match self.peek() {
                None => {
                    self.ended_inside(depth)?;
                    return Ok(Value::Object(map));
                }
                Some(':') => {
                    self.bump();
                }
                Some(_) => return self.fail("`:` after a key"),
            }
            self.skip_blank();
            let value = match self.value(depth + 1) {
                Ok(value) => value,
                Err(Stop::End) => {
                    self.ended_inside(depth)?;
                    return Ok(Value::Object(map));
                }
                Err(stop) => return Err(stop),
            };
            self.end_member(depth);
            if map.contains_key(&key) {
                self.slip(Slip::DuplicateKey(key));
            } else {
                map.insert(key, value);
            }
            expecting_member = false;
        }
    }

    fn array(&mut self, depth: usize, closing: char) -> Step<Value> {
        self.bump();
        let mut items = Vec::new();
        let mut expecting_item = true;
        loop {
            self.skip_blank();
            let Some(next) = self.peek() else {
                self.ended_inside(depth)?;
                self.last_self_delimited = false;
                return Ok(Value::Array(items));
            };
            match next {
                '}' if depth > 0 => {
                    // `["a"}`: the array's `]` is missing; the `}` is the enclosing object's.
                    self.slip(Slip::MismatchedBracket);
                    self.last_self_delimited = true;
                    return Ok(Value::Array(items));
                }
                c if c == closing => {
                    self.bump();
                    if expecting_item && !items.is_empty() {
                        self.slip(Slip::TrailingComma);
                    }
                    self.last_self_delimited = true;
                    return Ok(Value::Array(items));
                }
                ',' => {
                    self.bump();
                    if expecting_item {
                        self.slip(Slip::TrailingComma);
                    }
                    expecting_item = true;
                    continue;
                }
                _ if !expecting_item => {
                    if matches!(next, '"' | '\'' | '{' | '[' | '“' | '‘') {
                        self.slip(Slip::MissingComma);
                    } else {
                        return self.fail("`,` or the end of the list");
                    }
                }
                _ => {}
            }
            self.start_member(depth, Member::Index(items.len()));
            let item = match self.value(depth + 1) {
                Ok(item) => item,
                Err(Stop::End) => {
                    self.ended_inside(depth)?;
                    return Ok(Value::Array(items));
                }
                Err(stop) => return Err(stop),
            };
            self.end_member(depth);
            items.push(item);
            expecting_item = false;
        }
    }

    fn starts_key(&self) -> bool {
        self.peek()
            .is_some_and(|c| matches!(c, '"' | '\'' | '“' | '‘') || is_word_character(c))
    }

    fn key(&mut self) -> Step<String> {
        match self.peek() {
            Some('"' | '\'' | '“' | '‘') => self.string(),
            Some(c) if is_word_character(c) => {
                let start = self.position;
                while self.peek().is_some_and(is_word_character) {
                    self.bump();
                }
                self.slip(Slip::UnquotedKey);
                Ok(self.text[start..self.position].to_owned())
            }
            Some(_) => self.fail("a key"),
            None => Err(Stop::End),
        }
    }

    fn string(&mut self) -> Step<String> {
        let Some(opening) = self.bump() else {
            return Err(Stop::End);
        };
        let closing = match opening {
            '\'' => {
                self.slip(Slip::SingleQuotes);
                '\''
            }
            '“' => {
                self.slip(Slip::TypographicQuotes);
                '”'
            }
            '‘' => {
                self.slip(Slip::TypographicQuotes);
                '’'
            }
            _ => '"',
        };
        let mut text = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(Stop::End);
            };
            match c {
                c if c == closing => return Ok(text),
                '\\' => self.escape(&mut text)?,
                '\n' | '\r' | '\t' => {
                    self.slip(Slip::RawControlCharacter);
                    text.push(c);
                }
                c => text.push(c),
            }
        }
    }

    fn escape(&mut self, text: &mut String) -> Step<()> {
        let Some(c) = self.bump() else {
            return Err(Stop::End);
        };
        match c {
            '"' | '\\' | '/' | '\'' => text.push(c),
            'n' => text.push('\n'),
            't' => text.push('\t'),
            'r' => text.push('\r'),
            'b' => text.push('\u{8}'),
            'f' => text.push('\u{c}'),
            'u' => {
                let first = self.hex4()?;
                let scalar = if (0xD800..0xDC00).contains(&first) {
                    if self
                        .text
                        .get(self.position..)
                        .is_some_and(|r| r.starts_with("\\u"))
                    {
                        self.position += 2;
                        let second = self.hex4()?;
                        if (0xDC00..0xE000).contains(&second) {
                            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                        } else {
                            0xFFFD
                        }
                    } else {
                        0xFFFD
                    }
                } else {
                    first
                };
                text.push(char::from_u32(scalar).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            other => {
                self.slip(Slip::UnknownEscape);
                text.push('\\');
                text.push(other);
            }
        }
        Ok(())
    }

    fn hex4(&mut self) -> Step<u32> {
        let Some(digits) = self.text.get(self.position..self.position + 4) else {
            if self.text.len() - self.position < 4 {
                return Err(Stop::End);
            }
            return self.fail("four hex digits after `\\u`");
        };
        match u32::from_str_radix(digits, 16) {
            Ok(value) if digits.chars().all(|c| c.is_ascii_hexdigit()) => {
                self.position += 4;
                Ok(value)
            }
            _ => self.fail("four hex digits after `\\u`"),
        }
    }

    fn number_or_word(&mut self) -> Step<Value> {
        let start = self.position;
        let mut loose = false;
        if self.peek() == Some('+') {
            loose = true;
            self.bump();
        } else if self.peek() == Some('-') {
            self.bump();
        }
        let integer_digits = self.digits();
        let mut fraction_digits = 0;
        let mut fractional = false;
        if self.peek() == Some('.') && self.peek_second() != Some('.') {
            self.bump();
            fractional = true;
            fraction_digits = self.digits();
        }
        if integer_digits == 0 && fraction_digits == 0 {
            if self.peek().is_some_and(char::is_alphabetic) {
                // `-Infinity`, `+inf`, `.nan`: not numbers JSON can carry.
                return self.fail("a finite number");
            }
            return self.fail("a value");
        }
        if fractional && (integer_digits == 0 || fraction_digits == 0) {
            loose = true;
        }
        let mut exponent = false;
        if matches!(self.peek(), Some('e' | 'E')) {
            let before_exponent = self.position;
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            if self.digits() == 0 {
                self.position = before_exponent;
            } else {
                exponent = true;
            }
        }
        if self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            // `12px`, `3rd`: a word that starts with digits.
            self.position = start;
            return self.bare_text();
        }
        let written = &self.text[start..self.position];
        let plain = written.trim_start_matches('+');
        self.last_self_delimited = false;
        if loose {
            self.slip(Slip::LooseNumber);
        }
        if !fractional && !exponent {
            if let Ok(integer) = plain.parse::<i64>() {
                return Ok(Value::from(integer));
            }
            if let Ok(integer) = plain.parse::<u64>() {
                return Ok(Value::from(integer));
            }
        }
        let normalized = plain.replace(".e", ".0e").replace(".E", ".0E");
        let normalized = normalized.strip_suffix('.').unwrap_or(&normalized);
        match normalized.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(number) => Ok(Value::Number(number)),
            None => self.fail("a finite number"),
        }
    }

    fn digits(&mut self) -> usize {
        let mut count = 0;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            count += 1;
        }
        count
    }

    /// `true`, `None`, or an unquoted word used as a string value.
    fn word(&mut self) -> Step<Value> {
        let start = self.position;
        while self.peek().is_some_and(is_word_character) {
            self.bump();
        }
        let word = &self.text[start..self.position];
        let literal = match word {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            "null" => Some(Value::Null),
            "True" | "False" | "None" => None,
            "NaN" | "Infinity" | "inf" | "nan" => return self.fail("a finite number"),
            _ => {
                self.position = start;
                return self.bare_text();
            }
        };
        self.last_self_delimited = true;
        if let Some(literal) = literal {
            return Ok(literal);
        }
        self.slip(Slip::PythonLiteral);
        Ok(match word {
            "True" => Value::Bool(true),
            "False" => Value::Bool(false),
            _ => Value::Null,
        })
    }

    /// Unquoted text up to the next `,`, `}`, `]` or line break, read as a string.
    fn bare_text(&mut self) -> Step<Value> {
        let start = self.position;
        while let Some(c) = self.peek() {
            if matches!(c, ',' | '}' | ']' | '\n' | '\r' | ':' | '"' | '{' | '[') {
                break;
            }
            if c == '/' && matches!(self.peek_second(), Some('/' | '*')) {
                break;
            }
            self.bump();
        }
        let text = self.text[start..self.position].trim_end();
        if self.peek() == Some(':') {
            return self.fail("a quoted string");
        }
        self.slip(Slip::UnquotedValue);
        self.last_self_delimited = false;
        Ok(Value::String(text.to_owned()))
    }
}

fn is_word_character(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '$')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn whole(text: &str) -> (Value, Vec<Slip>) {
        let reading = read_whole(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
        (reading.value, reading.slips)
    }

    #[test]
    fn strict_json_takes_no_liberties() {
        let (value, slips) =
            whole(r#" {"a": [1, 2.5, -3e2, "x\n\u00e9\ud83d\ude00"], "b": null} "#);
        assert_eq!(value, json!({"a": [1, 2.5, -300.0, "x\né😀"], "b": null}));
        assert!(slips.is_empty());
    }

    #[test]
    fn common_slips_are_read_and_reported() {
        let (value, slips) = whole(
            "{\n  // the answer\n  answer: 'Paris', /* note */\n  \"ok\": True,\n  \"none\": None,\n  \"n\": +.5,\n}",
        );
        assert_eq!(
            value,
            json!({"answer": "Paris", "ok": true, "none": null, "n": 0.5})
        );
        for slip in [
            Slip::Comment,
            Slip::UnquotedKey,
            Slip::SingleQuotes,
            Slip::PythonLiteral,
            Slip::LooseNumber,
            Slip::TrailingComma,
        ] {
            assert!(slips.contains(&slip), "{slip:?} in {slips:?}");
        }
    }

    #[test]
    fn tuples_and_mismatched_brackets() {
        let (value, slips) = whole("{\"a\": (1, 2), \"b\": [\"x\"}");
        assert_eq!(value, json!({"a": [1, 2], "b": ["x"]}));
        assert!(slips.contains(&Slip::PythonTuple));
        assert!(slips.contains(&Slip::MismatchedBracket));
        assert!(read_whole("[\"x\"}").is_err());
    }

    #[test]
    fn missing_commas_between_members() {
        let (value, slips) = whole("{\"a\": 1\n\"b\": [\"x\" \"y\"]}");
        assert_eq!(value, json!({"a": 1, "b": ["x", "y"]}));
        assert!(slips.contains(&Slip::MissingComma));
    }

    #[test]
    fn cut_replies_name_the_member_that_may_be_incomplete() {
        let reading = read(r#"{"answer": "Paris", "confidence": 0.9"#, 0).expect("readable");
        assert!(reading.unclosed);
        assert_eq!(reading.cut_member, Some(Member::Key("confidence".into())));

        let reading = read(r#"{"answer": "Paris", "sources": ["a", "b"#, 0).expect("readable");
        assert_eq!(reading.cut_member, Some(Member::Key("sources".into())));
        assert_eq!(reading.value, json!({"answer": "Paris"}));

        let reading = read(r#"{"answer": "Paris", "ok": true"#, 0).expect("readable");
        assert!(reading.unclosed);
        assert_eq!(reading.cut_member, None);

        let reading = read(r#"["a", "b""#, 0).expect("readable");
        assert!(reading.unclosed);
        assert_eq!(reading.cut_member, None);
    }

    #[test]
    fn refuses_what_json_cannot_carry() {
        assert!(read_whole("[1, 2, ...]").is_err());
        assert!(read_whole("NaN").is_err());
        assert!(read_whole("{\"a\": -Infinity}").is_err());
        assert!(read_whole("\"cut").is_err());
        assert_eq!(whole(r#""\ud800\u0041""#).0, json!("\u{FFFD}"));
        assert!(read_whole("[1] first").is_err());
        assert!(read_whole(&"[".repeat(10_000)).is_err());
    }

    #[test]
    fn finds_an_object_inside_prose() {
        let text = "Here is {not json} the answer: {\"a\": 1} and more.";
        let found = find_object(text, 0).expect("found");
        assert_eq!(found.reading.value, json!({"a": 1}));
        assert_eq!(&text[found.start..found.reading.end], "{\"a\": 1}");
    }
}
