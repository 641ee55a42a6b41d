//! Matching the names an LM writes (`firstName`, `First Name`, `Stadt`, `[[ ## ANSWER ## ]]`) to
//! the snake_case names a signature declares, without ever guessing between two candidates.

use heck::ToSnakeCase;

/// How a written name was matched to a declared one, from most to least exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Closeness {
    /// Spelt exactly as declared.
    Exact,
    /// The same words in another case or with other separators (`firstName`, `First Name`).
    Respelt,
    /// The same letters once separators are dropped (`fullname` for `full_name`).
    Squashed,
}

/// `name` in snake_case, lowercase, with surrounding quotes and markup dropped.
pub(crate) fn normalize(name: &str) -> String {
    let trimmed = name.trim().trim_matches(|c: char| {
        matches!(c, '"' | '\'' | '`' | '*' | '_' | '“' | '”' | '‘' | '’') || c.is_whitespace()
    });
    trimmed.to_snake_case().to_lowercase()
}

/// `name` normalized with its separators removed.
pub(crate) fn squash(name: &str) -> String {
    normalize(name).replace('_', "")
}

/// Which of `declared` the written `name` means, and how closely. `None` when it means none of
/// them, or when the closest level matches more than one (then it is not ours to choose).
pub(crate) fn find(name: &str, declared: &[&str]) -> Option<(usize, Closeness)> {
    if let Some(index) = declared.iter().position(|candidate| *candidate == name) {
        return Some((index, Closeness::Exact));
    }
    let normalized = normalize(name);
    if normalized.is_empty() {
        return None;
    }
    let respelt: Vec<usize> = positions(declared, |candidate| normalize(candidate) == normalized);
    match respelt.as_slice() {
        [index] => return Some((*index, Closeness::Respelt)),
        [] => {}
        _ => return None,
    }
    let squashed = normalized.replace('_', "");
    let squashed_matches = positions(declared, |candidate| squash(candidate) == squashed);
    match squashed_matches.as_slice() {
        [index] => Some((*index, Closeness::Squashed)),
        _ => None,
    }
}

fn positions(declared: &[&str], matches: impl Fn(&str) -> bool) -> Vec<usize> {
    declared
        .iter()
        .enumerate()
        .filter(|(_, candidate)| matches(candidate))
        .map(|(index, _)| index)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respellings_match_their_field() {
        let declared = ["first_name", "stadt", "postal_code", "prénom"];
        for (written, expected) in [
            ("first_name", Some((0, Closeness::Exact))),
            ("firstName", Some((0, Closeness::Respelt))),
            ("First Name", Some((0, Closeness::Respelt))),
            ("FIRST_NAME", Some((0, Closeness::Respelt))),
            ("first-name", Some((0, Closeness::Respelt))),
            ("firstname", Some((0, Closeness::Squashed))),
            ("Stadt", Some((1, Closeness::Respelt))),
            ("PostalCode", Some((2, Closeness::Respelt))),
            ("Prénom", Some((3, Closeness::Respelt))),
            ("name", None),
            ("", None),
        ] {
            assert_eq!(find(written, &declared), expected, "{written}");
        }
    }

    #[test]
    fn ambiguous_respellings_match_nothing() {
        assert_eq!(find("ab", &["a_b", "a__b"]), None);
        assert_eq!(find("AB", &["a_b", "ab"]), Some((1, Closeness::Respelt)));
    }
}
