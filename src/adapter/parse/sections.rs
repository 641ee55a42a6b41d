//! Splitting a chat-format reply into its `[[ ## field ## ]]` sections. DSPy only sees a header
//! at the start of a line, written exactly; this also finds headers in the middle of a line and
//! written with other spacing, case or number of `#` (`[[## Answer ##]]`, `[[ # answer # ]]`).

use std::sync::LazyLock;

use regex::Regex;

/// A header: `[[`, one to three `#`, a name, one to three `#`, `]]`, with any spacing.
static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern, compiled by every test that splits a reply.
    Regex::new(r"\[\[[ \t]*#{1,3}[ \t]*([^\[\]#\n]*?)[ \t]*#{1,3}[ \t]*\]\]")
        .expect("the header pattern compiles")
});

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
    let headers: Vec<(usize, usize, &str)> = HEADER
        .captures_iter(reply)
        .filter_map(|captures| {
            let whole = captures.get(0)?;
            let name = captures.get(1)?.as_str().trim();
            (!name.is_empty()).then_some((whole.start(), whole.end(), name))
        })
        .collect();
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
