//! Fuzzes the parser alone on UTF-8 text: it must never panic, and every diagnostic span must
//! lie inside the source on character boundaries (the renderer slices the source with it).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|source: &str| {
    let parsed = dspex::syntax::parse(source);
    for diagnostic in &parsed.diagnostics {
        let span = diagnostic.span;
        assert!(
            span.start <= span.end && span.end <= source.len(),
            "span {span:?} out of bounds ({} bytes): {diagnostic:#?}",
            source.len()
        );
        assert!(
            source.is_char_boundary(span.start) && source.is_char_boundary(span.end),
            "span {span:?} splits a character: {diagnostic:#?}"
        );
    }
});
