//! Fuzzes the whole front end as `dspex check` and `dspex fmt` drive it: arbitrary bytes through
//! `dspex::compile` (decode, parse, check) and every diagnostic rendered for a person and as
//! JSON must never panic, hang or grow without bound. For UTF-8 input the formatter runs too;
//! when it succeeds, its output must have no syntax errors, keep the file's errors-or-not
//! verdict, and format to itself (idempotence).

#![no_main]

use std::path::Path;

use dspex::report::{self, LineIndex, Style};
use libfuzzer_sys::fuzz_target;

const PATH: &str = "fuzz_input.sig";

fuzz_target!(|bytes: &[u8]| {
    let mut compiled = dspex::compile(bytes, Path::new(PATH));
    // As `dspex check` shows it: the lossy text, with the invalid byte's span on U+FFFD.
    let text = String::from_utf8_lossy(bytes);
    for diagnostic in &mut compiled.diagnostics {
        if diagnostic.code == "E0104" {
            diagnostic.span.end = diagnostic.span.start + char::REPLACEMENT_CHARACTER.len_utf8();
        }
    }
    let index = LineIndex::new(&text);
    for diagnostic in &compiled.diagnostics {
        report::render(diagnostic, PATH, &text, Style::plain());
        report::to_json(diagnostic, PATH, &index);
    }
    let Ok(source) = std::str::from_utf8(bytes) else {
        assert!(
            compiled.has_errors(),
            "invalid UTF-8 compiled without an error"
        );
        return;
    };
    let Ok(formatted) = dspex::syntax::format::format(source) else {
        return;
    };
    let reparsed = dspex::syntax::parse(&formatted);
    assert!(
        reparsed.diagnostics.is_empty(),
        "formatting introduced syntax errors\n--- input ---\n{source}\n--- formatted ---\n{formatted}\n--- diagnostics ---\n{:#?}",
        reparsed.diagnostics
    );
    let recompiled = dspex::compile(formatted.as_bytes(), Path::new(PATH));
    assert_eq!(
        compiled.has_errors(),
        recompiled.has_errors(),
        "formatting changed whether the file has errors\n--- input ---\n{source}\n--- formatted ---\n{formatted}\n--- before ---\n{:#?}\n--- after ---\n{:#?}",
        compiled.diagnostics,
        recompiled.diagnostics
    );
    match dspex::syntax::format::format(&formatted) {
        Ok(again) => assert_eq!(
            formatted, again,
            "format is not idempotent\n--- input ---\n{source}\n--- first ---\n{formatted}\n--- second ---\n{again}"
        ),
        Err(diagnostics) => panic!(
            "formatted output does not format again\n--- input ---\n{source}\n--- formatted ---\n{formatted}\n--- diagnostics ---\n{diagnostics:#?}"
        ),
    }
});
