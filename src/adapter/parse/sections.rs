//! Splitting a chat-format reply into its `[[ ## field ## ]]` sections. DSPy only sees a header
//! at the start of a line, written exactly; this also finds headers in the middle of a line and
//! written with other spacing, case or number of `#` (`[[## Answer ##]]`, `[[ # answer # ]]`).

/// Characters a header's name may contain.
fn is_name_char(c: u8) -> bool {
    !matches!(c, b'[' | b']' | b'#' | b'\n')
}

/// The header starting at `start` (which holds `[[`): `[[`, spaces or tabs, one to three `#`, a
/// name, one to three `#`, spaces or tabs, `]]`. Returns where it ends and where its name
/// starts and ends, untrimmed; a name that trims to nothing (`[[ ## ]]`) marks a header to
/// skip, not to split at.
///
/// This is the regular expression `\[\[[ \t]*#{1,3}[ \t]*([^\[\]#\n]*?)[ \t]*#{1,3}[ \t]*\]\]`
/// written out by hand: the name cannot hold `#`, so both runs of `#` are whole runs, and the
/// regex crate's backtracking engine took a third of the parser's time.
fn header_at(reply: &[u8], start: usize) -> Option<(usize, usize, usize)> {
    let run =
        |from: usize, test: fn(u8) -> bool| reply[from..].iter().take_while(|&&c| test(c)).count();
    let mut at = start + 2;
    at += run(at, |c| c == b' ' || c == b'\t');
    let opening = run(at, |c| c == b'#');
    at += opening;
    let name = run(at, is_name_char);
    let (name_start, name_end) = (at, at + name);
    at += name;
    let closing = run(at, |c| c == b'#');
    at += closing;
    let hashes_fit = if name == 0 {
        // `[[####]]`: one run, split between the opening and the closing `#`s.
        (2..=6).contains(&opening)
    } else {
        (1..=3).contains(&opening) && (1..=3).contains(&closing)
    };
    at += run(at, |c| c == b' ' || c == b'\t');
    (hashes_fit && reply[at..].starts_with(b"]]")).then_some((at + 2, name_start, name_end))
}

/// One section of a reply: a header and the text up to the next header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section<'a> {
    /// The name as written in the header (`Answer`, `final_answer`).
    pub name: &'a str,
    /// The whole header as written (`[[## Answer ##]]`).
    pub header: &'a str,
    /// The text after the header, trimmed.
    pub content: &'a str,
    /// Whether only whitespace precedes the header on its line (where DSPy looks for headers).
    pub starts_line: bool,
}

/// A reply split at its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sections<'a> {
    /// Text before the first header, trimmed.
    pub preamble: &'a str,
    pub sections: Vec<Section<'a>>,
}

/// Splits `reply` at every header.
pub(crate) fn split(reply: &str) -> Sections<'_> {
    let bytes = reply.as_bytes();
    let mut headers: Vec<(usize, usize, &str)> = Vec::new();
    let mut from = 0;
    while let Some(offset) = reply[from..].find("[[") {
        let start = from + offset;
        match header_at(bytes, start) {
            Some((end, name_start, name_end)) => {
                // Both ends sit next to ASCII characters, so they are character boundaries.
                let name = reply[name_start..name_end].trim();
                if !name.is_empty() {
                    headers.push((start, end, name));
                }
                from = end;
            }
            None => from = start + 1,
        }
    }
    let preamble_end = headers.first().map_or(reply.len(), |(start, _, _)| *start);
    let sections = headers
        .iter()
        .enumerate()
        .map(|(index, (start, end, name))| {
            let content_end = headers
                .get(index + 1)
                .map_or(reply.len(), |(next, _, _)| *next);
            let line_start = reply[..*start].rfind('\n').map_or(0, |newline| newline + 1);
            Section {
                name,
                header: &reply[*start..*end],
                content: reply[*end..content_end].trim(),
                starts_line: reply[line_start..*start].trim().is_empty(),
            }
        })
        .collect();
    Sections {
        preamble: reply[..preamble_end].trim(),
        sections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The headers `split` finds, as the regular expression it replaces finds them.
    fn headers_by_regex(reply: &str) -> Vec<(usize, usize, &str)> {
        let header =
            regex::Regex::new(r"\[\[[ \t]*#{1,3}[ \t]*([^\[\]#\n]*?)[ \t]*#{1,3}[ \t]*\]\]")
                .expect("the pattern compiles");
        header
            .captures_iter(reply)
            .filter_map(|captures| {
                let whole = captures.get(0)?;
                let name = captures.get(1)?.as_str().trim();
                (!name.is_empty()).then_some((whole.start(), whole.end(), name))
            })
            .collect()
    }

    #[test]
    fn the_scanner_finds_what_the_regex_found() {
        let alphabet = [
            "[", "]", "#", " ", "\t", "\n", "a", "B", "é", "[[", "]]", "##", "###",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        for _ in 0..50_000 {
            let length = next(24);
            let reply: String = (0..length)
                .map(|_| alphabet[next(alphabet.len())])
                .collect();
            let found: Vec<(usize, usize, &str)> = split(&reply)
                .sections
                .iter()
                .map(|section| {
                    let start = section.header.as_ptr() as usize - reply.as_ptr() as usize;
                    (start, start + section.header.len(), section.name)
                })
                .collect();
            assert_eq!(found, headers_by_regex(&reply), "{reply:?}");
        }
    }

    #[test]
    fn headers_in_any_spacing_and_position() {
        let split = split(
            "Sure!\n[[ ## answer ## ]]\nParis\n\n[[## Confidence ##]] 0.9 [[ ## completed ## ]]",
        );
        assert_eq!(split.preamble, "Sure!");
        let found: Vec<(&str, &str)> = split.sections.iter().map(|s| (s.name, s.content)).collect();
        assert_eq!(
            found,
            [
                ("answer", "Paris"),
                ("Confidence", "0.9"),
                ("completed", "")
            ]
        );
    }

    #[test]
    fn text_without_headers_is_all_preamble() {
        let split = split("I cannot help with that. [[ ]] [[ ## ## ]]");
        assert!(split.sections.is_empty());
    }
}
